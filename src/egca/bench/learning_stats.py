"""What ``egca bench learning`` reports from its run records: per-scheme summaries, differences to
GRPO (``uniform``) paired by seed with percentile-bootstrap 95% confidence intervals, a Markdown
table and learning curves.

A run record (one per (scheme, seed), ``record.json`` in its run directory) holds ``scheme``,
``seed``, ``before`` / ``after`` (held-out greedy pass@1 of the starting and the trained policy),
``after_logic_share`` (share of the trained policy's held-out failures that ran and returned a wrong
answer), ``curve`` (training pass rate per step), ``span_share`` and ``analysis_share`` (None
for schemes without analysis) and ``logic_share_train``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

BASELINE = "uniform"
GAIN_POINTS = 0.10  # "steps to +10 points"
SMOOTH = 5  # trailing window of the training pass-rate curve for steps-to-gain


def bootstrap_ci(
    values: Sequence[float], level: float = 0.95, resamples: int = 10_000, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``values`` (resampling with replacement)."""
    x = np.asarray(values, dtype=np.float64)
    if x.size == 0:
        raise ValueError("bootstrap_ci needs at least one value")
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, x.size, size=(resamples, x.size))].mean(axis=1)
    tail = (1 - level) / 2
    lo, hi = np.quantile(means, [tail, 1 - tail], method="inverted_cdf")
    return float(lo), float(hi)


def auc(curve: Sequence[float]) -> float:
    """Area under the training pass-rate curve per step: the mean pass rate over the steps."""
    return float(np.mean(curve)) if len(curve) else float("nan")


def steps_to_gain(curve: Sequence[float], gain: float = GAIN_POINTS, window: int = SMOOTH) -> int | None:
    """The first step (1-based) at which the trailing mean of the last ``window`` steps' pass rates
    is at least ``gain`` above the first step's pass rate; None if it never is."""
    if not curve:
        return None
    start = curve[0]
    for i in range(len(curve)):
        recent = curve[max(0, i - window + 1) : i + 1]
        if sum(recent) / len(recent) >= start + gain - 1e-12:
            return i + 1
    return None


def _mean(values: Sequence[float | None]) -> float | None:
    kept = [v for v in values if v is not None]
    return float(np.mean(kept)) if kept else None


def summarize(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Per scheme: means over seeds; and per non-baseline scheme: paired differences to ``uniform``."""
    by_scheme: dict[str, dict[int, dict[str, Any]]] = {}
    for r in records:
        by_scheme.setdefault(r["scheme"], {})[int(r["seed"])] = r
    schemes: dict[str, Any] = {}
    for name, runs in by_scheme.items():
        rs = [runs[s] for s in sorted(runs)]
        reached = [steps_to_gain(r["curve"]) for r in rs]
        schemes[name] = {
            "seeds": sorted(runs),
            "before": _mean([r["before"] for r in rs]),
            "after": _mean([r["after"] for r in rs]),
            "auc": _mean([auc(r["curve"]) for r in rs]),
            "steps_to_gain": _mean([s for s in reached if s is not None]),
            "reached_gain": sum(s is not None for s in reached) / len(rs),
            "after_logic_share": _mean([r.get("after_logic_share") for r in rs]),
            "logic_share_train": _mean([r.get("logic_share_train") for r in rs]),
            "span_share": _mean([r.get("span_share") for r in rs]),
            "analysis_share": _mean([r.get("analysis_share") for r in rs]),
        }
    base = by_scheme.get(BASELINE, {})
    for name, runs in by_scheme.items():
        if name == BASELINE or not base:
            continue
        seeds = sorted(set(runs) & set(base))
        if not seeds:
            continue
        paired = {
            "after": [runs[s]["after"] - base[s]["after"] for s in seeds],
            "auc": [auc(runs[s]["curve"]) - auc(base[s]["curve"]) for s in seeds],
        }
        schemes[name]["vs_uniform"] = {
            key: {"mean": float(np.mean(d)), "ci95": bootstrap_ci(d), "n": len(d)}
            for key, d in paired.items()
        }
    return {"schemes": schemes, "baseline": BASELINE}


def _pct(x: float | None, signed: bool = False) -> str:
    if x is None:
        return "–"
    return f"{100 * x:+.1f}" if signed else f"{100 * x:.1f}"


def table(summary: dict[str, Any]) -> list[str]:
    """A Markdown table: one row per scheme (percentages; differences in points)."""
    head = (
        "| scheme | seeds | held-out pass@1 before | after | Δ after vs GRPO [95% CI] | train AUC | "
        "Δ AUC vs GRPO [95% CI] | steps to +10 (reached) | logic share of failures | span share | analysis share |"
    )
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for name, s in summary["schemes"].items():
        vs = s.get("vs_uniform", {})

        def diff(key: str, vs: dict[str, Any] = vs) -> str:
            if key not in vs:
                return "–"
            lo, hi = vs[key]["ci95"]
            return f"{_pct(vs[key]['mean'], True)} [{_pct(lo, True)}, {_pct(hi, True)}]"

        steps = "–" if s["steps_to_gain"] is None else f"{s['steps_to_gain']:.1f}"
        lines.append(
            f"| {name} | {len(s['seeds'])} | {_pct(s['before'])} | {_pct(s['after'])} | {diff('after')} | "
            f"{_pct(s['auc'])} | {diff('auc')} | {steps} ({100 * s['reached_gain']:.0f}%) | "
            f"{_pct(s['after_logic_share'])} | {_pct(s['span_share'])} | {_pct(s['analysis_share'])} |"
        )
    return lines


def plot_curves(records: Sequence[dict[str, Any]], path: str) -> bool:
    """Training pass rate per step, mean over seeds with a bootstrap 95% band, one line per
    scheme, saved as an image; False when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    by_scheme: dict[str, list[list[float]]] = {}
    for r in records:
        by_scheme.setdefault(r["scheme"], []).append(list(r["curve"]))
    fig, ax = plt.subplots(figsize=(7, 4))
    for name, curves in by_scheme.items():
        n = min(len(c) for c in curves)
        if n == 0:
            continue
        steps = np.arange(1, n + 1)
        mean = np.array([np.mean([c[i] for c in curves]) for i in range(n)])
        band = np.array([bootstrap_ci([c[i] for c in curves], resamples=1000) for i in range(n)])
        ax.plot(steps, mean, label=name)
        ax.fill_between(steps, band[:, 0], band[:, 1], alpha=0.15)
    ax.set_xlabel("training step")
    ax.set_ylabel("training pass rate")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True
