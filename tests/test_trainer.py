"""EGCAGRPOTrainer: the injection into TRL's batch, and real CPU training steps (uniform and egca)."""

from __future__ import annotations

import pytest
import torch

from egca.credit.operator import token_advantages
from egca.credit.types import Mode, RolloutCredit, TokenSpan
from egca.tasks import load_tasks
from egca.train.reward import CodeReward
from egca.train.trainer import EGCAConfig, EGCAGRPOTrainer, inject


def _batch():
    mask = torch.tensor([[1, 1, 1, 1, 0], [1, 1, 1, 1, 1]])
    adv = torch.tensor([-1.0, 1.0])
    credits = [
        RolloutCredit(Mode.LOGIC, span=TokenSpan(1, 3), status="localized"),
        RolloutCredit(Mode.CORRECT),
    ]
    return mask, adv, credits


def test_conserve_route_masks_numerator_and_denominator_together():
    mask, adv, credits = _batch()
    ta = token_advantages(adv, mask, credits, scheme="egca", normalizer="conserve")
    out = inject(
        {"completion_mask": mask, "advantages": adv, "num_items_in_batch": mask.sum()},
        ta,
        "conserve",
        gather=lambda x: x,
    )
    assert out["tool_mask"].tolist() == [[0, 1, 1, 0, 0], [1, 1, 1, 1, 1]]
    assert int(out["num_items_in_batch"]) == 2 + 5
    # TRL's grpo aggregation (per sequence Σ m·ℓ / Σ m) on this mask gives exactly a_{i,t}:
    m = (mask * out["tool_mask"]).float()
    effective = adv.unsqueeze(1) * m / m.sum(dim=1, keepdim=True)
    assert torch.allclose(effective.double(), ta.per_token.double())
    with_tool = inject(
        {"completion_mask": mask, "advantages": adv, "tool_mask": torch.tensor([[1, 1, 0, 1, 1]] * 2)},
        ta,
        "conserve",
        gather=lambda x: x,
    )
    assert with_tool["tool_mask"].tolist()[0] == [0, 1, 0, 0, 0]


def test_conserve_kl_all_route_uses_per_token_advantages():
    mask, adv, credits = _batch()
    ta = token_advantages(adv, mask, credits, scheme="egca", normalizer="conserve_kl_all")
    out = inject({"completion_mask": mask, "advantages": adv}, ta, "conserve_kl_all", gather=lambda x: x)
    assert out["advantages"].shape == (2, 5) and "tool_mask" not in out


@pytest.mark.slow
@pytest.mark.parametrize("scheme", ["uniform", "egca"])
def test_training_steps_on_cpu(sandbox, tmp_path, scheme):
    from egca.train.data import tasks_dataset
    from tests.tiny import make_tiny_model

    tasks = load_tasks("humaneval", limit=2)
    reward = CodeReward(tasks, sandbox=sandbox)
    args = EGCAConfig(
        output_dir=str(tmp_path / "run"),
        per_device_train_batch_size=4,
        num_generations=4,
        max_completion_length=8,
        max_steps=2,
        use_cpu=True,
        report_to="none",
        logging_steps=1,
        save_strategy="no",
        seed=0,
        credit_scheme=scheme,
    )
    trainer = EGCAGRPOTrainer(
        model=make_tiny_model(tmp_path), reward_funcs=[reward], args=args, train_dataset=tasks_dataset(tasks)
    )
    trainer.train()
    steps = [h for h in trainer.state.log_history if "time/execution" in h]
    assert len(steps) == 2 and all(h["time/execution"] > 0 for h in steps)
    for h in steps:  # every phase timed; forward/backward excludes generation, which step_time includes
        assert h["time/forward_backward"] > 0 and h["time/optimizer"] > 0
        assert h["time/forward_backward"] + h["time/generation_and_logps"] <= h["step_time"] + 1e-6
    logs = [h for h in trainer.state.log_history if "egca/localized" in h]
    if scheme == "uniform":  # the GRPO baseline: same execution, no analysis
        assert not logs and all(h["time/egca_analysis"] == 0 for h in steps)
    else:
        assert len(logs) == 2 and all(h["time/egca_analysis"] > 0 for h in steps)
        shares = sum(v for k, v in logs[0].items() if k.startswith("egca/mode_"))
        assert shares == pytest.approx(1.0)  # every rollout routed to exactly one mode
        for h in logs:  # localized rollouts carry a span: its mean share of their tokens is logged
            assert h["egca/localized"] == 0 or 0 < h["egca/span_share"] <= 1


