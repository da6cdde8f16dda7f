"""verl's own PPO loss applies the EGCA operator's a_{i,t}, as TRL's aggregation does (every scheme)."""

from __future__ import annotations

import pytest

from tests.verl.common import SKIP_REASON

pytest.importorskip("verl.trainer.ppo.v1", reason=SKIP_REASON)

import torch
from omegaconf import OmegaConf
from verl.trainer.ppo.core_algos import get_policy_loss_fn

from egca.credit.operator import NORMALIZERS, effective_token_weights, normalizer_settings, token_advantages
from egca.credit.schemes import SCHEMES
from egca.credit.types import Mode, RolloutCredit, TokenSpan
from egca.integrations.verl.credit import VerlCreditSettings, step_seed, verl_advantages

T = 12
LENGTHS = [12, 9, 7, 10]
CREDITS = [
    RolloutCredit(Mode.CORRECT, statement_spans=(TokenSpan(0, 4), TokenSpan(4, 12))),
    RolloutCredit(
        Mode.LOGIC,
        span=TokenSpan(3, 6),
        status="localized",
        late_span=TokenSpan(6, 8),
        statement_spans=(TokenSpan(0, 3), TokenSpan(3, 6), TokenSpan(6, 9)),
        executed_spans=(TokenSpan(0, 3), TokenSpan(3, 6)),
    ),
    RolloutCredit(Mode.SYNTAX, span=TokenSpan(1, 3), status="localized", error_span=TokenSpan(1, 3)),
    RolloutCredit(Mode.LOGIC, status="fallback:no_divergence", statement_spans=(TokenSpan(0, 10),)),
]
A = torch.tensor([1.5, -0.5, -0.5, -0.5])
AGG = {"conserve": "seq-mean-token-mean", "conserve_kl_all": "seq-mean-token-sum", "engine": "token-mean"}


def verl_token_weights(advantages: torch.Tensor, mask: torch.Tensor, agg: str) -> torch.Tensor:
    """-∂loss/∂log_prob of verl's vanilla PPO loss at ratio 1, times the batch's sequence count."""
    B = mask.shape[0]
    config = OmegaConf.create(
        {
            "clip_ratio": 0.2,
            "clip_ratio_low": None,
            "clip_ratio_high": None,
            "clip_ratio_c": 3.0,
            "global_batch_info": {"dp_size": 1, "batch_num_tokens": int(mask.sum()), "global_batch_size": B},
        }
    )
    old = torch.zeros(B, T, dtype=torch.float64)
    log_prob = old.clone().requires_grad_(True)
    loss, _ = get_policy_loss_fn("vanilla")(
        old_log_prob=old,
        log_prob=log_prob,
        advantages=advantages.to(torch.float64),
        response_mask=mask.to(torch.bool),
        loss_agg_mode=agg,
        config=config,
    )
    loss.backward()
    return -log_prob.grad * B


@pytest.mark.parametrize("normalizer", NORMALIZERS)
def test_verl_loss_applies_the_operator(normalizer: str) -> None:
    mask = torch.tensor([[1] * n + [0] * (T - n) for n in LENGTHS])
    for scheme in SCHEMES:
        kwargs = {"alpha": 0.25} if scheme == "soft" else {"lam": 0.5} if scheme == "prefix_credit" else {}
        if normalizer_settings(normalizer)["route"] == "mask" and scheme in ("soft", "prefix_credit"):
            continue  # refused (test_verl_credit)
        settings = VerlCreditSettings(scheme=scheme, normalizer=normalizer, scheme_kwargs=kwargs)
        out = verl_advantages(A[:, None] * mask, mask, CREDITS, settings, AGG[normalizer], step=1)
        applied = verl_token_weights(out.advantages, out.response_mask, AGG[normalizer])
        trl = token_advantages(A, mask, CREDITS, scheme, normalizer, seed=step_seed(0, 1), **kwargs)
        if normalizer == "engine":  # mask only: verl's token-mean, on exactly the scheme's mask
            assert torch.equal(applied != 0, trl.loss_mask & (A != 0)[:, None]), scheme
            continue
        a = out.token.per_token.to(torch.float64)
        assert torch.allclose(applied, a, rtol=1e-7, atol=1e-12), scheme  # verl: a_{i,t}
        L = trl.max_completion_length
        via_trl = effective_token_weights(trl.engine_advantages, trl.engine_mask, normalizer, L)
        assert torch.allclose(via_trl, a, rtol=1e-6, atol=1e-9), scheme  # TRL's aggregation: the same
