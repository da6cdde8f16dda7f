"""Learning curves of a training run (``metrics.jsonl``) as inline SVG and as a table."""

from __future__ import annotations

import html
import io
from collections.abc import Sequence
from typing import Any

MODES = ("syntax", "constraint", "logic", "correct")
TABLE_COLUMNS = (
    ("reward", "reward"),
    ("egca/pass_rate", "pass rate"),
    ("eval_egca/pass_rate", "eval pass rate"),
    *((f"egca/mode_{m}", m) for m in MODES),
    ("egca/localized", "localized"),
    ("egca/span_share", "span share"),
    ("egca/loss_token_share", "loss tokens"),
    ("loss", "loss"),
    ("step_time", "s/step"),
)


def series(history: Sequence[dict[str, Any]], key: str) -> tuple[list[int], list[float]]:
    """(steps, values) of ``key`` over the logs that have it."""
    rows = [(int(h["step"]), float(h[key])) for h in history if isinstance(h.get(key), (int, float))]
    return [s for s, _ in rows], [v for _, v in rows]


def curves_svg(history: Sequence[dict[str, Any]]) -> str | None:
    """Two panels (pass rates and reward; rollout modes) as an SVG string; None without matplotlib
    or without any training log."""
    if not any("reward" in h for h in history):
        return None
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
        from matplotlib.ticker import MaxNLocator
    except ImportError:
        return None
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.2))
    for key, label in (
        ("reward", "train reward"),
        ("egca/pass_rate", "train pass rate"),
        ("eval_egca/pass_rate", "eval pass rate"),
    ):
        x, y = series(history, key)
        if x:
            left.plot(x, y, marker="o", label=label)
    left.set(xlabel="step", ylim=(-0.02, 1.02), title="reward and pass rate")
    left.legend(fontsize=8)
    for mode in MODES:
        x, y = series([h for h in history if "reward" in h], f"egca/mode_{mode}")
        if x:
            right.plot(x, y, marker=".", label=mode)
    right.set(xlabel="step", ylim=(-0.02, 1.02), title="share of rollouts per mode")
    if right.get_legend_handles_labels()[0]:
        right.legend(fontsize=8)
    for ax in (left, right):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # steps are whole numbers
    fig.tight_layout()
    buf = io.StringIO()
    fig.savefig(buf, format="svg")
    plt.close(fig)
    text = buf.getvalue()
    return text[text.index("<svg") :]  # drop the XML prolog: the SVG is inlined in HTML


def metrics_table(history: Sequence[dict[str, Any]]) -> str:
    """One row per logged step: the columns of ``TABLE_COLUMNS`` that the run logged."""
    columns = [(k, name) for k, name in TABLE_COLUMNS if any(k in h for h in history)]
    by_step: dict[int, dict[str, Any]] = {}
    for h in history:
        by_step.setdefault(int(h.get("step", 0)), {}).update(h)
    if not columns or not by_step:
        return ""
    head = "<tr><th>step</th>" + "".join(f"<th>{html.escape(n)}</th>" for _, n in columns) + "</tr>"
    body = "".join(
        f"<tr><td>{step}</td>" + "".join(f"<td>{_fmt(row.get(k))}</td>" for k, _ in columns) + "</tr>"
        for step, row in sorted(by_step.items())
    )
    return f"<table class=metrics>{head}{body}</table>"


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.3g}"
    return "" if v is None else html.escape(str(v))
