"""EGCAGRPOTrainer: injection into TRL's batch, construction-time checks, CPU training on scripted batches."""

from __future__ import annotations

import json

import pytest
import torch

from egca.credit.operator import token_advantages
from egca.credit.types import Mode, RolloutCredit, TokenSpan
from egca.train.reward import CodeReward
from egca.train.trainer import EGCAConfig, EGCAGRPOTrainer, inject
from tests.scripted import MINUS, NEGATIVES, REF, SQUARES, TASK, CountingSandbox, scripted_rollouts


def _batch():
    mask = torch.tensor([[1, 1, 1, 1, 0], [1, 1, 1, 1, 1]])
    adv = torch.tensor([-1.0, 1.0])
    credits = [
        RolloutCredit(Mode.LOGIC, span=TokenSpan(1, 3), status="localized"),
        RolloutCredit(Mode.CORRECT),
    ]
    return mask, adv, credits


def test_inject_routes_with_a_tool_mask():
    """Mask route: the span joins TRL's tool mask and the token count is recounted from it;
    per-token route: row i's advantages are |m_i|·a_{i,t}, |m_i| counted without tool tokens."""
    mask, adv, credits = _batch()
    tool = torch.tensor([[1, 1, 0, 1, 1], [1, 1, 1, 0, 1]])
    ta = token_advantages(adv, mask, credits, scheme="egca", normalizer="conserve")
    out = inject(
        {"completion_mask": mask, "advantages": adv, "tool_mask": tool}, ta, "mask", gather=lambda x: x
    )
    assert out["tool_mask"].tolist() == [[0, 1, 0, 0, 0], [1, 1, 1, 0, 1]]
    assert int(out["num_items_in_batch"]) == 1 + 4
    assert torch.equal(out["advantages"], adv)
    ta = token_advantages(adv, mask, credits, scheme="egca", normalizer="conserve", route="per_token")
    out = inject(
        {"completion_mask": mask, "advantages": adv, "tool_mask": tool}, ta, "per_token", gather=lambda x: x
    )
    # row 0: A=-1 on span tokens 1-2 (-0.5 each), 3 loss tokens; row 1: 1/5 per token, 4 loss tokens
    expected = [[0, -1.5, -1.5, 0, 0], [0.8] * 5]
    assert torch.allclose(out["advantages"], torch.tensor(expected)) and torch.equal(out["tool_mask"], tool)


def scripted_trainer(tmp_path, sandbox, programs, max_steps=2, truncated=(), **cfg):
    """A tiny model trained on ``TASK`` with the scripted completions ``programs`` (one group)."""
    from egca.train.data import tasks_dataset
    from tests.tiny import make_tiny_model

    args = EGCAConfig(
        output_dir=str(tmp_path / "run"),
        per_device_train_batch_size=4,
        num_generations=4,
        max_completion_length=128,
        max_steps=max_steps,
        use_cpu=True,
        report_to="none",
        logging_steps=1,
        save_strategy="no",
        seed=0,
        learning_rate=1e-3,
        **cfg,
    )
    trainer = EGCAGRPOTrainer(
        model=make_tiny_model(tmp_path),
        reward_funcs=[CodeReward([TASK], sandbox=sandbox)],
        args=args,
        train_dataset=tasks_dataset([TASK] * 4, conversational=False),
        rollout_func=scripted_rollouts(programs, truncated),
    )
    trainer.rollout_log = tmp_path / "rollouts.jsonl"
    return trainer


def rollouts(trainer):
    return [json.loads(line) for line in trainer.rollout_log.read_text().splitlines()]


