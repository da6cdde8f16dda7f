"""Self-contained HTML credit reports: the divergent span, the evidence, and a token heat map.

One page holds any number of rollouts. Each shows the candidate program with the divergent
statement highlighted, the aligned candidate/reference values side by side, and the per-token
advantages as a heat map (red: negative, green: positive; hover for the value). No external files,
scripts or fonts: the page renders offline.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from typing import Any

from egca.report.curves import curves_svg, metrics_table
from egca.values import from_wire, short_repr

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem;color:#1b1f24;background:#fafbfc}
h1{font-size:1.4rem}h2{font-size:1.05rem;margin:0 0 .5rem}
.rollout{background:#fff;border:1px solid #d0d7de;border-radius:8px;padding:1rem 1.2rem;margin:0 0 1.5rem}
.badge{display:inline-block;border-radius:999px;padding:.1rem .6rem;font-size:.8rem;margin-right:.4rem;background:#eef}
.mode-logic{background:#fff4e5}.mode-syntax{background:#ffebe9}.mode-correct{background:#dafbe1}.mode-constraint{background:#eaeef2}
pre{background:#f6f8fa;padding:.6rem;border-radius:6px;overflow-x:auto;font-size:.85rem;line-height:1.35}
mark.span{background:#ffd8b5;border-bottom:2px solid #e16f24;padding:0}
.lineno{color:#8c959f;user-select:none;display:inline-block;width:2.5em}
table{border-collapse:collapse;font-size:.85rem;margin:.4rem 0}td,th{border:1px solid #d0d7de;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#f6f8fa}.heat{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:.8rem;line-height:1.9;white-space:pre-wrap;word-break:break-all}
.tok{border-radius:3px;padding:1px 0}.legend{font-size:.8rem;color:#57606a}
"""


def _code_with_span(program: str, span: dict[str, int] | None) -> str:
    lines = program.splitlines()
    out = []
    for n, text in enumerate(lines, 1):
        if span and span["start_line"] <= n <= span["end_line"]:
            a = span["start_col"] if n == span["start_line"] else 0
            b = span["end_col"] if n == span["end_line"] else len(text)
            body = (
                html.escape(text[:a])
                + '<mark class="span">'
                + html.escape(text[a:b])
                + "</mark>"
                + html.escape(text[b:])
            )
        else:
            body = html.escape(text)
        out.append(f'<span class="lineno">{n}</span>{body}')
    return "<pre>" + "\n".join(out) + "</pre>"


def _value(v: Any) -> str:
    """A wire value as Python would print it (strings from the probe are already reprs)."""
    if isinstance(v, str):
        return html.escape(v)[:400]
    try:
        text = short_repr(from_wire(v), 400)
    except (ValueError, TypeError, KeyError):
        text = json.dumps(v)[:400]
    return html.escape(text)


def _evidence(r: dict[str, Any]) -> str:
    ev = r.get("evidence") or {}
    probe = r.get("probe") or {}
    rows = []
    if probe:
        rows.append(("failing call (probe)", _value(probe.get("args")), "", ""))
        rows.append(("its result", _value(probe.get("result")), _value(probe.get("expected")), ""))
    if "frame_function" in ev:
        rows.append(
            (
                f"buggy call: {html.escape(str(ev['frame_function']))}{_value(ev.get('frame_args'))}",
                _value(ev.get("frame_result")),
                _value(ev.get("frame_expected")),
                "",
            )
        )
    if "variable" in ev:
        rows.append(
            (
                f"variable <code>{html.escape(str(ev['variable']))}</code>",
                _value(ev.get("value")),
                _value(ev.get("expected")),
                html.escape(str(ev.get("reference_variable", ""))),
            )
        )
    if "taken" in ev:
        rows.append(
            (
                "branch taken",
                _value(ev.get("taken")),
                _value(ev.get("expected")),
                f"evaluation {ev.get('evaluation')}",
            )
        )
    if not rows:
        return ""
    body = "".join(f"<tr><td>{a}</td><td>{b}</td><td>{c}</td><td>{d}</td></tr>" for a, b, c, d in rows)
    return (
        "<table><tr><th></th><th>candidate</th><th>reference</th><th>aligned with</th></tr>"
        + body
        + "</table>"
    )


def _color(a: float, scale: float) -> str:
    x = min(1.0, abs(a) / scale) if scale > 0 else 0.0
    if a < 0:
        return f"rgba(207,34,46,{0.08 + 0.72 * x:.3f})"
    if a > 0:
        return f"rgba(26,127,55,{0.08 + 0.72 * x:.3f})"
    return "transparent"


def _heat(tokens: Sequence[str], advantages: Sequence[float]) -> str:
    if not tokens:
        return ""
    scale = max((abs(a) for a in advantages), default=0.0)
    spans = "".join(
        f'<span class="tok" style="background:{_color(a, scale)}" title="{a:+.4g}" data-adv="{a:.6g}">'
        f"{html.escape(t)}</span>"
        for t, a in zip(tokens, advantages)
    )
    total = sum(advantages)
    return (
        f'<div class="legend">token advantages (sum {total:+.4g}); red negative, green positive, '
        f'hover for values</div><div class="heat">{spans}</div>'
    )


def render(
    rollouts: Sequence[dict[str, Any]],
    title: str = "egca credit report",
    metrics: Sequence[dict[str, Any]] = (),
) -> str:
    """The HTML page for ``rollouts`` (dicts: task_id, program, mode, status, span, kind, reason,
    probe, evidence, and optionally tokens + advantages), headed by learning curves and a per-step
    table when ``metrics`` (the logs of a training run) are given."""
    parts = [
        f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{html.escape(title)}</title>",
        f"<style>{_CSS}</style></head><body><h1>{html.escape(title)}</h1>",
    ]
    if metrics:
        svg = curves_svg(metrics)
        parts.append(
            '<section class="rollout" id="metrics"><h2>learning curves</h2>'
            + (f'<div class="curves">{svg}</div>' if svg else "")
            + metrics_table(metrics)
            + "</section>"
        )
    counts: dict[str, int] = {}
    for r in rollouts:
        mode = r.get("mode") or "unanalysed"
        counts[mode] = counts.get(mode, 0) + 1
    parts.append(
        "<p>"
        + " ".join(f'<span class="badge mode-{m}">{m}: {n}</span>' for m, n in sorted(counts.items()))
        + "</p>"
    )
    for i, r in enumerate(rollouts):
        mode = str(r.get("mode") or "")
        head = (
            f'<span class="badge mode-{html.escape(mode)}">{html.escape(mode)}</span>'
            f'<span class="badge">{html.escape(str(r.get("status", "")))}</span>'
            + (f'<span class="badge">{html.escape(str(r["kind"]))}</span>' if r.get("kind") else "")
        )
        reason = f"<p>{html.escape(str(r['reason']))}</p>" if r.get("reason") else ""
        parts.append(
            f'<section class="rollout" id="rollout-{i}"><h2>{html.escape(str(r.get("task_id", "")))} '
            f"· rollout {i}</h2>{head}{reason}{_code_with_span(str(r.get('program', '')), r.get('span'))}"
            f"{_evidence(r)}{_heat(r.get('tokens') or [], r.get('advantages') or [])}</section>"
        )
    parts.append("</body></html>")
    return "".join(parts)
