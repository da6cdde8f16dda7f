"""Records of the credit stage: the mode of a rollout and where its advantage goes."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class Mode(str, enum.Enum):
    """The paper's four-way routing (docs/method.md, "Routing")."""

    SYNTAX = "syntax"  # does not compile, or raises at run time (timeouts: a documented sub-kind)
    CONSTRAINT = "constraint"  # fails the static constraint / comparability checks
    CORRECT = "correct"  # passes every test
    LOGIC = "logic"  # runs, fails a test: localize the earliest divergence

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class TokenSpan:
    """Half-open range ``[start, end)`` of completion token indices."""

    start: int
    end: int

    def __post_init__(self) -> None:
        if not 0 <= self.start < self.end:
            raise ValueError(f"empty or negative token span [{self.start}, {self.end})")

    def __len__(self) -> int:
        return self.end - self.start


@dataclass(frozen=True)
class RolloutCredit:
    """What the operator needs to know about one rollout.

    ``span``: the tokens that carry the advantage in the ``egca`` scheme (the earliest divergence in
    logic mode, the error statement in syntax mode), or None. ``status``: ``"localized"`` when
    ``span`` is set, ``"uniform"`` for correct/constraint rollouts, or one of the ``fallback:*``
    statuses of docs/method.md. The other fields feed the ablation schemes ("Credit schemes").
    """

    mode: Mode
    span: TokenSpan | None = None
    status: str = "uniform"
    late_span: TokenSpan | None = None  # the last divergent event (``late_span`` scheme)
    error_span: TokenSpan | None = None  # the error line for syntax/runtime errors (``rltf_error_line``)
    statement_spans: tuple[TokenSpan, ...] = ()  # every statement of the program (``random_span``)
    executed_spans: tuple[TokenSpan, ...] | None = None  # statements the tests executed (``stepcoder_mask``)
    notes: dict[str, str] = field(default_factory=dict)
