"""What the sandbox is asked to run, and its resource limits."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from egca.tasks.task import Task, TestCase

Oracle = str  # a name of egca.execution.oracles.ORACLES ("eq", "set_eq", "find_zero", ...)


@dataclass(frozen=True)
class Limits:
    """Per-program resource limits, applied in the child process.

    ``timeout_s`` bounds loading the program and each test separately (wall clock, enforced by the
    parent with SIGKILL of the whole process group); ``total_timeout_s`` bounds the whole run.
    ``memory_mb`` is added to the child's address space at fork (a budget relative to its size).
    """

    timeout_s: float = 5.0
    total_timeout_s: float = 60.0
    memory_mb: int = 1024
    file_size_mb: int = 16
    open_files: int = 64
    output_bytes: int = 16_384  # captured stdout/stderr per program, each
    wire_bytes: int = 32 * 1024 * 1024  # largest reply of one call across the boundary (else: error)


@dataclass(frozen=True)
class ExecJob:
    """One program and the tests to run against it, in order, in one fresh child process."""

    program: str
    tests: tuple[TestCase, ...]
    entry_point: str | None = None
    test_prelude: str = ""
    setup: str = ""
    oracle: Oracle = "eq"
    capture: bool = False  # return each ``call`` test's output (used to compute expected outputs)
    fail_fast: bool = False  # stop at the first test that does not pass (the rest are ``skipped``)
    record_calls: bool = False  # record each entry-point call made by the tests (args, result)
    coverage: bool = False  # report the program lines the tests executed (``ExecResult.covered``)
    # Instead of the tests: call the entry point once with (args, kwargs) under the tracer.
    trace: tuple[tuple[Any, ...], dict[str, Any]] | None = None
    trace_max_events: int = 10_000
    trace_function: str | None = None  # trace this module-level function instead of the entry point
    limits: Limits | None = None  # None: the sandbox's default limits
    timeout_floor_s: float = 0.0  # per-test timeout at least this (slow references, EvalPlus-style)
    tags: dict[str, str] = field(default_factory=dict)

    @classmethod
    def for_task(cls, task: Task, program: str, **kwargs: object) -> ExecJob:
        """Run ``program`` against ``task``'s tests with the task's prelude, setup and oracle."""
        oracle = str(task.metadata.get("oracle", "eq"))
        kwargs.setdefault("timeout_floor_s", float(task.metadata.get("timeout_floor_s", 0.0)))
        return cls(
            program=program,
            tests=task.tests,
            entry_point=task.entry_point,
            test_prelude=task.test_prelude,
            setup=task.setup,
            oracle=oracle,
            **kwargs,  # type: ignore[arg-type]
        )

    def resolve_limits(self, default: Limits) -> Limits:
        """This job's limits: its own or the sandbox's, with the timeout floor applied."""
        limits = self.limits or default
        if self.timeout_floor_s > limits.timeout_s:
            scale = self.timeout_floor_s / limits.timeout_s
            limits = replace(
                limits, timeout_s=self.timeout_floor_s, total_timeout_s=limits.total_timeout_s * scale
            )
        return limits
