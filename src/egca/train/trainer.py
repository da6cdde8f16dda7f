"""EGCA on TRL: a thin ``GRPOTrainer`` subclass and its config.

The subclass calls the parent's ``_generate_and_score_completions``, then routes and localizes
each rollout from the executions the :class:`~egca.train.reward.CodeReward` already ran (never a
second run of the tests), builds the token-level advantages and injects them:

- ``conserve`` (default, ``loss_type="grpo"``): the mask route when nothing else reads TRL's loss
  mask: ``tool_mask`` becomes ``tool_mask × span mask`` and ``num_items_in_batch`` is recomputed
  from the same mask on every rank (numerator and denominator from one mask), which reproduces the
  paper's operator exactly. With the KL term, the entropy bonus, ``top_entropy_quantile`` or the
  off-policy mask on (or the ``soft`` / ``prefix_credit`` schemes), the per-token route instead:
  advantages ``|m_i|·a_{i,t}``, the mask unchanged, so those terms stay on the whole completion
  (:mod:`egca.train.credit_settings`).
- ``conserve_kl_all`` (``loss_type="dr_grpo"``): per-token advantages ``L·a_{i,t}``; KL stays on all tokens.
- ``engine``: the mask only, with whatever aggregation the loss type has (the mask-only variant);
  refused with a term that reads the mask.

Rollouts whose advantage is 0 (every rollout of a group whose rewards are all equal) and rollouts
TRL leaves out of the loss (``mask_truncated_completions``) are routed to their mode but not
localized: no sandbox run, no span, the mask left alone (``egca/not_analysed``). Random draws
(``random_span``) are seeded by (seed, phase, global step, generation batch, process, rollout).

The ``uniform`` scheme is plain GRPO with identical execution and no analysis (the baseline of
``egca bench overhead``). Each step logs ``time/generation_and_logps``, ``time/execution``,
``time/egca_analysis``, ``time/forward_backward`` and ``time/optimizer``; TRL logs ``step_time``
(generation and forward/backward, without the optimizer step).
"""

from __future__ import annotations

import json
import time
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from transformers import TrainerCallback
from trl import GRPOConfig, GRPOTrainer

from egca.credit.abstain import abstain_rate
from egca.credit.abstain import apply as apply_abstention
from egca.credit.assign import analyze_group
from egca.credit.backends import BACKENDS, DEFAULT_BACKEND, make_localizer
from egca.credit.constraints import ConstraintConfig
from egca.credit.counterfactual import RepairBudget
from egca.credit.llm import LLMConfig
from egca.credit.operator import TokenAdvantages, token_advantages
from egca.credit.schemes import SCHEMES
from egca.credit.types import Mode
from egca.execution.result import Status
from egca.train.credit_settings import check_credit_settings, check_localizer_settings, scheme_kwargs
from egca.train.reward import CodeReward

# rollouts routed but not localized: no span could change their update
ZERO_ADVANTAGE = "zero_advantage"  # A = 0 (every rollout of a group whose rewards are all equal)
NOT_IN_LOSS = "not_in_loss"  # TRL masked the whole completion (mask_truncated_completions)
IDLE = {"fallback:" + ZERO_ADVANTAGE, "fallback:empty"}  # the operator's statuses of those rollouts


