"""Scoring of a localization suite: coverage, precision, top-line accuracy with 95% intervals.

A prediction is a span of candidate lines or an abstention. ``hit`` is the probability that the
prediction contains a fix line: 1 or 0 for a single span, a fraction for baselines defined as an
expectation (a random executed line, Ochiai's tied top lines). On the single-location cases:
coverage = predictions / cases, precision = hits / predictions, top-line accuracy = hits / cases
(Wilson intervals); median span in statements (bootstrap interval); median / p95 time per case.
Cases labelled ``multi`` or ``algorithm`` are reported apart: their abstention rate, and how often a
prediction touches a fix line.
"""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

Z95 = 1.959963984540054


@dataclass(frozen=True)
class Outcome:
    """One method's answer on one case."""

    case_id: str
    bug_kind: str
    label: str
    predicted: bool  # False: abstained
    hit: float  # P(span contains a fix line), 0 when abstained
    span_statements: int | None = None  # statements the span covers (None: abstained)
    time_s: float | None = None


def wilson(successes: float, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a proportion (``successes`` may be an expected, fractional count)."""
    if n <= 0:
        return (0.0, 1.0)
    p = successes / n
    denom = 1 + z * z / n
    center = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, center - half), min(1.0, center + half))


def bootstrap_median(values: Sequence[float], seed: int = 0, rounds: int = 2000) -> tuple[float, float]:
    """Percentile bootstrap 95% interval of the median (seeded)."""
    if not values:
        return (math.nan, math.nan)
    rng = random.Random(seed)
    xs = list(values)
    meds = sorted(statistics.median(rng.choices(xs, k=len(xs))) for _ in range(rounds))
    return (meds[int(0.025 * (rounds - 1))], meds[int(0.975 * (rounds - 1))])


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-quantile by the nearest-rank rule (``q`` in [0, 1])."""
    if not values:
        return math.nan
    xs = sorted(values)
    return xs[min(len(xs) - 1, max(0, math.ceil(q * len(xs)) - 1))]


def proportion(successes: float, n: int) -> dict[str, Any]:
    lo, hi = wilson(successes, n)
    return {"value": successes / n if n else math.nan, "ci": [lo, hi], "k": successes, "n": n}


def score(outcomes: Sequence[Outcome], seed: int = 0) -> dict[str, Any]:
    """Metrics of one method on the single-location cases of ``outcomes``."""
    single = [o for o in outcomes if o.label == "single"]
    n = len(single)
    preds = [o for o in single if o.predicted]
    hits = sum(o.hit for o in single)
    spans = [float(o.span_statements) for o in preds if o.span_statements is not None]
    times = [o.time_s for o in single if o.time_s is not None]
    return {
        "cases": n,
        "coverage": proportion(len(preds), n),
        "precision": proportion(hits, len(preds)),
        "accuracy": proportion(hits, n),
        "median_span_statements": statistics.median(spans) if spans else math.nan,
        "median_span_ci": list(bootstrap_median(spans, seed)),
        "median_time_s": statistics.median(times) if times else math.nan,
        "p95_time_s": percentile(times, 0.95),
    }


def score_by_kind(outcomes: Sequence[Outcome]) -> dict[str, dict[str, Any]]:
    """Per bug kind (single-location cases): cases, coverage, precision, accuracy."""
    out: dict[str, dict[str, Any]] = {}
    for kind in sorted({o.bug_kind for o in outcomes if o.label == "single"}):
        rows = [o for o in outcomes if o.label == "single" and o.bug_kind == kind]
        preds = [o for o in rows if o.predicted]
        hits = sum(o.hit for o in rows)
        out[kind] = {
            "cases": len(rows),
            "coverage": proportion(len(preds), len(rows)),
            "precision": proportion(hits, len(preds)),
            "accuracy": proportion(hits, len(rows)),
        }
    return out


def score_other_labels(outcomes: Sequence[Outcome]) -> dict[str, dict[str, Any]]:
    """``multi`` and ``algorithm`` cases: abstention rate, and the share of predictions with a hit."""
    out: dict[str, dict[str, Any]] = {}
    for label in ("multi", "algorithm"):
        rows = [o for o in outcomes if o.label == label]
        if not rows:
            continue
        preds = [o for o in rows if o.predicted]
        out[label] = {
            "cases": len(rows),
            "abstention": proportion(len(rows) - len(preds), len(rows)),
            "hit_when_predicted": proportion(sum(o.hit for o in preds), len(preds)),
        }
    return out


# -- Markdown ---------------------------------------------------------------------------------------


def _pct(p: dict[str, Any]) -> str:
    if not p["n"]:
        return "–"
    return f"{100 * p['value']:.1f}% [{100 * p['ci'][0]:.0f}–{100 * p['ci'][1]:.0f}]"


def _num(x: float, fmt: str = "{:.1f}") -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else fmt.format(x)


def markdown_methods(metrics: dict[str, dict[str, Any]]) -> list[str]:
    """The headline table: one row per method."""
    lines = [
        "| method | cases | coverage | precision | top-line accuracy | median span (stmts) | median / p95 ms |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, m in metrics.items():
        lo, hi = m["median_span_ci"]
        span = f"{_num(m['median_span_statements'], '{:g}')} [{_num(lo, '{:g}')}–{_num(hi, '{:g}')}]"
        ms = f"{_num(1000 * m['median_time_s'], '{:.0f}')} / {_num(1000 * m['p95_time_s'], '{:.0f}')}"
        lines.append(
            f"| {name} | {m['cases']} | {_pct(m['coverage'])} | {_pct(m['precision'])} | "
            f"{_pct(m['accuracy'])} | {span} | {ms} |"
        )
    return lines


def markdown_kinds(by_method: dict[str, dict[str, dict[str, Any]]]) -> list[str]:
    """Top-line accuracy per bug kind (rows) and method (columns)."""
    methods = list(by_method)
    kinds = sorted({k for per in by_method.values() for k in per})
    lines = ["| bug kind | cases | " + " | ".join(methods) + " |", "|---|---:|" + "---:|" * len(methods)]
    for kind in kinds:
        n = next(per[kind]["cases"] for per in by_method.values() if kind in per)
        cells = [
            f"{100 * by_method[m][kind]['accuracy']['value']:.0f}%" if kind in by_method[m] else "–"
            for m in methods
        ]
        lines.append(f"| {kind} | {n} | " + " | ".join(cells) + " |")
    return lines


def markdown_other(by_method: dict[str, dict[str, dict[str, Any]]]) -> list[str]:
    """Abstention on ``multi`` / ``algorithm`` cases per method."""
    rows = [(m, label, v) for m, per in by_method.items() for label, v in per.items()]
    if not rows:
        return []
    lines = ["| method | label | cases | abstention | hit when predicted |", "|---|---|---:|---:|---:|"]
    for m, label, v in rows:
        lines.append(
            f"| {m} | {label} | {v['cases']} | {_pct(v['abstention'])} | {_pct(v['hit_when_predicted'])} |"
        )
    return lines
