"""The records every later stage consumes: a benchmark task and its individual tests."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

TestKind = Literal["assert", "call"]


class _Missing:
    """Sentinel type: a ``call`` test whose expected output is not known yet."""

    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MISSING"

    def __reduce__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


@dataclass(frozen=True)
class TestCase:
    """One test of a task, run in order after the program and the task's test prelude.

    ``kind="assert"``: ``source`` is Python code (one chunk of a split ``check`` function or one MBPP
    ``assert``, possibly preceded by the non-assert statements it needs). The sandbox rewrites every
    ``assert`` in it so that comparisons run on plain values the program cannot override. The
    names ``candidate`` and the entry point are bound to the program's entry-point function.

    ``kind="call"``: call the entry point with ``args`` (deep-copied) and compare the result with
    ``expected`` (plain values; ``MISSING`` until computed from the reference), with absolute
    tolerance ``atol`` for floats (EvalPlus semantics).
    """

    __test__ = False  # not a pytest class

    index: int
    kind: TestKind = "assert"
    source: str = ""
    args: tuple[Any, ...] = ()
    expected: Any = MISSING
    atol: float = 0.0
    label: str = ""

    @property
    def display(self) -> str:
        """A short human-readable description (the assert text or the call)."""
        if self.label:
            return self.label
        if self.kind == "assert":
            return self.source.strip().splitlines()[-1] if self.source.strip() else ""
        return f"candidate(*{self.args!r})"[:200]


@dataclass(frozen=True)
class Task:
    """A programming task: what the model sees, a reference solution and ordered tests.

    ``reference`` is a complete program (for HumanEval: prompt + canonical solution). ``tests`` run in
    order in one namespace after ``test_prelude`` (module-level code of the original test file, such
    as helper functions and imports). ``setup`` runs before the program (MBPP ``test_setup_code``).
    """

    task_id: str
    prompt: str
    entry_point: str
    reference: str
    tests: tuple[TestCase, ...]
    test_prelude: str = ""
    setup: str = ""
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def with_tests(self, tests: tuple[TestCase, ...]) -> Task:
        """A copy with other tests (used when expected outputs are filled in)."""
        from dataclasses import replace

        return replace(self, tests=tests)