@pytest.mark.slow
@pytest.mark.parametrize("scheme", ["uniform", "egca"])
def test_training_steps_on_cpu(sandbox, tmp_path, scheme):
    """Two real steps on a group with one correct and three logic-mode rollouts: egca localizes the
    three, puts their advantage on the wrong statement only, and the weights change."""
    trainer = scripted_trainer(tmp_path, sandbox, [REF, SQUARES, NEGATIVES, MINUS], credit_scheme=scheme)
    before = {n: p.detach().clone() for n, p in trainer.model.named_parameters()}
    trainer.train()
    steps = [h for h in trainer.state.log_history if "time/execution" in h]
    assert len(steps) == 2 and all(h["time/execution"] > 0 for h in steps)
    for h in steps:  # every phase timed; forward/backward excludes generation, which step_time includes
        assert h["time/forward_backward"] > 0 and h["time/optimizer"] > 0
        assert h["time/forward_backward"] + h["time/generation_and_logps"] <= h["step_time"] + 1e-6
        assert h["reward"] == pytest.approx(0.25) and h["egca/pass_rate"] == pytest.approx(0.25)
    assert any(not torch.equal(p, before[n]) for n, p in trainer.model.named_parameters())
    logs = [h for h in trainer.state.log_history if "egca/localized" in h]
    if scheme == "uniform":  # the GRPO baseline: same execution, no analysis
        assert not logs and all(h["time/egca_analysis"] == 0 for h in steps)
        return
    assert len(logs) == 2 and all(h["time/egca_analysis"] > 0 for h in steps)
    for h in logs:
        assert h["egca/localized"] == pytest.approx(0.75) and h["egca/mode_logic"] == pytest.approx(0.75)
        assert h["egca/mode_correct"] == pytest.approx(0.25) and h["egca/fallback"] == 0
        assert 0 < h["egca/span_share"] < 0.5 and 0 < h["egca/loss_token_share"] < 1
    bugs = {SQUARES: "x * x", NEGATIVES: "x >= -1", MINUS: "total -= x"}
    for r in rollouts(trainer):
        credited = "".join(t for t, a in zip(r["tokens"], r["advantages"]) if a != 0)
        if r["program"] == REF:
            assert r["mode"] == "correct" and all(a > 0 for a in r["advantages"])
        else:  # the negative advantage sits on the divergent statement, nowhere else
            assert r["mode"] == "logic" and r["credit_status"] == "localized"
            assert bugs[r["program"]] in credited and "return total" not in credited
            assert sum(r["advantages"]) == pytest.approx(-0.5, abs=1e-3)


@pytest.mark.slow
def test_random_span_draws_anew_at_every_step(sandbox, tmp_path):
    """random_span is a random control: the same rollout gets other spans at other steps."""
    trainer = scripted_trainer(
        tmp_path, sandbox, [REF, SQUARES, NEGATIVES, MINUS], max_steps=3, credit_scheme="random_span"
    )
    trainer.train()
    spans: dict[str, set] = {}
    for r in rollouts(trainer):
        if r["program"] != REF:
            assert r["credit_status"] == "localized"
            spans.setdefault(r["program"], set()).add(
                tuple(i for i, a in enumerate(r["advantages"]) if a != 0)
            )
    assert len(spans) == 3 and any(len(s) > 1 for s in spans.values())


@pytest.mark.slow
def test_a_group_with_equal_rewards_is_not_analysed(sandbox, tmp_path):
    """Every rollout fails: A = 0, so no localizer run (the sandbox runs only the reward's four
    programs), modes still logged, and the mask left whole; a mixed group is analysed."""
    counting = CountingSandbox(sandbox)
    trainer = scripted_trainer(tmp_path, counting, [SQUARES, NEGATIVES, MINUS, SQUARES], max_steps=1)
    trainer.train()
    assert counting.jobs == 4
    (h,) = [h for h in trainer.state.log_history if "egca/localized" in h]
    assert h["egca/not_analysed"] == 1 and h["egca/localized"] == 0 and h["egca/fallback"] == 0
    assert h["egca/mode_logic"] == 1 and h["egca/loss_token_share"] == 1
    assert {r["credit_status"] for r in rollouts(trainer)} == {"fallback:zero_advantage"}
    mixed = scripted_trainer(tmp_path / "mixed", counting, [REF, SQUARES, NEGATIVES, MINUS], max_steps=1)
    counting.jobs = 0
    mixed.train()
    assert counting.jobs > 4  # the three logic-mode rollouts were localized in the sandbox


@pytest.mark.slow
def test_truncated_completions_out_of_the_loss_are_routed_not_localized(sandbox, tmp_path):
    """With mask_truncated_completions TRL zeroes a truncated row's mask: egca routes it on the ids
    it generated (its mode is logged) without localizing it, and maps the other rows' spans."""
    trainer = scripted_trainer(
        tmp_path,
        sandbox,
        [REF, SQUARES, NEGATIVES, MINUS],
        max_steps=1,
        truncated=(1,),
        mask_truncated_completions=True,
    )
    trainer.train()
    (h,) = [h for h in trainer.state.log_history if "egca/localized" in h]
    assert h["egca/not_analysed"] == 0.25 and h["egca/localized"] == 0.5 and h["egca/unmapped"] == 0
    assert h["egca/mode_logic"] == 0.75
    by_program = {r["program"]: r for r in rollouts(trainer)}
    cut = by_program[SQUARES]
    assert cut["mode"] == "logic" and cut["credit_status"] == "fallback:empty"
    assert cut["status"] == "fallback:not_in_loss" and cut["span"] is None
    assert "x * x" in "".join(cut["tokens"]) and not any(cut["advantages"])
    assert by_program[MINUS]["credit_status"] == by_program[NEGATIVES]["credit_status"] == "localized"


