"""TRL's loss through EGCAGRPOTrainer against a hand computation from the model's logits.

Each case builds the batch TRL's generation would hand to the loss, lets the trainer inject the
credit of a localized rollout (span tokens 2-3 of row 0) and of a correct one (row 1), and compares
TRL's loss and every parameter gradient with the objective written out in plain torch: the paper's
per-token advantages (A/|S| on the span, A/T on a correct rollout) on the policy term, and every
other term (KL, entropy bonus, high-entropy token mask, off-policy sequence mask) on the whole
completion, as plain GRPO has them.
"""

from __future__ import annotations

import pytest
import torch

from egca.credit.types import Mode, RolloutCredit, TokenSpan
from egca.tasks.task import Task, TestCase
from egca.train.data import tasks_dataset
from egca.train.reward import CodeReward
from egca.train.trainer import EGCAConfig, EGCAGRPOTrainer

TASK = Task(
    "T/1", "Add one.", "f", "def f(x):\n    return x + 1\n", (TestCase(0, source="assert f(1) == 2"),)
)
A = torch.tensor([-0.8, 0.6])
SPAN = (2, 4)
LENGTHS = (6, 5)  # row 1 ends with a pad token
T = 6
BATCH = {
    "prompt_ids": torch.tensor([[5, 6, 7], [5, 6, 7]]),
    "prompt_mask": torch.ones(2, 3, dtype=torch.long),
    "completion_ids": torch.tensor([[8, 9, 10, 11, 12, 13], [14, 15, 16, 17, 18, 0]]),
    "completion_mask": torch.tensor([[1] * 6, [1] * 5 + [0]]),
}
CREDITS = [
    RolloutCredit(Mode.LOGIC, span=TokenSpan(*SPAN), status="localized"),
    RolloutCredit(Mode.CORRECT),
]
# reference / sampling log-probabilities = the policy's plus these offsets (a KL that is not 0);
# on row 0 the offsets lie outside the span: the span alone is on-policy, the completion is not
OFFSETS = torch.tensor([[0.6, 0.6, 0.0, 0.0, 0.6, 0.6], [0.1, -0.2, 0.3, 0.0, 0.2, 0.0]])


def paper_weights(alpha: float | None = None) -> torch.Tensor:
    """a_{i,t}: A/|S| on the span of row 0 (``soft``: 1 on the span, alpha elsewhere, sum A), A/T on row 1."""
    w = torch.zeros(2, T, dtype=torch.float64)
    if alpha is None:
        w[0, SPAN[0] : SPAN[1]] = A[0] / (SPAN[1] - SPAN[0])
    else:
        raw = torch.full((T,), alpha, dtype=torch.float64)
        raw[SPAN[0] : SPAN[1]] = 1.0
        w[0] = A[0] * raw / raw.sum()
    w[1, : LENGTHS[1]] = A[1] / LENGTHS[1]
    return w


