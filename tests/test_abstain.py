"""The trainer's fallback for rollouts the localizer abstains on."""

from __future__ import annotations

import pytest
import torch

from egca.credit.abstain import abstain_rate, abstained, apply
from egca.credit.operator import token_advantages
from egca.credit.types import Mode, RolloutCredit, TokenSpan

CREDITS = [
    RolloutCredit(Mode.LOGIC, status="fallback:abstain:no_repair"),
    RolloutCredit(Mode.LOGIC, span=TokenSpan(0, 2), status="localized"),
    RolloutCredit(Mode.LOGIC, status="fallback:no_probe"),  # a fallback, not an abstention
    RolloutCredit(Mode.CORRECT),
]


def test_which_rollouts_abstained_and_the_rate():
    assert [abstained(c) for c in CREDITS] == [True, False, False, False]
    assert abstain_rate(CREDITS) == (1, 3)


def test_uniform_keeps_grpo_credit_and_zero_removes_it():
    adv = torch.tensor([-1.0, -1.0, -1.0, 1.0])
    mask = torch.ones(4, 4, dtype=torch.long)
    uniform = token_advantages(apply(adv, CREDITS, "uniform"), mask, CREDITS)
    assert uniform.per_token[0].tolist() == [-0.25] * 4  # A / T on every token: GRPO's credit
    assert uniform.statuses[0] == "fallback:abstain:no_repair"
    zero = apply(adv, CREDITS, "zero")
    assert zero.tolist() == [0.0, -1.0, -1.0, 1.0] and adv.tolist() == [-1.0, -1.0, -1.0, 1.0]
    assert token_advantages(zero, mask, CREDITS).per_token[0].abs().sum() == 0
    with pytest.raises(ValueError, match="abstention policy"):
        apply(adv, CREDITS, "skip")
