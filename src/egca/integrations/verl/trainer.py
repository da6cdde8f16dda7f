"""EGCA trainers for verl's v1 trainer: GRPO, then the EGCA operator's token advantages.

``trainer.v1.trainer_mode=egca_sync`` (or ``egca_colocate_async`` / ``egca_separate_async``, the
asynchronous bases, which share the base class's ``_compute_advantage``) selects a subclass whose
``_compute_advantage``:

1. runs verl's own ``_compute_advantage`` (KL-in-reward, rollout correction, the GRPO estimator),
   which writes ``advantages`` ``(B, T)`` to the TransferQueue;
2. reads each response's credit record (the ``egca`` reward manager's ``reward_extra_info``) and,
   for a group (one prompt ``uid``) where a passing response can serve as a reference for a failing
   one, runs the tests again with recorded calls and :func:`egca.credit.assign.analyze_group` on the
   whole group, as the TRL path does (``egca.references=curated`` skips this);
3. spreads each response's sequence advantage over its span with
   :func:`egca.integrations.verl.credit.verl_advantages` (the shared operator
   :func:`egca.credit.operator.token_advantages`) and writes ``advantages`` (and, on the mask route,
   ``response_mask``) back.

Metrics: ``egca/mode_*``, ``egca/localized``, ``egca/fallback``, ``egca/loss_token_share``,
``egca/regrouped`` (share of responses analysed again with their siblings), ``timing_s/egca_analysis``.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

import torch
import transfer_queue as tq
from tensordict import TensorDict
from verl.trainer.ppo.v1.trainer_base import PPOTrainer, register_trainer
from verl.trainer.ppo.v1.trainer_colocate_async import PPOTrainerColocateAsync
from verl.trainer.ppo.v1.trainer_separate_async import PPOTrainerSeparateAsync
from verl.trainer.ppo.v1.trainer_sync import PPOTrainerSync
from verl.workers.utils.padding import response_to_nested

from egca.credit.assign import analyze_group
from egca.credit.constraints import ConstraintConfig
from egca.credit.localize import Localizer
from egca.credit.types import Mode, RolloutCredit
from egca.execution.sandbox import Sandbox
from egca.integrations.verl.credit import (
    CREDIT_KEY,
    VerlAdvantages,
    VerlCreditSettings,
    decode_credit,
    verl_advantages,
)
from egca.integrations.verl.data import task_of
from egca.train.reward import CodeReward

__all__ = ["EGCAAdvantage", "EGCATrainerColocateAsync", "EGCATrainerSeparateAsync", "EGCATrainerSync"]

_FIELDS = ["uid", "advantages", "response_mask", "responses", "extra_fields", "extra_info"]


class EGCAAdvantage(PPOTrainer):
    """The EGCA ``_compute_advantage`` (module docstring); mixed into each v1 trainer mode."""

    _egca_settings: VerlCreditSettings | None = None
    _egca_reward: CodeReward | None = None
    _egca_localizer: Localizer | None = None

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        _ = self.egca_settings  # a bad egca setting fails here, before any worker starts

    @property
    def egca_settings(self) -> VerlCreditSettings:
        """The config's ``egca`` section, checked against the actor's ``loss_agg_mode`` and estimator."""
        if self._egca_settings is None:
            settings = VerlCreditSettings.from_config(self.config)
            if settings.scheme != "uniform":
                settings.check_loss_agg_mode(str(self.config.actor_rollout_ref.actor.loss_agg_mode))
                estimator = str(self.config.algorithm.adv_estimator)
                if estimator != "grpo":
                    raise ValueError(
                        f"EGCA spreads GRPO's sequence advantages: set algorithm.adv_estimator=grpo (got {estimator!r})"
                    )
            self._egca_settings = settings
        return self._egca_settings

    def _compute_advantage(self, batch: Any, metrics: dict[str, Any]) -> Any:
        settings = self.egca_settings
        batch = super()._compute_advantage(batch, metrics)
        if settings.scheme == "uniform":  # plain GRPO: the baseline
            return batch
        t0 = time.perf_counter()
        data = tq.kv_batch_get(keys=batch.keys, partition_id=batch.partition_id, select_fields=_FIELDS)
        multi = [k for k in batch.keys if k.rsplit("_", 1)[-1] != "0"]
        if multi:
            raise ValueError(f"EGCA analyses single-output agent loops; got outputs {multi[:3]}")
        nested_mask = data["response_mask"]
        mask = nested_mask.to_padded_tensor(0)
        lengths = nested_mask.offsets().diff().tolist()
        ids = [[int(t) for t in row.tolist()] for row in data["responses"].unbind()]
        # verl's synthetic padding rows (``_balance_batch``) copy a real row's fields; their response
        # is masked out: a neutral credit, no analysis, not counted in the metrics
        tags = list(getattr(batch, "tags", None) or [{}] * len(batch.keys))
        real = [not (isinstance(t, dict) and t.get("is_padding")) for t in tags]
        credits = [
            _credit(ef) if r else RolloutCredit(Mode.CORRECT) for ef, r in zip(data["extra_fields"], real)
        ]
        uids = [str(u) if r else "" for u, r in zip(data["uid"], real)]
        regrouped = self._group_analysis(uids, list(data["extra_info"]), ids, credits)
        out = verl_advantages(
            data["advantages"].to_padded_tensor(0.0),
            mask,
            credits,
            settings,
            str(self.config.actor_rollout_ref.actor.loss_agg_mode),
            step=int(getattr(self, "global_steps", 0)),
            lengths=lengths,
        )
        fields = {"advantages": response_to_nested(out.advantages, nested_mask)}
        if not torch.equal(out.response_mask, mask):
            fields["response_mask"] = response_to_nested(out.response_mask, nested_mask)
        batch = tq.kv_batch_put(
            keys=batch.keys,
            partition_id=batch.partition_id,
            fields=TensorDict(fields, batch_size=len(batch.keys)),
        )
        rows = [i for i, r in enumerate(real) if r]
        metrics.update(_credit_metrics([credits[i] for i in rows], out, mask, regrouped, rows))
        metrics["timing_s/egca_analysis"] = time.perf_counter() - t0
        return batch

    def _group_analysis(
        self,
        uids: Sequence[str],  # "" for a padding row
        extra_infos: Sequence[Any],
        ids: Sequence[list[int]],
        credits: list[RolloutCredit],
    ) -> int:
        """Analyse again, with their siblings, the groups where a passing response can be a reference.

        Replaces those groups' entries of ``credits`` in place; returns how many responses it analysed.
        """
        settings = self.egca_settings
        if settings.references == "curated":
            return 0
        groups: dict[str, list[int]] = {}
        for i, uid in enumerate(uids):
            if uid:  # "" marks a padding row
                groups.setdefault(uid, []).append(i)
        redo = [
            rows
            for rows in groups.values()
            if any(credits[i].mode is Mode.CORRECT for i in rows)
            and any(credits[i].mode is Mode.LOGIC for i in rows)
        ]
        if not redo:
            return 0
        reward, localizer = self._egca_tools()
        for rows in redo:
            task = task_of(extra_infos[rows[0]], f"prompt {uids[rows[0]]}")
            texts = [self.tokenizer.decode(ids[i], skip_special_tokens=True) for i in rows]
            scored = reward.score([task] * len(rows), texts)
            analyses = analyze_group(
                localizer,
                task,
                texts,
                [ids[i] for i in rows],
                self.tokenizer,
                [s.result for s in scored],
                references=settings.references,
            )
            for i, a in zip(rows, analyses):
                credits[i] = a.credit
        return sum(len(rows) for rows in redo)

    def _egca_tools(self) -> tuple[CodeReward, Localizer]:
        """The sandbox-backed reward and localizer of the group analysis (started on first use)."""
        if self._egca_reward is None or self._egca_localizer is None:
            s = self.egca_settings
            sandbox = Sandbox(workers=s.workers).start()
            self._egca_reward = CodeReward([], kind=s.reward, sandbox=sandbox)  # type: ignore[arg-type]
            constraints = ConstraintConfig() if s.constraints else None
            self._egca_localizer = Localizer(sandbox, constraints, max_siblings=s.max_siblings)
        return self._egca_reward, self._egca_localizer


def _credit(extra_fields: Any) -> RolloutCredit:
    info = extra_fields.get("reward_extra_info", {}) if isinstance(extra_fields, dict) else {}
    record = info.get(CREDIT_KEY)
    if not record:
        raise ValueError(
            "a response has no egca credit record: set reward.reward_manager.name=egca "
            "(and the egca setup hook) so that the egca reward manager scores the rollouts"
        )
    return decode_credit(str(record))[0]


def _credit_metrics(
    credits: Sequence[RolloutCredit], out: VerlAdvantages, mask: torch.Tensor, regrouped: int, rows: list[int]
) -> dict[str, float]:
    """Shares over the batch's real rows ``rows`` (``credits`` are theirs)."""
    n = len(credits)
    modes = Counter(c.mode for c in credits)
    statuses = [out.token.statuses[i] for i in rows]
    valid = mask[rows].to(torch.bool)
    tokens = int(valid.sum())
    in_loss = int((out.token.loss_mask[rows] & valid).sum())
    metrics = {f"egca/mode_{m.value}": modes.get(m, 0) / n if n else 0.0 for m in Mode}
    metrics["egca/localized"] = sum(s == "localized" for s in statuses) / n if n else 0.0
    metrics["egca/fallback"] = sum(s.startswith("fallback") for s in statuses) / n if n else 0.0
    metrics["egca/loss_token_share"] = in_loss / tokens if tokens else 0.0
    metrics["egca/regrouped"] = regrouped / n if n else 0.0
    return metrics


@register_trainer("egca_sync")
class EGCATrainerSync(EGCAAdvantage, PPOTrainerSync):
    """verl's synchronous v1 trainer with EGCA advantages."""


@register_trainer("egca_colocate_async")
class EGCATrainerColocateAsync(EGCAAdvantage, PPOTrainerColocateAsync):
    """verl's colocated asynchronous v1 trainer with EGCA advantages."""


@register_trainer("egca_separate_async")
class EGCATrainerSeparateAsync(EGCAAdvantage, PPOTrainerSeparateAsync):
    """verl's separate (trainer / rollout) asynchronous v1 trainer with EGCA advantages."""
