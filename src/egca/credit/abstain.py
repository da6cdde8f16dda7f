"""What the trainer does with a rollout the localizer abstained on.

A logic-mode rollout without a span whose status is ``fallback:abstain:*`` (no repairing edit and
no other strong evidence) gets, by policy:

- ``"uniform"`` (default): GRPO's credit for that rollout (its advantage spread over all its
  tokens, the usual ``fallback:*`` behaviour of the schemes);
- ``"zero"``: no credit at all (its advantage set to 0: it teaches nothing this step).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from egca.credit.types import Mode, RolloutCredit

ABSTAIN_POLICIES: tuple[str, ...] = ("uniform", "zero")


def abstained(credit: RolloutCredit) -> bool:
    """A logic-mode rollout the localizer declined to localize."""
    return credit.mode is Mode.LOGIC and credit.span is None and credit.status.startswith("fallback:abstain")


def apply(advantages: torch.Tensor, credits: Sequence[RolloutCredit], policy: str) -> torch.Tensor:
    """``advantages`` (one per rollout) after the abstention ``policy``; the input is not modified."""
    if policy not in ABSTAIN_POLICIES:
        raise ValueError(
            f"unknown abstention policy {policy!r} (expected one of {', '.join(ABSTAIN_POLICIES)})"
        )
    if len(credits) != advantages.shape[0]:
        raise ValueError(f"{len(credits)} credits for {advantages.shape[0]} advantages")
    if policy == "uniform":
        return advantages
    out = advantages.clone()
    for i, c in enumerate(credits):
        if abstained(c):
            out[i] = 0
    return out


def abstain_rate(credits: Sequence[RolloutCredit]) -> tuple[int, int]:
    """(abstentions, logic-mode rollouts)."""
    logic = [c for c in credits if c.mode is Mode.LOGIC]
    return sum(abstained(c) for c in logic), len(logic)