BAD_SETTINGS = {  # setting -> a fragment of the error it gets
    "loss_type": ({"loss_type": "dapo"}, "loss_type='grpo'"),
    "unknown scheme": ({"credit_scheme": "first_error"}, "unknown credit_scheme 'first_error'"),
    "unknown normalizer": ({"credit_normalizer": "mean"}, "unknown credit_normalizer"),
    "unknown references": ({"credit_references": "gold"}, "credit_references='gold'"),
    "engine and soft": ({"credit_normalizer": "engine", "credit_scheme": "soft"}, "not constant"),
    "engine and kl": ({"credit_normalizer": "engine", "beta": 0.04}, "beta=0.04"),
    "engine and entropy": ({"credit_normalizer": "engine", "entropy_coef": 0.01}, "entropy bonus"),
    "engine, off-policy": ({"credit_normalizer": "engine", "off_policy_mask_threshold": 0.5}, "off_policy"),
    "gspo": ({"importance_sampling_level": "sequence"}, "GSPO"),
    "alpha of egca": ({"credit_alpha": 0.3}, "credit_alpha=0.3 is a parameter of the soft scheme"),
    "lam of soft": ({"credit_scheme": "soft", "credit_lam": 0.3}, "prefix_credit"),
    "alpha range": ({"credit_scheme": "soft", "credit_alpha": 1.5}, r"\[0, 1\]"),
    "negative lam": ({"credit_scheme": "prefix_credit", "credit_lam": -1.0}, ">= 0"),
    "unknown localizer": ({"credit_localizer": "x"}, "unknown localizer"),
    "unknown abstention": ({"credit_abstain": "skip"}, "credit_abstain='skip'"),
    "no variants": ({"credit_max_variants": 0}, "credit_max_variants"),
}


@pytest.mark.parametrize("case", list(BAD_SETTINGS))
def test_bad_credit_settings_are_refused_by_config_and_settings(tmp_path, case):
    from egca.train.run import TrainSettings

    values, message = BAD_SETTINGS[case]
    common = {"output_dir": str(tmp_path), "use_cpu": True, "report_to": "none"}
    with pytest.raises(ValueError, match=message):
        EGCAConfig(**common, **values)
    credit = {k: v for k, v in values.items() if k.startswith("credit_")}
    extra = {k: v for k, v in values.items() if not k.startswith("credit_")}
    with pytest.raises(ValueError, match=message):
        TrainSettings(**credit, extra=extra)


def test_good_credit_settings_are_accepted(tmp_path):
    from egca.train.run import TrainSettings, training_config

    common = {"output_dir": str(tmp_path), "use_cpu": True, "report_to": "none"}
    ok = EGCAConfig(**common)
    assert ok.loss_type == "grpo" and ok.credit_scheme == "egca" and ok.credit_normalizer == "conserve"
    EGCAConfig(**common, credit_scheme="soft", credit_alpha=0.2, beta=0.04)
    EGCAConfig(**common, credit_scheme="uniform", importance_sampling_level="sequence")
    EGCAConfig(**common, credit_normalizer="engine", loss_type="dapo")
    settings = TrainSettings(
        credit_scheme="prefix_credit", credit_lam=0.25, credit_normalizer="conserve_kl_all"
    )
    config = training_config(settings, evaluate=False)
    assert (config.credit_lam, config.credit_alpha, config.loss_type) == (0.25, None, "dr_grpo")


def test_trainer_refuses_before_loading_a_model(sandbox, tmp_path):
    tasks = [TASK]
    args = EGCAConfig(output_dir=str(tmp_path / "a"), use_cpu=True, report_to="none")
    args.credit_scheme = "first_error"  # set after the config's own check
    with pytest.raises(ValueError, match="unknown credit_scheme"):
        EGCAGRPOTrainer(
            model=str(tmp_path / "no-such-model"),
            reward_funcs=[CodeReward(tasks, sandbox=sandbox)],
            args=args,
        )
    args.credit_scheme = "egca"
    with pytest.raises(ValueError, match="CodeReward"):
        EGCAGRPOTrainer(
            model=str(tmp_path / "no-such-model"),
            reward_funcs=[lambda **k: [0.0] * len(k["completions"])],
            args=args,
        )