@dataclass
class EGCAConfig(GRPOConfig):
    """``GRPOConfig`` plus the credit settings (docs/method.md, "Normalizers", "Credit schemes")."""

    loss_type: str = field(default="grpo", metadata={"help": "grpo for the conserve normalizer"})
    credit_scheme: str = field(default="egca", metadata={"help": f"one of {sorted(SCHEMES)}"})
    credit_normalizer: str = field(
        default="conserve", metadata={"help": "conserve, conserve_kl_all or engine"}
    )
    credit_constraints: bool = field(
        default=True, metadata={"help": "constraint checks and comparability gate"}
    )
    credit_references: str = field(
        default="curated+siblings",
        metadata={"help": "reference sources: curated+siblings, curated, or siblings"},
    )
    credit_max_siblings: int = field(
        default=2, metadata={"help": "passing rollouts used as extra references"}
    )
    credit_alpha: float | None = field(
        default=None, metadata={"help": "soft scheme: weight of the tokens outside the span (default 0.5)"}
    )
    credit_lam: float | None = field(
        default=None, metadata={"help": "prefix_credit scheme: credit λ·|A| of the prefix (default 0.5)"}
    )
    credit_localizer: str = field(
        default=DEFAULT_BACKEND, metadata={"help": f"localizer backend: one of {', '.join(BACKENDS)}"}
    )
    credit_abstain: str = field(
        default="uniform",
        metadata={"help": "a rollout the localizer abstains on: uniform (GRPO credit) or zero (no credit)"},
    )
    credit_max_variants: int = field(default=400, metadata={"help": "repair search: variants per rollout"})
    credit_max_seconds: float = field(default=2.0, metadata={"help": "repair search: seconds per rollout"})
    credit_llm_model: str | None = field(
        default=None, metadata={"help": "llm localizer: model folder or name"}
    )
    credit_llm_url: str | None = field(default=None, metadata={"help": "llm localizer: server base URL"})

    def __post_init__(self) -> None:
        super().__post_init__()
        check_credit_settings(**credit_fields(self), loss_type=self.loss_type, config=self)
        check_localizer_settings(self)


def credit_fields(config: Any) -> dict[str, Any]:
    """The credit settings of a config (``GRPOConfig`` without them: egca's defaults)."""
    return {
        "scheme": getattr(config, "credit_scheme", "egca"),
        "normalizer": getattr(config, "credit_normalizer", "conserve"),
        "references": getattr(config, "credit_references", "curated+siblings"),
        "alpha": getattr(config, "credit_alpha", None),
        "lam": getattr(config, "credit_lam", None),
    }


def decode_each(tokenizer: Any, ids: list[int]) -> list[str]:
    """Each token's text, in one batch call (the Rust tokenizer's when there is one)."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None and not getattr(tokenizer, "clean_up_tokenization_spaces", False):
        return list(backend.decode_batch([[t] for t in ids], skip_special_tokens=False))
    return list(tokenizer.batch_decode([[t] for t in ids]))


def inject(out: dict[str, Any], ta: TokenAdvantages, route: str, gather: Any) -> dict[str, Any]:
    """Put the token advantages into TRL's output dict by ``route`` (``"mask"`` or ``"per_token"``)."""
    completion_mask = out["completion_mask"]
    if route == "per_token":
        if ta.normalizer == "conserve_kl_all":  # dr_grpo divides by B·L: advantages L·a
            out["advantages"] = ta.engine_advantages.to(out["advantages"].dtype)
            return out
        # grpo divides row i by its loss-mask count (tool tokens excluded): advantages |m_i|·a
        tool = out.get("tool_mask")
        loss_mask = completion_mask if tool is None else completion_mask * tool
        counts = loss_mask.sum(dim=1, keepdim=True).clamp(min=1).to(ta.per_token.dtype)
        out["advantages"] = (counts * ta.per_token).to(out["advantages"].dtype)
        return out
    span = ta.engine_mask.to(completion_mask.dtype)
    tool = out.get("tool_mask")
    out["tool_mask"] = span if tool is None else tool * span
    loss_mask = completion_mask * out["tool_mask"]
    out["num_items_in_batch"] = gather(loss_mask.sum()).sum()  # a collective: every rank calls it
    return out