def test_config_and_reward_are_checked(sandbox, tmp_path):
    from egca.train.data import tasks_dataset
    from tests.tiny import make_tiny_model

    tasks = load_tasks("humaneval", limit=1)
    model = make_tiny_model(tmp_path)
    bad = EGCAConfig(
        output_dir=str(tmp_path / "a"),
        loss_type="dapo",
        use_cpu=True,
        report_to="none",
        per_device_train_batch_size=2,
        num_generations=2,
        max_completion_length=4,
    )
    with pytest.raises(ValueError, match="loss_type"):
        EGCAGRPOTrainer(
            model=model,
            reward_funcs=[CodeReward(tasks, sandbox=sandbox)],
            args=bad,
            train_dataset=tasks_dataset(tasks),
        )
    ok = EGCAConfig(
        output_dir=str(tmp_path / "b"),
        use_cpu=True,
        report_to="none",
        per_device_train_batch_size=2,
        num_generations=2,
        max_completion_length=4,
    )
    assert ok.loss_type == "grpo" and ok.credit_scheme == "egca" and ok.credit_normalizer == "conserve"
    assert ok.credit_localizer == "auto" and ok.credit_abstain == "uniform"
    for field, value, match in (
        ("credit_abstain", "skip", "credit_abstain"),
        ("credit_localizer", "x", "localizer"),
    ):
        bad_credit = EGCAConfig(
            output_dir=str(tmp_path / "c"),
            use_cpu=True,
            report_to="none",
            per_device_train_batch_size=2,
            num_generations=2,
            max_completion_length=4,
            **{field: value},
        )
        with pytest.raises(ValueError, match=match):
            EGCAGRPOTrainer(
                model=model,
                reward_funcs=[CodeReward(tasks, sandbox=sandbox)],
                args=bad_credit,
                train_dataset=tasks_dataset(tasks),
            )
    with pytest.raises(ValueError, match="CodeReward"):
        EGCAGRPOTrainer(
            model=model,
            reward_funcs=[lambda **k: [0.0] * len(k["completions"])],
            args=ok,
            train_dataset=tasks_dataset(tasks),
        )


@pytest.mark.parametrize("lora", [False, True], ids=["full", "lora"])
def test_loss_and_gradients_follow_the_credit_mask(sandbox, tmp_path, lora):
    """On a fixed batch: TRL's loss with the injected mask equals the hand-computed value, tokens
    outside the span get no gradient, span tokens do; with LoRA only the adapters get gradients."""
    from egca.train.data import tasks_dataset
    from tests.tiny import make_tiny_model

    peft_config = None
    if lora:
        from peft import LoraConfig

        peft_config = LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", task_type="CAUSAL_LM")

    tasks = load_tasks("humaneval", limit=1)
    args = EGCAConfig(
        output_dir=str(tmp_path / "r"),
        use_cpu=True,
        report_to="none",
        per_device_train_batch_size=2,
        num_generations=2,
        max_completion_length=6,
        seed=0,
    )
    trainer = EGCAGRPOTrainer(
        model=make_tiny_model(tmp_path),
        reward_funcs=[CodeReward(tasks, sandbox=sandbox)],
        args=args,
        train_dataset=tasks_dataset(tasks),
        peft_config=peft_config,
    )
    mask = torch.ones(2, 6, dtype=torch.long)
    adv = torch.tensor([-0.8, 0.6])
    credits = [
        RolloutCredit(Mode.LOGIC, span=TokenSpan(2, 4), status="localized"),
        RolloutCredit(Mode.CORRECT),
    ]
    ta = token_advantages(adv, mask, credits, scheme="egca", normalizer="conserve")
    batch = inject(
        {
            "prompt_ids": torch.tensor([[5, 6, 7], [5, 6, 7]]),
            "prompt_mask": torch.ones(2, 3, dtype=torch.long),
            "completion_ids": torch.tensor([[8, 9, 10, 11, 12, 13], [14, 15, 16, 17, 18, 19]]),
            "completion_mask": mask,
            "advantages": adv,
        },
        ta,
        "conserve",
        gather=lambda x: x,
    )
    captured = {}
    per_token_logps = trainer._get_per_token_logps_and_entropies

    def keep(*a, **k):  # the log-probability of every completion token, as the loss sees it
        logps, entropies, aux = per_token_logps(*a, **k)
        logps.retain_grad()
        captured["logps"] = logps
        return logps, entropies, aux

    trainer._get_per_token_logps_and_entropies = keep
    trainer.model.train()
    trainer.current_gradient_accumulation_steps = 1  # set by Trainer.train() in a real run
    loss = trainer._compute_loss(trainer.model, batch)
    # ratio 1 and beta 0: each sequence contributes -A_i (mean over its masked tokens), then the mean
    assert loss.item() == pytest.approx(-adv.mean().item(), abs=1e-5)
    loss.backward()
    grad = captured["logps"].grad
    assert (grad[0, [0, 1, 4, 5]] == 0).all() and (grad[0, 2:4] != 0).all()
    assert torch.allclose(grad[0, 2:4], torch.full((2,), 0.8 / 2 / 2))  # -(A/|S|)/B per span token
    assert (grad[1] != 0).all()  # the uniform rollout: every token
    named = dict(trainer.model.named_parameters())
    with_grad = {n for n, p in named.items() if p.grad is not None and p.grad.abs().sum() > 0}
    if lora:
        assert with_grad and all("lora_" in n for n in with_grad)
        assert not any(p.requires_grad for n, p in named.items() if "lora_" not in n)
    else:
        assert any("embed_tokens" in n for n in with_grad) and any("mlp" in n for n in with_grad)
