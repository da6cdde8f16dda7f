"""Rewards from execution: all tests pass (binary) or the fraction passed, with per-test detail.

The :class:`Scored` record keeps the program (with the extraction offsets) and the full
:class:`ExecResult`, so later stages (credit assignment, reports) reuse the execution instead of
running the program a second time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from egca.execution.job import ExecJob
from egca.execution.result import ExecResult
from egca.execution.sandbox import Sandbox
from egca.tasks.extract import Program, build_program
from egca.tasks.task import Task

RewardKind = Literal["binary", "fraction"]


def binary_reward(result: ExecResult) -> float:
    """1.0 if every test passed, else 0.0."""
    return 1.0 if result.passed else 0.0


def fraction_reward(result: ExecResult) -> float:
    """Share of tests passed (0.0 for a program that does not load)."""
    return result.fraction_passed


REWARDS = {"binary": binary_reward, "fraction": fraction_reward}


@dataclass(frozen=True)
class Scored:
    """One completion, the program built from it, its execution and its reward."""

    task_id: str
    completion: str
    program: Program
    result: ExecResult
    reward: float


def score_completions(
    sandbox: Sandbox,
    tasks: Sequence[Task],
    completions: Sequence[str],
    kind: RewardKind = "binary",
    progress: bool = False,
    record_calls: bool = False,
) -> list[Scored]:
    """Build, run and score ``completions[i]`` against ``tasks[i]`` (a GRPO group is one batch).

    ``record_calls`` keeps each entry-point call in the results, so that the credit stage can find
    the probe without running the tests again.
    """
    if len(tasks) != len(completions):
        raise ValueError(f"{len(tasks)} tasks but {len(completions)} completions")
    if kind not in REWARDS:
        raise ValueError(f"unknown reward {kind!r}; choose from {sorted(REWARDS)}")
    reward_fn = REWARDS[kind]
    programs = [build_program(t, c) for t, c in zip(tasks, completions)]
    jobs = [ExecJob.for_task(t, p.source, record_calls=record_calls) for t, p in zip(tasks, programs)]
    results = sandbox.run_many(jobs, progress=progress, desc="rewards")
    return [
        Scored(t.task_id, c, p, r, reward_fn(r)) for t, c, p, r in zip(tasks, completions, programs, results)
    ]
