"""The in-process fallback: a test whose values cannot cross the boundary runs in the candidate's
process, the way every test ran before the boundary existed.

Used only when the *test code* needs it (it passes a function or an object of its own to the
program), never because of what the program defined or returned. Hardened: the
checker is bound before the test, the harness's modules and classes are verified and restored both
before and after it, and a test during which the program changed them is an ``error``, not a pass.
The verdict of such a test is marked ``in-process`` in its record.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from egca import values
from egca.execution.checks import Checker, UntrustedResult, classify
from egca.execution.guard import Guard
from egca.execution.rewrite import CHECKER_NAME, compile_tests

_BaseException = BaseException


def _checked(fn: Callable[..., Any], trusted: frozenset[int]) -> Callable[..., Any]:
    """The entry point as in-process tests see it: results of suspect classes are refused."""

    def candidate(*args: Any, **kwargs: Any) -> Any:
        result = fn(*args, **kwargs)
        bad = values.untrusted_type(result, trusted)
        if bad is not None:
            raise UntrustedResult(
                f"the entry point returned an instance of {bad}, a class that overrides comparison or "
                "arithmetic; results must be plain values"
            )
        return result

    return candidate


class Fallback:
    """The test namespace inside the candidate's process, built on the first fallback test."""

    def __init__(
        self,
        functions: dict[str, Any],
        entry: tuple[str, Callable[..., Any]] | None,
        test_builtins: dict[str, Any],
        guard: Guard,
        source_lines: list[str],
        trusted: frozenset[int],
        prelude: str,
    ) -> None:
        self.guard, self.source_lines = guard, source_lines
        self.checker = Checker()
        ns: dict[str, Any] = dict(functions)
        ns["__builtins__"] = test_builtins
        ns["__name__"] = "__egca_tests__"
        ns[CHECKER_NAME] = self.checker
        self.error: str | None = None
        if prelude.strip():
            try:
                exec(compile_tests(prelude, "<test prelude>"), ns)
            except _BaseException as e:
                self.error = f"test prelude raised {type(e).__name__}"
        if entry is not None:
            ns["candidate"] = ns[entry[0]] = _checked(entry[1], trusted)
        self.ns = ns

    def run(self, source: str) -> dict[str, Any]:
        """Run one test; the reply carries its status, message and error."""
        if self.error is not None:
            return {"s": "error", "m": self.error, "e": None}
        self.guard.restore()
        self.ns[CHECKER_NAME] = self.checker
        status, message, error = "passed", "", None
        try:
            exec(compile_tests(source), self.ns)
        except _BaseException as e:
            status, message, error = classify(e, self.source_lines)
        if self.guard.restore() and status == "passed":
            status, message = "error", "the program changed the test harness during an in-process test"
        return {"s": status, "m": message, "e": error}
