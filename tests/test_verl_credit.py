"""The verl side of the credit stage (no verl needed): settings, credit records, parity with the TRL path."""

from __future__ import annotations

import pytest
import torch

from egca.credit.operator import NORMALIZERS, normalizer_settings, token_advantages
from egca.credit.schemes import SCHEMES
from egca.credit.types import Mode, RolloutCredit, TokenSpan
from egca.integrations.verl.credit import (
    VerlCreditSettings,
    decode_credit,
    encode_credit,
    sequence_advantages,
    step_seed,
    verl_advantages,
)
from tests.tiny import tiny_tokenizer_fixture  # noqa: F401 (pytest fixture)
from tests.verl.common import COMPLETIONS, TASK, encode, grpo_advantages, right_padded, trl_path_credits

VERL_MODE = {
    "conserve": "seq-mean-token-mean",
    "conserve_kl_all": "seq-mean-token-sum",
    "engine": "token-mean",
}


def test_settings_from_a_verl_config_section() -> None:
    assert VerlCreditSettings.from_config({}) == VerlCreditSettings()
    s = VerlCreditSettings.from_config(
        {"egca": {"scheme": "soft", "scheme_kwargs": {"alpha": "0.3"}, "seed": 3}}
    )
    assert (s.scheme, dict(s.scheme_kwargs), s.seed, s.normalizer) == (
        "soft",
        {"alpha": 0.3},
        3,
        "conserve_kl_all",
    )
    with pytest.raises(ValueError, match="unknown egca setting"):
        VerlCreditSettings.from_config({"egca": {"shceme": "egca"}})
    with pytest.raises(ValueError, match=r"egca\.scheme"):
        VerlCreditSettings.from_config({"egca": {"scheme": "nope"}})
    with pytest.raises(ValueError, match=r"egca\.references"):
        VerlCreditSettings(references="everything")


def test_each_normalizer_needs_its_loss_aggregation() -> None:
    VerlCreditSettings(normalizer="conserve_kl_all").check_loss_agg_mode("seq-mean-token-sum")
    VerlCreditSettings(normalizer="conserve").check_loss_agg_mode("seq-mean-token-mean")
    for mode in ("token-mean", "seq-mean-token-sum-norm", "seq-mean-token-mean"):
        VerlCreditSettings(normalizer="engine").check_loss_agg_mode(mode)  # mask-only: any aggregation
    with pytest.raises(ValueError, match="loss_agg_mode=seq-mean-token-sum "):
        VerlCreditSettings(normalizer="conserve_kl_all").check_loss_agg_mode("token-mean")
    with pytest.raises(ValueError, match="loss_agg_mode=seq-mean-token-mean "):
        VerlCreditSettings(normalizer="conserve").check_loss_agg_mode("seq-mean-token-sum")


def test_credit_record_round_trip() -> None:
    credit = RolloutCredit(
        mode=Mode.LOGIC,
        span=TokenSpan(3, 7),
        status="localized",
        late_span=TokenSpan(9, 12),
        error_span=None,
        statement_spans=(TokenSpan(0, 3), TokenSpan(3, 7), TokenSpan(9, 12)),
        executed_spans=(TokenSpan(0, 3),),
        notes={"why": "first divergence"},
    )
    text = encode_credit(credit, task_id="T/1", passed=False)
    assert isinstance(text, str)
    back, extra = decode_credit(text)
    assert back == credit and extra == {"task_id": "T/1", "passed": False}
    bare = RolloutCredit(Mode.CORRECT)
    assert decode_credit(encode_credit(bare))[0] == bare  # executed_spans None stays None
    for bad in ("", "[]", '{"mode": "logic"}', '{"mode": "weird"}'):
        with pytest.raises(ValueError, match="not an egca credit record"):
            decode_credit(bad)


def test_sequence_advantages_of_an_outcome_estimator() -> None:
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 0, 0], [0, 0, 0, 0]])
    A = torch.tensor([0.5, -1.25, 0.0])
    assert torch.equal(sequence_advantages(A[:, None] * mask, mask), A)
    gae = torch.tensor([[0.5, 0.4, 0.3, 0.0], [1.0, 1.0, 0.0, 0.0], [0.0] * 4])
    with pytest.raises(ValueError, match=r"vary within responses \[0\]"):
        sequence_advantages(gae, mask)


