"""What the sandbox returns: a verdict per program and an explicit record per test."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class Status(str, enum.Enum):
    """Verdicts. Never conflated: each has its own cause."""

    PASSED = "passed"  # every test passed
    FAILED = "failed"  # an assertion or an output comparison failed (wrong answer)
    ERROR = "error"  # the program raised (or ended the process early)
    SYNTAX_ERROR = "syntax_error"  # the program does not compile
    TIMEOUT = "timeout"  # wall-clock or CPU limit
    MEMORY = "memory"  # MemoryError under the address-space limit
    CRASHED = "crashed"  # killed by a signal (segfault, abort, ...)
    SKIPPED = "skipped"  # test not run because the process died earlier (per-test only)

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class ErrorInfo:
    """An exception (or early exit) with the line of the candidate program where it was raised."""

    type: str
    message: str
    line: int | None = None  # 1-based line in the program, innermost candidate frame
    col: int | None = None  # 0-based column (syntax errors, 3.11+ positions)
    end_line: int | None = None
    end_col: int | None = None
    in_candidate: bool = True  # False: raised in test code, not in a frame of the program

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "message": self.message,
            "line": self.line,
            "col": self.col,
            "end_line": self.end_line,
            "end_col": self.end_col,
            "in_candidate": self.in_candidate,
        }


@dataclass(frozen=True)
class CallRecord:
    """One call of the entry point from test code: arguments (as plain values) and outcome."""

    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    result: Any = None
    raised: str | None = None  # exception type name when the call raised


@dataclass(frozen=True)
class TestResult:
    """The explicit record of one test."""

    __test__ = False

    index: int
    status: Status
    message: str = ""
    duration_s: float = 0.0
    error: ErrorInfo | None = None
    output: Any = None  # plain value returned by the entry point (``capture`` jobs, ``call`` tests)
    calls: tuple[CallRecord, ...] = ()  # entry-point calls made by the test (``record_calls`` jobs)
    # Which side decided the verdict: "boundary" (the test side, outside the candidate's process),
    # "in-process" (the hardened fallback in the candidate's process), "" (not run).
    path: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "status": self.status.value,
            "message": self.message,
            "duration_s": round(self.duration_s, 6),
            "error": self.error.to_dict() if self.error else None,
            "path": self.path,
        }


@dataclass(frozen=True)
class ExecResult:
    """Verdict for one program against its tests.

    ``status`` is the status of the first test that did not pass (tests run in order), or a
    program-level status (``syntax_error``, or ``error``/``timeout``/``memory``/``crashed`` while
    loading). ``tests`` always holds one record per test.
    """

    status: Status
    tests: tuple[TestResult, ...]
    error: ErrorInfo | None = None
    duration_s: float = 0.0
    stdout: str = ""
    stderr: str = ""
    isolation: tuple[str, ...] = field(default=())
    trace: dict[str, Any] | None = None  # ``trace`` jobs: events, truncated, result or raised
    covered: tuple[int, ...] | None = None  # ``coverage`` jobs: program lines the tests executed
    boundary_calls: int = 0  # calls of the program's functions that crossed the process boundary

    @property
    def passed(self) -> bool:
        return self.status is Status.PASSED

    @property
    def n_passed(self) -> int:
        return sum(t.status is Status.PASSED for t in self.tests)

    @property
    def fraction_passed(self) -> float:
        return self.n_passed / len(self.tests) if self.tests else float(self.passed)

    @property
    def first_failing_test(self) -> TestResult | None:
        return next((t for t in self.tests if t.status is not Status.PASSED), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status.value,
            "passed": self.passed,
            "tests": [t.to_dict() for t in self.tests],
            "error": self.error.to_dict() if self.error else None,
            "duration_s": round(self.duration_s, 6),
            "stdout": self.stdout,
            "stderr": self.stderr,
            "isolation": list(self.isolation),
        }
