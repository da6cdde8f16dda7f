"""EGCA on TRL: a thin ``GRPOTrainer`` subclass and its config.

The subclass calls the parent's ``_generate_and_score_completions``, then routes and localizes
each rollout from the executions the :class:`~egca.train.reward.CodeReward` already ran (never a
second run of the tests), builds the token-level advantages and injects them:

- ``conserve`` (default, ``loss_type="grpo"``): the mask route. ``tool_mask`` becomes
  ``tool_mask × span mask`` and ``num_items_in_batch`` is recomputed from the same mask on every rank
  (numerator and denominator from one mask), which reproduces the paper's operator exactly.
- ``conserve_kl_all`` (``loss_type="dr_grpo"``): per-token advantages ``L·a_{i,t}``; KL stays on all tokens.
- ``engine``: the mask only, with whatever aggregation the loss type has (the mask-only variant).

The ``uniform`` scheme is plain GRPO with identical execution and no analysis (the baseline of
``egca bench overhead``). Each step logs ``time/generation_and_logps``, ``time/execution``,
``time/egca_analysis``, ``time/forward_backward`` and ``time/optimizer``; TRL logs ``step_time``
(generation and forward/backward, without the optimizer step).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from transformers import TrainerCallback
from trl import GRPOConfig, GRPOTrainer

from egca.credit.abstain import ABSTAIN_POLICIES, abstain_rate
from egca.credit.abstain import apply as apply_abstention
from egca.credit.assign import REFERENCE_SOURCES, analyze_group
from egca.credit.backends import BACKENDS, DEFAULT_BACKEND, make_localizer
from egca.credit.constraints import ConstraintConfig
from egca.credit.counterfactual import RepairBudget
from egca.credit.llm import LLMConfig
from egca.credit.operator import TokenAdvantages, normalizer_settings, token_advantages
from egca.credit.schemes import SCHEMES
from egca.credit.types import Mode
from egca.execution.result import Status
from egca.train.reward import CodeReward


@dataclass
class EGCAConfig(GRPOConfig):
    """``GRPOConfig`` plus the credit settings (egca-method.md §3.1, §5f)."""

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


def decode_each(tokenizer: Any, ids: list[int]) -> list[str]:
    """Each token's text, in one batch call (the Rust tokenizer's when there is one)."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None and not getattr(tokenizer, "clean_up_tokenization_spaces", False):
        return list(backend.decode_batch([[t] for t in ids], skip_special_tokens=False))
    return list(tokenizer.batch_decode([[t] for t in ids]))


def inject(out: dict[str, Any], ta: TokenAdvantages, normalizer: str, gather: Any) -> dict[str, Any]:
    """Put the token advantages into TRL's output dict for the chosen normalizer route."""
    if normalizer == "conserve_kl_all":
        out["advantages"] = ta.engine_advantages.to(out["advantages"].dtype)
        return out
    completion_mask = out["completion_mask"]
    span = ta.engine_mask.to(completion_mask.dtype)
    tool = out.get("tool_mask")
    out["tool_mask"] = span if tool is None else tool * span
    loss_mask = completion_mask * out["tool_mask"]
    out["num_items_in_batch"] = gather(loss_mask.sum()).sum()  # a collective: every rank calls it
    return out


class EGCAGRPOTrainer(GRPOTrainer):
    """``GRPOTrainer`` with Execution-Grounded Credit Assignment. Needs a :class:`CodeReward`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        config: Any = self.args
        self.credit_scheme = getattr(config, "credit_scheme", "egca")
        self.credit_normalizer = getattr(config, "credit_normalizer", "conserve")
        self.credit_references = getattr(config, "credit_references", "curated+siblings")
        if self.credit_references not in REFERENCE_SOURCES:
            raise ValueError(
                f"credit_references={self.credit_references!r}: expected one of {', '.join(REFERENCE_SOURCES)}"
            )
        expected = normalizer_settings(self.credit_normalizer)["trl_loss_type"]
        if expected is not None and config.loss_type != expected:
            raise ValueError(
                f"credit_normalizer={self.credit_normalizer!r} reproduces the EGCA operator only with "
                f"loss_type={expected!r} (got {config.loss_type!r}); use credit_normalizer='engine' for the mask-only variant"
            )
        rewards = [f for f in self.reward_funcs if isinstance(f, CodeReward)]
        if not rewards:
            raise ValueError("EGCAGRPOTrainer needs an egca.train.reward.CodeReward among reward_funcs")
        self.code_reward = rewards[0]
        constraints = ConstraintConfig() if getattr(config, "credit_constraints", True) else None
        self.credit_abstain = getattr(config, "credit_abstain", "uniform")
        if self.credit_abstain not in ABSTAIN_POLICIES:
            raise ValueError(
                f"credit_abstain={self.credit_abstain!r}: expected one of {', '.join(ABSTAIN_POLICIES)}"
            )
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
        ids = [out["completion_ids"][i, : int(mask[i].sum())].tolist() for i in range(len(inputs))]
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
            )
            for i, a in zip(rows, analyses):
                credits[i] = a.credit
                analyses_by_row[i] = a
        out["advantages"] = apply_abstention(out["advantages"], credits, self.credit_abstain)
        ta = token_advantages(
            out["advantages"],
            mask,
            credits,
            scheme=self.credit_scheme,
            normalizer=self.credit_normalizer,
            max_completion_length=self.max_completion_length,
        )
        self._log_credit(credits, ta, mask)
        if self.rollout_log is not None:
            self._write_rollouts(analyses_by_row, ids, ta, self._phase())
        return inject(out, ta, self.credit_normalizer, self.accelerator.gather)

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
            sum(s.startswith("fallback") for s in ta.statuses),
            mask.sum().item(),
            (ta.loss_mask & mask.bool()).sum().item(),
            sum(spans),
            len(spans),
            *abstain_rate(credits),
        ]
        n, *mode_counts, localized, fallback, tokens, in_loss, span_sum, n_spans, abstains, n_logic = (
            self._global(local)
        )
        metrics = self._metrics[self._phase()]
        for m, count in zip(Mode, mode_counts):  # every mode every step: averages over steps are shares
            metrics[f"egca/mode_{m.value}"].append(count / n if n else 0.0)
        metrics["egca/localized"].append(localized / n if n else 0.0)
        metrics["egca/fallback"].append(fallback / n if n else 0.0)
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
