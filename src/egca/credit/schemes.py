"""Credit schemes: how one rollout's sequence advantage is spread over its completion tokens.

Every scheme takes ``(T, credit, A, *, rng=None, **params)`` and returns a :class:`TokenCredit` over the
``T`` valid completion tokens of one rollout (docs/method.md, "The operator" and "Credit schemes"). Every scheme conserves
``sum(weights) == A`` except :func:`prefix_credit`, which adds ``λ·|A|`` to the prefix by design.

Statuses: ``"localized"`` (credit on a strict subset chosen by the scheme), ``"uniform"`` (A/T by the
scheme's rule), the ``fallback:*`` statuses of the localizer (:class:`~egca.credit.types.RolloutCredit`), and four of
the schemes' own:

- ``fallback:no_span``: a syntax/logic rollout without a span whose own status is not a fallback;
- ``fallback:no_late_span``: ``late_span`` on a localized logic rollout that has no ``late_span``;
- ``fallback:no_statements``: ``random_span`` with no statement inside ``[0, T)``;
- ``fallback:no_executed``: ``stepcoder_mask`` with an empty ``executed_spans``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from egca.credit.types import Mode, RolloutCredit, TokenSpan

__all__ = [
    "SCHEMES",
    "SchemeFn",
    "TokenCredit",
    "egca",
    "get_scheme",
    "late_span",
    "prefix_credit",
    "random_span",
    "rltf_error_line",
    "soft",
    "stepcoder_mask",
    "uniform",
]

LOCALIZED = "localized"
UNIFORM = "uniform"
_LOCALIZABLE = (Mode.SYNTAX, Mode.LOGIC)


@dataclass(frozen=True)
class TokenCredit:
    """Per-token credit of one rollout.

    ``weights``: float64 tensor ``(T,)``, the paper's ``a_{i,t}``; ``mask``: bool ``(T,)``, the tokens in
    the loss (every token with a non-zero weight is in it); ``conserves``: whether the rule keeps
    ``sum(weights) == A`` for this rollout.
    """

    weights: torch.Tensor
    mask: torch.Tensor
    status: str
    conserves: bool = True


SchemeFn = Callable[..., TokenCredit]


# --- building blocks -------------------------------------------------------------------------------


def _check(T: int, A: float) -> None:
    if T < 1:
        raise ValueError(f"a rollout needs at least one completion token, got T={T}")
    if not np.isfinite(A):
        raise ValueError(f"advantage must be finite, got {A}")


def _uniform(T: int, A: float, status: str) -> TokenCredit:
    """A/T on every token."""
    return TokenCredit(torch.full((T,), A / T, dtype=torch.float64), torch.ones(T, dtype=torch.bool), status)


def _on_mask(mask: torch.Tensor, A: float, status: str) -> TokenCredit:
    """A/|mask| on the tokens of a non-empty mask, 0 elsewhere."""
    weights = torch.zeros(mask.shape[0], dtype=torch.float64)
    weights[mask] = A / int(mask.sum())
    return TokenCredit(weights, mask, status)


def _span_mask(T: int, span: TokenSpan) -> torch.Tensor:
    """Bool mask of ``span`` clipped to ``[0, T)`` (may be empty)."""
    mask = torch.zeros(T, dtype=torch.bool)
    mask[span.start : min(span.end, T)] = True
    return mask


def _clip(T: int, span: TokenSpan) -> TokenSpan | None:
    """``span`` clipped to ``[0, T)``, or None if nothing is left."""
    return TokenSpan(span.start, min(span.end, T)) if span.start < T else None


def _no_span_status(credit: RolloutCredit) -> str:
    """The status of a syntax/logic rollout that ends up without a span."""
    return credit.status if credit.status.startswith("fallback:") else "fallback:no_span"


def _resolve(T: int, credit: RolloutCredit, A: float, span: TokenSpan | None) -> TokenSpan | str:
    """The clipped span a localizing scheme should use, or the status of its uniform fallback.

    Order: correct/constraint → ``uniform``; no span → the rollout's fallback status; span outside
    ``[0, T)`` → ``fallback:span_mapping``; ``A > 0`` → ``fallback:positive_advantage`` (the operator's guard).
    """
    if credit.mode not in _LOCALIZABLE:
        return UNIFORM
    if span is None:
        return _no_span_status(credit)
    clipped = _clip(T, span)
    if clipped is None:
        return "fallback:span_mapping"
    if A > 0:
        return "fallback:positive_advantage"
    return clipped


def _localize(T: int, A: float, resolved: TokenSpan | str) -> TokenCredit:
    """The paper operator on a resolved span: A/|S| on the span, 0 elsewhere; or the fallback."""
    if isinstance(resolved, str):
        return _uniform(T, A, resolved)
    return _on_mask(_span_mask(T, resolved), A, LOCALIZED)


# --- schemes ---------------------------------------------------------------------------------------


def uniform(
    T: int, credit: RolloutCredit, A: float, *, rng: np.random.Generator | int | None = None
) -> TokenCredit:
    """GRPO: A/T on every token of every rollout."""
    _check(T, A)
    return _uniform(T, A, UNIFORM)


def egca(
    T: int, credit: RolloutCredit, A: float, *, rng: np.random.Generator | int | None = None
) -> TokenCredit:
    """The paper operator: A/|S| on ``credit.span`` for syntax/logic rollouts, uniform otherwise."""
    _check(T, A)
    return _localize(T, A, _resolve(T, credit, A, credit.span))


def soft(
    T: int,
    credit: RolloutCredit,
    A: float,
    *,
    rng: np.random.Generator | int | None = None,
    alpha: float = 0.5,
) -> TokenCredit:
    """Span tokens weight 1, the others ``alpha`` ∈ [0, 1], renormalized to sum to A.

    ``alpha=0`` is :func:`egca`, ``alpha=1`` is :func:`uniform`; fallbacks are those of :func:`egca`.
    """
    _check(T, A)
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"soft: alpha must be in [0, 1], got {alpha}")
    resolved = _resolve(T, credit, A, credit.span)
    if isinstance(resolved, str) or alpha == 0.0:
        return _localize(T, A, resolved)
    span = _span_mask(T, resolved)
    raw = torch.where(span, 1.0, alpha).to(torch.float64)
    return TokenCredit(A * raw / raw.sum(), torch.ones(T, dtype=torch.bool), LOCALIZED)


def random_span(
    T: int, credit: RolloutCredit, A: float, *, rng: np.random.Generator | int | None = None
) -> TokenCredit:
    """Where :func:`egca` localizes, a span of the same (clipped) length at a random statement.

    The statement is drawn uniformly from the ``statement_spans`` that start inside ``[0, T)``; the
    span starts at the statement's first token, shifted left when needed so that it keeps its length.
    The true span's statement is not excluded. No such statement → ``fallback:no_statements``.
    ``rng``: a Generator, or a seed (None means 0, so a direct call is deterministic too).
    """
    _check(T, A)
    resolved = _resolve(T, credit, A, credit.span)
    if isinstance(resolved, str):
        return _uniform(T, A, resolved)
    starts = [s.start for s in credit.statement_spans if s.start < T]
    if not starts:
        return _uniform(T, A, "fallback:no_statements")
    generator = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng or 0)
    start = min(starts[int(generator.integers(len(starts)))], T - len(resolved))
    return _localize(T, A, TokenSpan(start, start + len(resolved)))


def late_span(
    T: int, credit: RolloutCredit, A: float, *, rng: np.random.Generator | int | None = None
) -> TokenCredit:
    """:func:`egca` on the last divergent event (``credit.late_span``) instead of the earliest.

    Only rollouts that :func:`egca` would localize are candidates. A syntax-mode error has a single
    location, so ``late_span`` falls back to ``span`` there; a logic-mode rollout without ``late_span``
    gets ``fallback:no_late_span`` (never silently the earliest divergence).
    """
    _check(T, A)
    if credit.mode not in _LOCALIZABLE or credit.span is None:
        return egca(T, credit, A)
    late = credit.late_span
    if late is None and credit.mode is Mode.SYNTAX:
        late = credit.span
    if late is None:
        return _uniform(T, A, "fallback:no_late_span")
    return _localize(T, A, _resolve(T, credit, A, late))


def prefix_credit(
    T: int,
    credit: RolloutCredit,
    A: float,
    *,
    rng: np.random.Generator | int | None = None,
    lam: float = 0.5,
) -> TokenCredit:
    """Ablation: the span keeps A/|S|, the tokens before it share ``lam·|A|`` (positive), after: 0.

    Breaks ``sum == A`` by design whenever the span does not start at token 0 (``conserves=False``);
    fallbacks are those of :func:`egca`.
    """
    _check(T, A)
    if lam < 0:
        raise ValueError(f"prefix_credit: lam must be >= 0, got {lam}")
    resolved = _resolve(T, credit, A, credit.span)
    base = _localize(T, A, resolved)
    if isinstance(resolved, str) or resolved.start == 0 or lam == 0:
        return base
    weights = base.weights.clone()
    weights[: resolved.start] = lam * abs(A) / resolved.start
    mask = base.mask.clone()
    mask[: resolved.start] = True
    return TokenCredit(weights, mask, LOCALIZED, conserves=False)


def stepcoder_mask(
    T: int, credit: RolloutCredit, A: float, *, rng: np.random.Generator | int | None = None
) -> TokenCredit:
    """StepCoder FGO: A spread uniformly over the tokens of ``executed_spans``; the rest masked.

    Applies to every mode and sign of A. ``executed_spans is None`` (no coverage) → ``uniform``; empty →
    ``fallback:no_executed``; none inside ``[0, T)`` → ``fallback:span_mapping``; covering every token
    → ``uniform``.
    """
    _check(T, A)
    if credit.executed_spans is None:
        return _uniform(T, A, UNIFORM)
    if not credit.executed_spans:
        return _uniform(T, A, "fallback:no_executed")
    mask = torch.zeros(T, dtype=torch.bool)
    for span in credit.executed_spans:
        mask |= _span_mask(T, span)
    if not mask.any():
        return _uniform(T, A, "fallback:span_mapping")
    if mask.all():
        return _uniform(T, A, UNIFORM)
    return _on_mask(mask, A, LOCALIZED)


def rltf_error_line(
    T: int, credit: RolloutCredit, A: float, *, rng: np.random.Generator | int | None = None
) -> TokenCredit:
    """RLTF: syntax/runtime errors get A on ``error_span``; logic, correct, constraint: ``uniform``.

    Timeouts (status ``fallback:timeout``) stay uniform even with an ``error_span``; a syntax rollout
    without one keeps its fallback status. Span clipping and the positive-advantage guard are
    :func:`egca`'s, so the scheme differs from :func:`egca` only in logic mode.
    """
    _check(T, A)
    if credit.mode is not Mode.SYNTAX:
        return _uniform(T, A, UNIFORM)
    if credit.status == "fallback:timeout":
        return _uniform(T, A, credit.status)
    return _localize(T, A, _resolve(T, credit, A, credit.error_span))


SCHEMES: dict[str, SchemeFn] = {
    "uniform": uniform,
    "egca": egca,
    "soft": soft,
    "random_span": random_span,
    "late_span": late_span,
    "prefix_credit": prefix_credit,
    "stepcoder_mask": stepcoder_mask,
    "rltf_error_line": rltf_error_line,
}


def get_scheme(name: str) -> SchemeFn:
    """The scheme called ``name``; ValueError listing the known names otherwise."""
    try:
        return SCHEMES[name]
    except KeyError:
        raise ValueError(f"unknown credit scheme {name!r}; known: {', '.join(SCHEMES)}") from None
