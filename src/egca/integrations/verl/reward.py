"""The ``egca`` reward manager of verl's reward loop.

For each response it runs the task's tests in egca's sandbox (:meth:`egca.train.reward.CodeReward.score`:
the same verdicts, rewards and recorded calls as the TRL path), then routes and localizes the response
on its own token ids (:func:`egca.credit.assign.analyze_group`, the response alone: verl scores
responses one at a time, so siblings are not known here; the trainer redoes the analysis of a group
whose passing responses can serve as references). It returns the reward as ``reward_score`` and, in
``reward_extra_info``, ``acc`` (the reward) and ``egca_credit`` (the credit record, a JSON string).

Selected with ``reward.reward_manager.name=egca`` once the Ray setup hook has registered it
(:mod:`egca.integrations.verl.hook`), or without the hook by ``reward.reward_manager.source=importlib
reward.reward_manager.module.path=pkg://egca.integrations.verl.reward
reward.reward_manager.name=EGCARewardManager``. Settings: the config's ``egca`` section
(:class:`~egca.integrations.verl.credit.VerlCreditSettings`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from verl.experimental.reward_loop.reward_manager import register
from verl.experimental.reward_loop.reward_manager.base import RewardManagerBase

from egca.credit.assign import analyze_group
from egca.credit.constraints import ConstraintConfig
from egca.credit.localize import Localizer
from egca.execution.sandbox import Sandbox
from egca.integrations.verl.credit import CREDIT_KEY, VerlCreditSettings, encode_credit
from egca.integrations.verl.data import task_of
from egca.tasks.task import Task
from egca.train.reward import CodeReward
from verl import DataProto

__all__ = ["EGCARewardManager"]


@register("egca")
class EGCARewardManager(RewardManagerBase):
    """Rewards from egca's sandbox, with each response's credit record (module docstring)."""

    def __init__(
        self,
        config: Any,
        tokenizer: Any,
        compute_score: Any = None,
        reward_router_address: str | None = None,
        reward_model_tokenizer: Any = None,
        sandbox: Sandbox | None = None,
    ) -> None:
        """``compute_score`` and the reward-model arguments of verl are accepted and unused."""
        super().__init__(config, tokenizer, compute_score)
        self.settings = VerlCreditSettings.from_config(config)
        sandbox = sandbox if sandbox is not None else Sandbox(workers=self.settings.workers).start()
        self.code_reward = CodeReward([], kind=self.settings.reward, sandbox=sandbox)  # type: ignore[arg-type]
        constraints = ConstraintConfig() if self.settings.constraints else None
        self.localizer = Localizer(sandbox, constraints, max_siblings=self.settings.max_siblings)

    async def run_single(self, data: DataProto) -> dict[str, Any]:
        """Score the last sequence of ``data`` (verl's convention for multi-sequence outputs)."""
        item = data[-1:][0]
        responses = item.batch["responses"]
        length = int(item.batch["attention_mask"][-responses.shape[-1] :].sum())
        ids = [int(t) for t in responses[:length].tolist()]
        task = task_of(item.non_tensor_batch.get("extra_info"), "egca reward manager")
        return await self.loop.run_in_executor(None, self.score, task, ids)

    def score(self, task: Task, ids: Sequence[int]) -> dict[str, Any]:
        """Reward and credit record of one response (its token ids, special tokens included)."""
        tokenizer: Any = self.tokenizer  # verl annotates it as AutoTokenizer
        text = tokenizer.decode(list(ids), skip_special_tokens=True)
        scored = self.code_reward.score([task], [text])[0]
        record = ""
        if self.settings.scheme != "uniform":  # the GRPO baseline: identical execution, no analysis
            analysis = analyze_group(
                self.localizer,
                task,
                [text],
                [list(ids)],
                tokenizer,
                [scored.result],
                threads=1,
                references=self.settings.references,
            )[0]
            record = encode_credit(
                analysis.credit,
                task_id=task.task_id,
                passed=scored.result.passed,
                exec_status=scored.result.status.value,
                reward=scored.reward,
            )
        return {
            "reward_score": scored.reward,
            "reward_extra_info": {"acc": scored.reward, CREDIT_KEY: record},
        }

    def close(self) -> None:
        """Stop the sandbox's worker processes."""
        self.code_reward.close()