class EGCAGRPOTrainer(GRPOTrainer):
    """``GRPOTrainer`` with Execution-Grounded Credit Assignment. Needs a :class:`CodeReward`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        given = kwargs.get("args", args[2] if len(args) > 2 else None)
        if given is not None:  # refuse a bad combination before any model is loaded
            check_credit_settings(**credit_fields(given), loss_type=given.loss_type, config=given)
            check_localizer_settings(given)
        funcs = kwargs.get("reward_funcs", args[1] if len(args) > 1 else None)
        funcs = funcs if isinstance(funcs, list) else [funcs]
        if not any(isinstance(f, CodeReward) for f in funcs):
            raise ValueError("EGCAGRPOTrainer needs an egca.train.reward.CodeReward among reward_funcs")
        super().__init__(*args, **kwargs)
        config: Any = self.args
        fields = credit_fields(config)
        self.credit_scheme = fields["scheme"]
        self.credit_normalizer = fields["normalizer"]
        self.credit_references = fields["references"]
        # "mask" or "per_token": how the token advantages reach TRL's loss (credit_settings)
        self.credit_route = check_credit_settings(**fields, loss_type=config.loss_type, config=config)
        self.credit_kwargs = scheme_kwargs(self.credit_scheme, fields["alpha"], fields["lam"])
        self.code_reward = next(f for f in self.reward_funcs if isinstance(f, CodeReward))
        self._draw_key: tuple[str, int] = ("", -1)  # (phase, global step) of the last generation batch
        self._draws_in_step = 0
        self._unmapped_warned = False
        constraints = ConstraintConfig() if getattr(config, "credit_constraints", True) else None
        self.credit_abstain = getattr(config, "credit_abstain", "uniform")
        llm_model, llm_url = (
            getattr(config, "credit_llm_model", None),
            getattr(config, "credit_llm_url", None),
        )
        self.localizer = make_localizer(
            getattr(config, "credit_localizer", DEFAULT_BACKEND),
            self.code_reward.sandbox,
            constraints,
            max_siblings=getattr(config, "credit_max_siblings", 2),
            budget=RepairBudget(
                max_variants=getattr(config, "credit_max_variants", 400),
                max_seconds=getattr(config, "credit_max_seconds", 2.0),
            ),
            llm=LLMConfig(model=llm_model, url=llm_url) if (llm_model or llm_url) else None,
        )
        # total time spent in _generate_and_score_completions (training_step subtracts it)
        self._generation_s = 0.0
        self.add_callback(_OptimizerTimer(self))

    def training_step(self, model: Any, inputs: Any, num_items_in_batch: Any = None) -> torch.Tensor:
        """TRL's step, timed: ``time/forward_backward`` is the step without its generation phase."""
        t0, generation_before = time.perf_counter(), self._generation_s
        loss = super().training_step(model, inputs, num_items_in_batch)
        spent = time.perf_counter() - t0 - (self._generation_s - generation_before)
        self._metrics["train"]["time/forward_backward"].append(spent)
        return loss

    def _phase(self) -> str:
        """``"train"`` or ``"eval"``: the key of TRL's metric buffers."""
        return "train" if self.model is not None and self.model.training else "eval"

    def _generate_and_score_completions(self, inputs: list[dict[str, Any]]) -> dict[str, Any]:
        t0 = time.perf_counter()
        try:
            return self._generate_score_and_assign(inputs, t0)
        finally:
            self._generation_s += time.perf_counter() - t0

    def _generate_score_and_assign(self, inputs: list[dict[str, Any]], t0: float) -> dict[str, Any]:
        out = super()._generate_and_score_completions(inputs)
        t1 = time.perf_counter()
        mode = self._phase()
        self._metrics[mode]["time/execution"].append(self.code_reward.last_seconds)
        self._metrics[mode]["time/generation_and_logps"].append(t1 - t0 - self.code_reward.last_seconds)
        scored = self.code_reward.last
        if len(scored) != len(inputs):
            raise RuntimeError(
                f"the CodeReward scored {len(scored)} completions for a batch of {len(inputs)}: "
                "it must be called on every batch (is it among reward_funcs, with a nonzero weight?)"
            )
        passed, n = self._global([sum(s.result.status is Status.PASSED for s in scored), len(scored)])
        self._metrics[mode]["egca/pass_rate"].append(passed / n if n else 0.0)
        if self.credit_scheme == "uniform":
            # GRPO baseline: identical execution, no analysis (so that overhead is measured honestly)
            self._metrics[mode]["time/egca_analysis"].append(0.0)
            if self.rollout_log is not None:
                self._write_plain_rollouts(out, scored, mode)
            return out
        out = self._assign_credit(out, inputs, scored)
        self._metrics[mode]["time/egca_analysis"].append(time.perf_counter() - t1)
        return out

    def _assign_credit(
        self, out: dict[str, Any], inputs: list[dict[str, Any]], scored: list[Any]
    ) -> dict[str, Any]:
        mask = out["completion_mask"]
        ids = [self._generated_ids(out, i) for i in range(len(inputs))]
        # a span cannot change the update of a rollout with A = 0 or one TRL left out of the loss
        # (mask_truncated_completions): route those, do not localize them
        idle = [
            NOT_IN_LOSS if n == 0 else ZERO_ADVANTAGE if a == 0 else None
            for a, n in zip(out["advantages"].tolist(), mask.sum(dim=1).tolist())
        ]
        groups: dict[str, list[int]] = {}
        for i, s in enumerate(scored):
            groups.setdefault(s.task_id, []).append(i)
        credits: list[Any] = [None] * len(inputs)
        analyses_by_row: list[Any] = [None] * len(inputs)
        for task_id, rows in groups.items():
            task = self.code_reward.tasks[task_id]
            analyses = analyze_group(
                self.localizer,
                task,
                [scored[i].completion for i in rows],
                [ids[i] for i in rows],
                self.processing_class,
                [scored[i].result for i in rows],
                references=self.credit_references,
                skip=[idle[i] for i in rows],
            )
            for i, a in zip(rows, analyses):
                credits[i] = a.credit
                analyses_by_row[i] = a
        out["advantages"] = apply_abstention(out["advantages"], credits, self.credit_abstain)
        out, ta = self.apply_credit(out, credits)
        self._log_credit(credits, ta, mask)
        if self.rollout_log is not None:
            self._write_rollouts(analyses_by_row, ids, ta, self._phase())
        return out

    def apply_credit(self, out: dict[str, Any], credits: list[Any]) -> tuple[dict[str, Any], TokenAdvantages]:
        """The token advantages of ``credits`` under this trainer's scheme, injected into TRL's
        batch ``out`` by :attr:`credit_route`."""
        ta = token_advantages(
            out["advantages"],
            out["completion_mask"],
            credits,
            scheme=self.credit_scheme,
            normalizer=self.credit_normalizer,
            seed=self._draw_seed(),
            max_completion_length=self.max_completion_length,
            route=self.credit_route if self.credit_normalizer == "conserve" else None,
            **self.credit_kwargs,
        )
        return inject(out, ta, self.credit_route, self.accelerator.gather), ta

    def _generated_ids(self, out: dict[str, Any], i: int) -> list[int]:
        """Row ``i``'s generated ids: those in the completion mask, or, for a row TRL masked out
        entirely (``mask_truncated_completions``), the row up to its last non-pad token."""
        n = int(out["completion_mask"][i].sum())
        row = out["completion_ids"][i]
        if n == 0:
            tokenizer: Any = getattr(self, "_tokenizer", self.processing_class)  # TRL pads with its pad id
            real = (row != tokenizer.pad_token_id).nonzero()
            n = int(real[-1]) + 1 if len(real) else 0
        return [int(t) for t in row[:n].tolist()]

    def _draw_seed(self) -> tuple[int, ...]:
        """(seed, phase, global step, generation batch in the step, process): random draws differ
        between steps and batches and stay reproducible on resume."""
        phase, step = self._phase(), self.state.global_step
        if self._draw_key != (phase, step):
            self._draw_key, self._draws_in_step = (phase, step), 0
        self._draws_in_step += 1
        return (
            int(self.args.seed),
            int(phase == "eval"),
            int(step),
            self._draws_in_step - 1,
            int(self.accelerator.process_index),
        )

    rollout_log: Path | None = None  # write every rollout (mode, span, token advantages) here

    def _write_rollouts(
        self, analyses: list[Any], ids: list[list[int]], ta: TokenAdvantages, phase: str
    ) -> None:
        assert self.rollout_log is not None
        tok = self.processing_class
        with self._rollout_file().open("a", encoding="utf-8") as f:
            for i, a in enumerate(analyses):
                if a is None:
                    continue
                record = {
                    "step": self.state.global_step,
                    "phase": phase,
                    "task_id": self.code_reward.last[i].task_id,
                    "program": a.program.source,
                    **a.localization.to_dict(),
                    "credit_status": ta.statuses[i],
                    "tokens": decode_each(tok, ids[i]),
                    "advantages": [round(float(x), 6) for x in ta.per_token[i][: len(ids[i])].tolist()],
                    "reward": self.code_reward.last[i].reward,
                }
                f.write(json.dumps(record) + "\n")

    def _rollout_file(self) -> Path:
        """``rollout_log`` on the main process, ``NAME.rankK.jsonl`` beside it on the others."""
        assert self.rollout_log is not None
        rank = self.accelerator.process_index
        return self.rollout_log if rank == 0 else self.rollout_log.with_suffix(f".rank{rank}.jsonl")

    def _write_plain_rollouts(self, out: dict[str, Any], scored: list[Any], phase: str) -> None:
        """Rollouts of the ``uniform`` scheme: program, verdict and reward, no analysis."""
        assert self.rollout_log is not None
        with self._rollout_file().open("a", encoding="utf-8") as f:
            for i, s in enumerate(scored):
                record = {
                    "step": self.state.global_step,
                    "phase": phase,
                    "task_id": s.task_id,
                    "program": s.program.source,
                    "mode": None,
                    "status": s.result.status.value,
                    "advantage": round(float(out["advantages"][i]), 6),
                    "reward": s.reward,
                }
                f.write(json.dumps(record) + "\n")

    def _global(self, counts: list[float]) -> list[float]:
        """``counts`` summed over all ranks (a collective: every rank calls it at the same point)."""
        local = torch.tensor([counts], dtype=torch.float64, device=self.accelerator.device)
        return [float(x) for x in self.accelerator.gather(local).sum(dim=0).tolist()]

    def _log_credit(self, credits: list[Any], ta: TokenAdvantages, mask: torch.Tensor) -> None:
        """Mode shares, localization / fallback rates and the loss-token share, over all ranks."""
        modes = Counter(c.mode for c in credits)
        lengths = mask.sum(dim=1).tolist()
        spans = [  # the span's share of its rollout's tokens, for rollouts whose credit is a span
            (c.span.end - c.span.start) / n_i
            for c, s, n_i in zip(credits, ta.statuses, lengths)
            if s == "localized" and c.span is not None and n_i
        ]
        local = [
            len(credits),
            *(modes.get(m, 0) for m in Mode),
            sum(s == "localized" for s in ta.statuses),
            sum(s.startswith("fallback") and s not in IDLE for s in ta.statuses),
            sum(s in IDLE for s in ta.statuses),
            sum(s == "fallback:span_mapping" for s in ta.statuses),
            mask.sum().item(),
            (ta.loss_mask & mask.bool()).sum().item(),
            sum(spans),
            len(spans),
            *abstain_rate(credits),
        ]
        (
            n,
            *mode_counts,
            localized,
            fallback,
            idle,
            unmapped,
            tokens,
            in_loss,
            span_sum,
            n_spans,
            abstains,
            n_logic,
        ) = self._global(local)
        metrics = self._metrics[self._phase()]
        for m, count in zip(Mode, mode_counts):  # every mode every step: averages over steps are shares
            metrics[f"egca/mode_{m.value}"].append(count / n if n else 0.0)
        metrics["egca/localized"].append(localized / n if n else 0.0)
        metrics["egca/fallback"].append(fallback / n if n else 0.0)
        metrics["egca/not_analysed"].append(idle / n if n else 0.0)
        metrics["egca/unmapped"].append(unmapped / n if n else 0.0)
        if unmapped and unmapped >= localized and not self._unmapped_warned:
            self._unmapped_warned = True
            warnings.warn(
                f"{unmapped:.0f} of {localized + unmapped:.0f} spans found in this batch could not be mapped "
                "to the generated tokens (fallback:span_mapping, uniform credit): does the trainer "
                "change the completion text (a response parser, a chat template) in a way egca cannot "
                "follow? egca/unmapped tracks the rate",
                RuntimeWarning,
                stacklevel=2,
            )
        metrics["egca/abstain_rate"].append(abstains / n_logic if n_logic else 0.0)  # of logic rollouts
        metrics["egca/loss_token_share"].append(in_loss / tokens if tokens else 0.0)
        if n_spans:  # mean share of a rollout's tokens its span covers (logic and syntax spans)
            metrics["egca/span_share"].append(span_sum / n_spans)


class _OptimizerTimer(TrainerCallback):
    """Logs ``time/optimizer``: the optimizer step, between the Trainer's two optimizer callbacks."""

    def __init__(self, trainer: EGCAGRPOTrainer) -> None:
        self.trainer = trainer
        self.t0 = 0.0

    def on_pre_optimizer_step(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.t0 = time.perf_counter()

    def on_optimizer_step(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.trainer._metrics["train"]["time/optimizer"].append(time.perf_counter() - self.t0)
