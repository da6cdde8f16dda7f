"""Training batches with known content: fixed completions at TRL's generation boundary.

A tiny random model never writes a program that runs and fails, so a training test that must see
logic-mode rollouts scripts them. TRL's ``rollout_func`` hook replaces generation (and nothing
else): TRL tokenizes nothing more, decodes the returned ids into the completion texts the reward
functions get, and runs its own reward, advantage and loss code on them; only the sampled tokens
are ours. The sandbox runs every program for real.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from egca.tasks.task import Task, TestCase

REF = "def f(xs):\n    total = 0\n    for x in xs:\n        if x > 0:\n            total += x\n    return total\n"
TASK = Task(
    "T/1",
    "Sum the positive numbers.",
    "f",
    REF,
    tuple(
        TestCase(i, source=s) for i, s in enumerate(["assert f([1, 2]) == 3", "assert f([0, -1, 4]) == 4"])
    ),
)
SQUARES = REF.replace("total += x", "total += x * x")  # runs, returns a wrong value: logic mode
NEGATIVES = REF.replace("if x > 0", "if x >= -1")
MINUS = REF.replace("total += x", "total -= x")


def fenced(code: str) -> str:
    return f"Here is the function:\n```python\n{code}```\nIt sums the positive values."


def scripted_rollouts(programs: Sequence[str], truncated: Sequence[int] = ()) -> Any:
    """A TRL ``rollout_func`` whose k-th completion of every prompt is ``fenced(programs[k])``,
    ended by the tokenizer's EOS except for the indices in ``truncated`` (as if cut at the length
    limit). Non-conversational prompts: ``tasks_dataset(tasks, False)``."""

    def rollout(prompts: list[Any], trainer: Any) -> dict[str, Any]:
        tok = trainer.processing_class
        prompt_ids, completion_ids = [], []
        for k, prompt in enumerate(prompts):
            prompt_ids.append(tok(prompt, add_special_tokens=False)["input_ids"])
            text = fenced(programs[k % len(programs)])
            eos = [] if k % len(programs) in truncated else [tok.eos_token_id]
            completion_ids.append([*tok(text, add_special_tokens=False)["input_ids"], *eos])
        return {
            "prompt_ids": prompt_ids,
            "completion_ids": completion_ids,
            "logprobs": [[0.0] * len(ids) for ids in completion_ids],
        }

    return rollout


class CountingSandbox:
    """A sandbox that counts the programs it is asked to run (and runs them)."""

    def __init__(self, sandbox: Any) -> None:
        self._sandbox = sandbox
        self.jobs = 0

    def run(self, job: Any) -> Any:
        self.jobs += 1
        return self._sandbox.run(job)

    def run_many(self, jobs: Sequence[Any], *args: Any, **kwargs: Any) -> Any:
        jobs = list(jobs)
        self.jobs += len(jobs)
        return self._sandbox.run_many(jobs, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sandbox, name)