def test_step_seed_differs_by_step_and_is_stable() -> None:
    assert step_seed(0, 1) == step_seed(0, 1)
    assert len({step_seed(0, s) for s in range(50)}) == 50
    assert step_seed(0, 1) != step_seed(1, 1)


@pytest.mark.parametrize("normalizer", NORMALIZERS)
def test_parity_with_the_trl_path_every_scheme(sandbox, tiny_tokenizer, normalizer: str) -> None:
    """Same rollouts, rewards and credits: verl's tensors carry bit-identical a_{i,t} to the TRL path's."""
    ids = encode(tiny_tokenizer, COMPLETIONS)
    credits = trl_path_credits(sandbox, TASK, COMPLETIONS, ids, tiny_tokenizer)
    assert [c.mode for c in credits] == [Mode.CORRECT, Mode.LOGIC, Mode.LOGIC, Mode.SYNTAX]
    mask = right_padded(ids, max(map(len, ids)) + 3)  # verl pads the batch to its longest response
    A = grpo_advantages([1.0, 0.0, 0.0, 0.0], group=4)
    # the verl side sees the credits through the reward manager's JSON record
    decoded = [decode_credit(encode_credit(c, task_id=TASK.task_id))[0] for c in credits]
    for scheme in SCHEMES:
        kwargs = {"alpha": 0.25} if scheme == "soft" else {"lam": 0.5} if scheme == "prefix_credit" else {}
        settings = VerlCreditSettings(scheme=scheme, normalizer=normalizer, seed=7, scheme_kwargs=kwargs)
        seed = step_seed(7, 2)
        mask_only = normalizer_settings(normalizer)["route"] == "mask" and scheme in ("soft", "prefix_credit")
        if mask_only:  # weights that vary on the mask: both paths refuse
            with pytest.raises(ValueError, match="conserve_kl_all"):
                token_advantages(A, mask, credits, scheme, normalizer, seed=seed, **kwargs)
            with pytest.raises(ValueError, match="conserve_kl_all"):
                verl_advantages(A[:, None] * mask, mask, decoded, settings, VERL_MODE[normalizer], step=2)
            continue
        trl = token_advantages(A, mask, credits, scheme, normalizer, seed=seed, **kwargs)
        out = verl_advantages(A[:, None] * mask, mask, decoded, settings, VERL_MODE[normalizer], step=2)
        assert torch.equal(out.token.per_token, trl.per_token), scheme
        assert out.token.statuses == trl.statuses
        if normalizer == "conserve_kl_all":
            assert torch.equal(out.advantages, trl.per_token) and torch.equal(out.response_mask, mask)
        else:
            assert torch.equal(out.advantages, A[:, None] * mask)
            assert (
                torch.equal(out.response_mask.bool(), trl.loss_mask) and out.response_mask.dtype == mask.dtype
            )


def test_lengths_keep_rejected_tokens_out(sandbox, tiny_tokenizer) -> None:
    """A response_mask with holes (rollout correction's rejections): the operator sees whole responses,
    the holes stay out of the loss."""
    ids = encode(tiny_tokenizer, COMPLETIONS)
    credits = trl_path_credits(sandbox, TASK, COMPLETIONS, ids, tiny_tokenizer)
    full = right_padded(ids)
    holed = full.clone()
    holed[1, 0] = 0
    A = torch.tensor([1.5, -0.5, -0.5, -0.5])
    lengths = [len(i) for i in ids]
    trl = token_advantages(A, full, credits, "egca", "conserve")
    out = verl_advantages(
        A[:, None] * holed,
        holed,
        credits,
        VerlCreditSettings(normalizer="conserve"),
        "seq-mean-token-mean",
        lengths=lengths,
    )
    assert torch.equal(out.token.per_token, trl.per_token)
    assert torch.equal(out.response_mask, trl.loss_mask.to(holed.dtype) * holed)
    with pytest.raises(ValueError, match="do not fit"):
        verl_advantages(
            A[:, None] * full, full, credits, VerlCreditSettings(), "seq-mean-token-sum", lengths=[1, 2]
        )
