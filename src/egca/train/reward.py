"""A TRL reward function backed by the egca sandbox: usable with the plain ``GRPOTrainer``.

    reward = CodeReward(tasks)                 # kind="binary" (all tests pass) or "fraction"
    trainer = GRPOTrainer(model, reward_funcs=[reward], train_dataset=tasks_dataset(tasks), ...)

The dataset needs a ``task_id`` column (TRL passes every column to reward functions). The last
batch's executions are kept in ``reward.last`` (programs with extraction offsets, per-test results
with recorded calls), so the credit stage reuses them instead of running the programs again.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any

from egca.execution.reward import REWARDS, RewardKind, Scored, score_completions
from egca.execution.sandbox import Sandbox
from egca.tasks.task import Task


def completion_text(completion: Any) -> str:
    """A TRL completion as text: a string, or the assistant messages of a conversation."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list):
        parts = [
            m.get("content", "") for m in completion if isinstance(m, dict) and m.get("role") == "assistant"
        ]
        return "".join(p if isinstance(p, str) else "" for p in parts)
    raise TypeError(f"unsupported completion type {type(completion).__name__}")


class CodeReward:
    """Runs each completion against its task's tests; one reward per completion."""

    def __init__(
        self,
        tasks: Iterable[Task],
        kind: RewardKind = "binary",
        sandbox: Sandbox | None = None,
        workers: int | None = None,
    ) -> None:
        if kind not in REWARDS:
            raise ValueError(f"unknown reward {kind!r}; choose from {sorted(REWARDS)}")
        self.tasks = {t.task_id: t for t in tasks}
        self.kind: RewardKind = kind
        self.__name__ = f"egca_{kind}"  # TRL names its reward columns after this
        self._sandbox = sandbox
        self._workers = workers
        self.last: list[Scored] = []
        self.last_seconds = 0.0  # wall time of the last batch's executions

    @property
    def sandbox(self) -> Sandbox:
        if self._sandbox is None:
            self._sandbox = Sandbox(workers=self._workers).start()
        return self._sandbox

    def __call__(
        self,
        prompts: Sequence[Any],
        completions: Sequence[Any],
        completion_ids: Sequence[Sequence[int]] | None = None,
        task_id: Sequence[str] | None = None,
        **kwargs: Any,
    ) -> list[float]:
        if task_id is None:
            raise ValueError("CodeReward needs a 'task_id' column in the training dataset")
        unknown = sorted({t for t in task_id if t not in self.tasks})
        if unknown:
            raise ValueError(f"unknown task ids in the batch: {', '.join(unknown[:5])}")
        tasks = [self.tasks[t] for t in task_id]
        texts = [completion_text(c) for c in completions]
        t0 = time.perf_counter()
        self.last = self.score(tasks, texts)
        self.last_seconds = time.perf_counter() - t0
        return [s.reward for s in self.last]

    def score(self, tasks: Sequence[Task], texts: Sequence[str]) -> list[Scored]:
        """Run ``texts[i]`` against ``tasks[i]`` with recorded calls (the credit stage's input).

        Thread-safe (the sandbox is); leaves ``last`` alone, so other engines (verl) can call it.
        """
        return score_completions(self.sandbox, tasks, texts, self.kind, record_calls=True)

    def close(self) -> None:
        if self._sandbox is not None:
            self._sandbox.close()
            self._sandbox = None