def logps_and_entropies(model: torch.nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """log π(y_t | ...) and the entropy of π at every completion position, from the logits."""
    ids = torch.cat([BATCH["prompt_ids"], BATCH["completion_ids"]], dim=1)
    attention = torch.cat([BATCH["prompt_mask"], BATCH["completion_mask"]], dim=1)
    logits = model(input_ids=ids, attention_mask=attention).logits[:, -T - 1 : -1, :]
    logp_all = torch.log_softmax(logits.float(), dim=-1)
    logp = logp_all.gather(-1, BATCH["completion_ids"].unsqueeze(-1)).squeeze(-1)
    entropy = -(logp_all.exp() * logp_all).sum(-1)
    return logp, entropy


def hand_loss(model: torch.nn.Module, cfg: dict, alpha: float | None = None) -> torch.Tensor:
    """The objective by hand: -Σ_t a_{i,t}·ρ_{i,t} per rollout (ρ = 1 with its gradient), plus
    β·ρ·KL averaged over the whole completion (grpo) or over B·L tokens (dr_grpo), minus the
    entropy bonus over the whole completion; the off-policy mask drops a rollout with A < 0 whose
    mean KL to the sampler over the whole completion exceeds the threshold; ``top_entropy_quantile``
    keeps the policy term of the tokens at or above that quantile of the completions' entropies."""
    logp, entropy = logps_and_entropies(model)
    m = BATCH["completion_mask"].double()
    n = m.sum(dim=1)
    ratio = torch.exp(logp - logp.detach()).double()
    w = paper_weights(alpha)
    keep_token = torch.ones_like(m)
    if cfg.get("top_entropy_quantile", 1.0) < 1.0:
        threshold = torch.quantile(entropy[m.bool()].float(), 1 - cfg["top_entropy_quantile"])
        keep_token = ((entropy >= threshold) & m.bool()).double()
    policy = -(w * ratio * keep_token).sum(dim=1)
    if cfg.get("off_policy_mask_threshold") is not None:
        kl_to_sampler = (OFFSETS.double() * m).sum(dim=1) / n  # log π_sampler - log π
        keep = (A >= 0) | (kl_to_sampler <= cfg["off_policy_mask_threshold"])
        policy = policy * keep.double()
    loss = policy.mean()
    if cfg.get("beta", 0.0):
        d = OFFSETS.double() + logp.detach().double() - logp.double()  # log π_ref - log π
        kl = (torch.exp(d) - d - 1) * ratio * m  # × ρ: TRL's default use_bias_correction_kl
        if cfg.get("loss_type") == "dr_grpo":
            loss = loss + cfg["beta"] * kl.sum() / (2 * T)
        else:
            loss = loss + cfg["beta"] * (kl.sum(dim=1) / n).mean()
    if cfg.get("entropy_coef", 0.0):
        loss = loss - cfg["entropy_coef"] * (entropy.double() * m).sum() / m.sum()
    return loss


def make_trainer(tmp_path, sandbox, peft_config=None, **cfg):
    from tests.tiny import make_tiny_model

    args = EGCAConfig(
        output_dir=str(tmp_path / "r"),
        use_cpu=True,
        report_to="none",
        per_device_train_batch_size=2,
        num_generations=2,
        max_completion_length=T,
        seed=0,
        bf16=False,  # GRPOConfig's default autocasts to bfloat16; the hand computation is float32
        **cfg,
    )
    return EGCAGRPOTrainer(
        model=make_tiny_model(tmp_path),
        reward_funcs=[CodeReward([TASK], sandbox=sandbox)],
        args=args,
        train_dataset=tasks_dataset([TASK]),
        peft_config=peft_config,
    )


def gradients(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    grads = {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None}
    model.zero_grad(set_to_none=True)
    return grads


CASES = {
    "mask route": ({}, "mask"),
    "kl": ({"beta": 0.1}, "per_token"),
    "entropy bonus": ({"entropy_coef": 0.05}, "per_token"),
    "high-entropy tokens": ({"top_entropy_quantile": 0.3}, "per_token"),
    "off-policy mask": ({"off_policy_mask_threshold": 0.1}, "per_token"),
    "conserve_kl_all with kl": (
        {"credit_normalizer": "conserve_kl_all", "loss_type": "dr_grpo", "beta": 0.1},
        "per_token",
    ),
    "soft under conserve": ({"credit_scheme": "soft", "credit_alpha": 0.25}, "per_token"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_trl_loss_and_gradients_match_the_hand_computation(sandbox, tmp_path, case):
    cfg, route = CASES[case]
    trainer = make_trainer(tmp_path, sandbox, **cfg)
    assert trainer.credit_route == route
    model = trainer.model
    model.train()
    trainer.current_gradient_accumulation_steps = 1  # set by Trainer.train() in a real run
    with torch.no_grad():
        logp, _ = logps_and_entropies(model)
    batch = {**BATCH, "advantages": A.clone(), "num_items_in_batch": BATCH["completion_mask"].sum()}
    batch["ref_per_token_logps"] = logp + OFFSETS
    batch["sampling_per_token_logps"] = logp + OFFSETS
    batch, _ = trainer.apply_credit(batch, CREDITS)

    loss = trainer._compute_loss(model, batch)
    loss.backward()
    trl_grads = gradients(model)
    expected = hand_loss(model, {**cfg, "loss_type": trainer.loss_type}, cfg.get("credit_alpha"))
    expected.backward()
    hand_grads = gradients(model)

    assert loss.item() == pytest.approx(expected.item(), rel=1e-4, abs=1e-6)
    assert trl_grads.keys() == hand_grads.keys() and trl_grads
    for name, g in trl_grads.items():
        assert torch.allclose(g, hand_grads[name], rtol=1e-3, atol=1e-6), name
    if case == "conserve_kl_all with kl":  # the advantages TRL gets: L·a_{i,t}
        assert torch.allclose(batch["advantages"].double(), T * paper_weights(), atol=1e-6)


@pytest.mark.parametrize("lora", [False, True], ids=["full", "lora"])
def test_mask_route_gradient_reaches_span_tokens_only(sandbox, tmp_path, lora):
    """The log-probability of a token outside the span gets no gradient; with LoRA only the
    adapters do, and the credit still decides which tokens count."""
    peft_config = None
    if lora:
        from peft import LoraConfig

        peft_config = LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", task_type="CAUSAL_LM")
    trainer = make_trainer(tmp_path, sandbox, peft_config=peft_config)
    captured = {}
    per_token_logps = trainer._get_per_token_logps_and_entropies

    def keep(*a, **k):  # the log-probability of every completion token, as the loss sees it
        logps, entropies, aux = per_token_logps(*a, **k)
        logps.retain_grad()
        captured["logps"] = logps
        return logps, entropies, aux

    trainer._get_per_token_logps_and_entropies = keep
    trainer.model.train()
    trainer.current_gradient_accumulation_steps = 1
    batch, _ = trainer.apply_credit({**BATCH, "advantages": A.clone()}, CREDITS)
    trainer._compute_loss(trainer.model, batch).backward()
    grad = captured["logps"].grad
    # d loss / d log π_t = -a_{i,t} / B: the paper's weights, by hand
    assert torch.allclose(grad.double(), -paper_weights() / 2, atol=1e-7)
    named = dict(trainer.model.named_parameters())
    with_grad = {n for n, p in named.items() if p.grad is not None and p.grad.abs().sum() > 0}
    if lora:
        assert with_grad and all("lora_" in n for n in with_grad)
        assert not any(p.requires_grad for n, p in named.items() if "lora_" not in n)
    else:
        assert any("embed_tokens" in n for n in with_grad) and any("mlp" in n for n in with_grad)
