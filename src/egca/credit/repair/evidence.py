"""What the repair search knows before it edits: failing and passing tests, spectra, oracle values.

The reference is used only as an output oracle: the expected value of each failing test's
entry-point calls (for guard clauses); the task's own tests decide every verdict.
"""

from __future__ import annotations

import ast
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from egca.execution import ExecJob, ExecResult, Sandbox, Status
from egca.tasks.task import MISSING, Task, TestCase
from egca.values import to_wire

MAX_SPECTRUM_TESTS = 6  # per side (failing / passing): one coverage job each
_GUARD_TYPES = (bool, int, float, str, type(None))


@dataclass(frozen=True)
class Evidence:
    """Failing/passing test indices of the original run, per-line suspiciousness, guard values."""

    failing: tuple[int, ...]
    passing: tuple[int, ...]
    executed: frozenset[int]  # lines the failing tests executed
    ochiai: dict[int, float] = field(default_factory=dict)
    guard_values: tuple[str, ...] = ()
    kills: dict[int, float] = field(default_factory=dict)  # per line: share of its variants that
    # make a failing test pass (mutation-based fault localization, Metallaxis-style), after the search


def _literal(value: Any) -> str | None:
    """A short Python literal for ``value`` (a guard clause's return value), or None."""
    ok = isinstance(value, _GUARD_TYPES) or (
        isinstance(value, (list, tuple))
        and len(value) <= 4
        and all(isinstance(v, _GUARD_TYPES) for v in value)
    )
    if not ok:
        return None
    text = repr(value)
    if len(text) > 60:
        return None
    try:
        ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return None
    return text


def _reference_values(sandbox: Sandbox, task: Task, calls: Sequence[tuple[Any, ...]]) -> list[Any]:
    if not task.reference or not calls:
        return []
    tests = tuple(TestCase(i, kind="call", args=a) for i, a in enumerate(calls))
    res = sandbox.run(
        ExecJob(task.reference, tests, entry_point=task.entry_point, setup=task.setup, capture=True)
    )
    return [t.output for t in res.tests if t.status is Status.PASSED]


def gather(sandbox: Sandbox, task: Task, program: str, result: ExecResult) -> Evidence:
    """Spectra of up to ``MAX_SPECTRUM_TESTS`` failing and passing tests (one coverage job per test,
    run concurrently) and the reference's outputs on the failing tests' entry-point calls."""
    failing = tuple(i for i, t in enumerate(result.tests) if t.status is not Status.PASSED)
    passing = tuple(i for i, t in enumerate(result.tests) if t.status is Status.PASSED)
    fs, ps = failing[:MAX_SPECTRUM_TESTS], passing[:MAX_SPECTRUM_TESTS]
    base = ExecJob.for_task(task, program, coverage=True)
    jobs = [replace(base, tests=(replace(task.tests[i], index=0),)) for i in (*fs, *ps)]
    covs = sandbox.run_many(jobs) if jobs else []
    cov = [frozenset(r.covered or ()) for r in covs]
    fcov, pcov = cov[: len(fs)], cov[len(fs) :]
    executed = frozenset().union(*fcov) if fcov else frozenset()
    ochiai: dict[int, float] = {}
    for line in executed | (frozenset().union(*pcov) if pcov else frozenset()):
        ef = sum(line in c for c in fcov)
        ep = sum(line in c for c in pcov)
        ochiai[line] = ef / math.sqrt(len(fs) * (ef + ep)) if ef and fs else 0.0
    values: list[str] = []
    calls: list[tuple[Any, ...]] = []
    for i in failing[:3]:
        test = task.tests[i]
        if test.kind == "call" and test.expected is not MISSING:
            lit = _literal(test.expected)
            if lit is not None and lit not in values:
                values.append(lit)
        else:
            calls += [c.args for c in result.tests[i].calls if c.raised is None][:2]
    unique = list({json.dumps(to_wire(a), sort_keys=True): a for a in calls}.values())
    for out in _reference_values(sandbox, task, unique):
        lit = _literal(out)
        if lit is not None and lit not in values:
            values.append(lit)
    return Evidence(failing, passing, executed, ochiai, tuple(values[:3]))
