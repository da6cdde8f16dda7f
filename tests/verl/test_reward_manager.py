"""The egca reward manager's ``run_single`` on real token ids of an offline tokenizer."""

from __future__ import annotations

import pytest

from tests.verl.common import SKIP_REASON

pytest.importorskip("verl.trainer.ppo.v1", reason=SKIP_REASON)

import numpy as np
from omegaconf import OmegaConf
from verl.experimental.reward_loop.reward_manager import get_reward_manager_cls

import egca.integrations.verl.hook  # noqa: F401 (registers the egca reward manager)
from egca.credit.types import Mode
from egca.integrations.verl.credit import CREDIT_KEY, decode_credit
from egca.integrations.verl.reward import EGCARewardManager
from egca.train.reward import CodeReward
from tests.tiny import tiny_tokenizer_fixture  # noqa: F401 (pytest fixture)
from tests.verl.common import COMPLETIONS, NO_REF, REF, TASK, fenced
from tests.verl.helpers import response_ids, reward_input


def manager(tok, sandbox, **egca) -> EGCARewardManager:
    cls = get_reward_manager_cls("egca")  # registered by the hook module, as in a Ray worker
    assert cls is EGCARewardManager
    return cls(OmegaConf.create({"egca": egca}), tok, None, sandbox=sandbox)


def run(m: EGCARewardManager, data) -> dict:
    return m.loop.run_until_complete(m.run_single(data))


def test_run_single_scores_routes_and_localizes(sandbox, tiny_tokenizer) -> None:
    tok = tiny_tokenizer
    m = manager(tok, sandbox)
    expected = CodeReward([TASK], sandbox=sandbox)(
        prompts=[None] * 4, completions=COMPLETIONS, task_id=[TASK.task_id] * 4
    )
    assert expected == [1.0, 0.0, 0.0, 0.0]
    outs, credits, ids = [], [], []
    for text in COMPLETIONS:
        ids.append(response_ids(tok, text))
        out = run(m, reward_input(tok, TASK, ids[-1]))
        outs.append(out)
        assert set(out) == {"reward_score", "reward_extra_info"}
        assert set(out["reward_extra_info"]) == {"acc", CREDIT_KEY}
        assert isinstance(out["reward_extra_info"][CREDIT_KEY], str)  # a scalar for verl's numpy stacking
        credits.append(decode_credit(out["reward_extra_info"][CREDIT_KEY]))
    assert [o["reward_score"] for o in outs] == expected  # CodeReward's verdicts
    assert [c.mode for c, _ in credits] == [Mode.CORRECT, Mode.LOGIC, Mode.LOGIC, Mode.SYNTAX]
    assert [x["exec_status"] for _, x in credits] == ["passed", "failed", "failed", "syntax_error"]
    assert all(x["task_id"] == TASK.task_id for _, x in credits)
    # the spans are token indices of the response ids: they decode to the faulty statements
    spans = [tok.decode(i[c.span.start : c.span.end]) for i, (c, _) in zip(ids[1:], credits[1:])]
    assert "total += x * x" in spans[0] and "if" not in spans[0]
    assert "x >= -1" in spans[1] and "total" not in spans[1]
    assert "def f(xs)" in spans[2]
    assert all(c.span.end < len(i) for i, (c, _) in zip(ids[1:], credits[1:]))  # never on the EOS token


def test_without_a_reference_the_response_alone_is_not_localized(sandbox, tiny_tokenizer) -> None:
    """Reference-free task: a failing response has no reference of its own (the trainer's group analysis
    uses a passing sibling instead)."""
    m = manager(tiny_tokenizer, sandbox)
    out = run(m, reward_input(tiny_tokenizer, NO_REF, response_ids(tiny_tokenizer, COMPLETIONS[1])))
    credit, extra = decode_credit(out["reward_extra_info"][CREDIT_KEY])
    assert out["reward_score"] == 0.0 and credit.mode is Mode.LOGIC
    assert credit.span is None and credit.status.startswith("fallback")


def test_fraction_reward_and_the_uniform_baseline(sandbox, tiny_tokenizer) -> None:
    half = fenced(REF.replace("if x > 0", "if x != 0"))  # passes the first test, fails the second
    ids = response_ids(tiny_tokenizer, half)
    out = run(manager(tiny_tokenizer, sandbox, reward="fraction"), reward_input(tiny_tokenizer, TASK, ids))
    assert out["reward_score"] == 0.5 and out["reward_extra_info"]["acc"] == 0.5
    base = run(manager(tiny_tokenizer, sandbox, scheme="uniform"), reward_input(tiny_tokenizer, TASK, ids))
    assert base["reward_score"] == 0.0 and base["reward_extra_info"][CREDIT_KEY] == ""  # no analysis


def test_a_row_without_an_egca_task_is_refused(sandbox, tiny_tokenizer) -> None:
    data = reward_input(tiny_tokenizer, TASK, response_ids(tiny_tokenizer, COMPLETIONS[0]))
    data.non_tensor_batch["extra_info"] = np.array([{"index": 0}], dtype=object)
    with pytest.raises(ValueError, match="egca verl prepare-data"):
        run(manager(tiny_tokenizer, sandbox), data)
    with pytest.raises(ValueError, match=r"egca\.normalizer"):
        manager(tiny_tokenizer, sandbox, normalizer="mean")
