"""Rollout records for reports: a localization plus tokens and their advantages.

The advantages come from the credit operator, which needs torch (``egca[model]``); without it a
record keeps its localization and says why the heat map is missing.
"""

from __future__ import annotations

import re
from typing import Any

from egca.credit.localize import Localization
from egca.credit.types import RolloutCredit, TokenSpan

_PIECES = re.compile(r"\w+|\s+|[^\w\s]")


def text_tokens(text: str) -> list[tuple[int, int]]:
    """Character spans of word, whitespace and symbol pieces (a model-free tokenization)."""
    return [m.span() for m in _PIECES.finditer(text)]


def _char_offset(lines: list[str], line: int, col: int) -> int:
    return sum(len(x) + 1 for x in lines[: line - 1]) + col


def rollout_record(
    task_id: str, program: str, loc: Localization, advantage: float = -1.0, scheme: str = "egca"
) -> dict[str, Any]:
    """A report record for ``program``: its localization and, over text pieces of the program, the
    per-token advantages the operator gives a rollout with sequence advantage ``advantage``."""
    pieces = text_tokens(program)
    span = None
    if loc.span is not None and pieces:
        lines = program.splitlines()
        a = _char_offset(lines, loc.span.start_line, loc.span.start_col)
        b = _char_offset(lines, loc.span.end_line, loc.span.end_col)
        hit = [i for i, (s, e) in enumerate(pieces) if s < b and e > a]
        span = TokenSpan(hit[0], hit[-1] + 1) if hit else None
    record = {"task_id": task_id, "program": program, **loc.to_dict()}
    if not pieces:
        return record
    try:
        import torch

        from egca.credit.operator import token_advantages
    except ImportError:
        record["note"] = "no token advantages: the credit operator needs torch (pip install 'egca[model]')"
        return record
    credit = RolloutCredit(mode=loc.mode, span=span, status=loc.status)
    out = token_advantages(
        torch.tensor([advantage], dtype=torch.float64),
        torch.ones(1, len(pieces)),
        [credit],
        scheme=scheme,
        normalizer="conserve_kl_all" if scheme in ("soft", "prefix_credit") else "conserve",
    )
    record["tokens"] = [program[s:e] for s, e in pieces]
    record["advantages"] = [float(x) for x in out.per_token[0].tolist()]
    record["credit_status"] = out.statuses[0]
    return record
