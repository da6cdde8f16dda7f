"""``egca bench localize --suite TIER``: a localizer and baselines on a suite of verified buggy programs.

For each case the candidate runs against its task's tests (the EvalPlus tests when it passes the
base ones) with entry-point calls recorded; the localizer under test gets that run. On the same
cases, three baselines: the **last line** executed before the failing call returned or raised, a
**random executed line** (the expectation over the lines that call executed, i.e. a seeded
average), and the **Ochiai** top-ranked line from per-test line coverage (ties: the expectation
over the tied lines). A baseline line counts as its whole statement. Scores: :mod:`egca.bench.suite_score`.
"""

from __future__ import annotations

import ast
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any, Protocol

from egca.bench.localize import select_cases
from egca.bench.suite import PLUS_DATASET, SuiteCase, load_suite, load_tier, statement_of
from egca.bench.suite_score import (
    Outcome,
    markdown_kinds,
    markdown_methods,
    markdown_other,
    score,
    score_by_kind,
    score_other_labels,
)
from egca.credit.backends import BACKENDS, make_localizer
from egca.credit.llm import LLMConfig
from egca.credit.localize import Localization
from egca.execution import ExecJob, ExecResult, Limits, Sandbox
from egca.execution.references import prepare_tasks
from egca.tasks import Task, load_tasks
from egca.trace.spectrum import executed_lines, last_executed_line, ochiai, top_lines


class LocalizerLike(Protocol):
    def localize(
        self, task: Task, program: str, result: ExecResult | None = None, siblings: Sequence[str] = ()
    ) -> Localization: ...


LOCALIZERS = BACKENDS
"""Localizer backends by name (``--localizer``), built by :func:`egca.credit.backends.make_localizer`."""

BASELINES = ("last line", "random line", "ochiai top-1")
MAX_SPECTRUM_TESTS = 48  # per-test coverage runs per case (failing tests first)


class TaskSource:
    """Base tasks by (dataset, task id), and their EvalPlus versions with expected outputs (lazily)."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self._base: dict[str, dict[str, Task]] = {}
        self._plus: dict[str, dict[str, Task]] = {}
        self._prepared: dict[tuple[str, str], Task | None] = {}
        self._lock = threading.Lock()

    def base(self, dataset: str, task_id: str) -> Task | None:
        with self._lock:
            if dataset not in self._base:
                tasks = load_tasks(dataset, split="all") if dataset == "mbpp" else load_tasks(dataset)
                self._base[dataset] = {t.task_id: t for t in tasks}
            return self._base[dataset].get(task_id)

    def plus(self, dataset: str, task_id: str) -> Task | None:
        with self._lock:
            key = (dataset, task_id)
            if key not in self._prepared:
                name = PLUS_DATASET.get(dataset)
                if name is not None and name not in self._plus:
                    self._plus[name] = {t.task_id: t for t in load_tasks(name)}
                raw = self._plus.get(name or "", {}).get(task_id)
                self._prepared[key] = prepare_tasks([raw], self.sandbox)[0] if raw is not None else None
            return self._prepared[key]


@dataclass(frozen=True)
class CaseRun:
    """Everything measured on one case (``skipped``: why it could not be scored)."""

    case: SuiteCase
    outcomes: dict[str, Outcome]
    tests: str = "base"
    mode: str = ""
    skipped: str = ""


def _statement_range(tree: ast.AST | None, line: int) -> tuple[int, int]:
    found = statement_of(tree, line) if tree is not None else None
    return found or (line, line)


def _span_outcome(
    case: SuiteCase, tree: ast.AST | None, span: tuple[int, int] | None, time_s: float | None = None
) -> Outcome:
    if span is None:
        return Outcome(case.id, case.bug_kind, case.label, False, 0.0, None, time_s)
    start, end = span
    hit = any(start <= x <= end for x in case.fix_lines)
    stmts = {statement_of(tree, x) for x in range(start, end + 1)} - {None} if tree is not None else set()
    return Outcome(case.id, case.bug_kind, case.label, True, float(hit), max(1, len(stmts)), time_s)


def _expected_outcome(case: SuiteCase, tree: ast.AST | None, lines: Sequence[int]) -> Outcome:
    """A prediction drawn uniformly from ``lines`` (each widened to its statement): expected hit."""
    if not lines:
        return Outcome(case.id, case.bug_kind, case.label, False, 0.0)
    ranges = [_statement_range(tree, x) for x in lines]
    hits = sum(any(a <= f <= b for f in case.fix_lines) for a, b in ranges)
    return Outcome(case.id, case.bug_kind, case.label, True, hits / len(ranges), 1)


def _probe_events(sandbox: Sandbox, task: Task, program: str, result: ExecResult) -> list[Any]:
    """Tracer events of the failing call: the last entry-point call of the first failing test."""
    first = result.first_failing_test
    if first is None or not first.calls:
        return []
    call = first.calls[-1]
    job = ExecJob(program, (), entry_point=task.entry_point, setup=task.setup, trace=(call.args, call.kwargs))
    trace = sandbox.run(job).trace
    return list(trace.get("events", [])) if trace else []


def _spectrum(sandbox: Sandbox, task: Task, program: str, result: ExecResult) -> list[tuple[bool, list[int]]]:
    """(passed, covered lines) per test, one sandbox run per test (failing tests first, capped)."""
    failing = [i for i, t in enumerate(result.tests) if t.status.value != "passed"]
    passing = [i for i, t in enumerate(result.tests) if t.status.value == "passed"]
    half = MAX_SPECTRUM_TESTS // 2
    chosen = failing[: max(half, MAX_SPECTRUM_TESTS - len(passing))]
    chosen += passing[: MAX_SPECTRUM_TESTS - len(chosen)]
    out: list[tuple[bool, list[int]]] = []
    job = ExecJob.for_task(task, program, coverage=True)
    for i in sorted(chosen):  # result.tests[i] is the record of task.tests[i]
        r = sandbox.run(replace(job, tests=(task.tests[i],)))
        out.append((r.passed, list(r.covered or ())))
    return out


def run_case(
    case: SuiteCase, sandbox: Sandbox, localizer: LocalizerLike, tasks: TaskSource, name: str
) -> CaseRun:
    """Run, localize and score one case with the localizer and every baseline."""
    task = tasks.base(case.dataset, case.task_id)
    if task is None:
        return CaseRun(case, {}, skipped=f"task {case.task_id} not found in {case.dataset}")
    result = sandbox.run(ExecJob.for_task(task, case.candidate, record_calls=True))
    tests = "base"
    if result.passed and case.source == "mutant":
        return CaseRun(case, {}, skipped="mutant passes the tests")
    if result.passed:
        plus = tasks.plus(case.dataset, case.task_id)
        if plus is None:
            return CaseRun(case, {}, skipped="candidate passes the base tests and the task has no plus tests")
        task, tests = plus, "plus"
        result = sandbox.run(ExecJob.for_task(task, case.candidate, record_calls=True))
        if result.passed:
            return CaseRun(case, {}, skipped="candidate passes the base and plus tests")
    try:
        tree: ast.AST | None = ast.parse(case.candidate)
    except SyntaxError:
        tree = None
    t0 = time.perf_counter()
    loc = localizer.localize(task, case.candidate, result)
    elapsed = time.perf_counter() - t0
    span = (loc.span.start_line, loc.span.end_line) if loc.span is not None else None
    events = _probe_events(sandbox, task, case.candidate, result)
    last = last_executed_line(events)
    ranked = top_lines(ochiai(_spectrum(sandbox, task, case.candidate, result)))
    outcomes = {
        name: _span_outcome(case, tree, span, elapsed),
        "last line": _span_outcome(case, tree, _statement_range(tree, last) if last else None),
        "random line": _expected_outcome(case, tree, executed_lines(events)),
        "ochiai top-1": _expected_outcome(case, tree, ranked),
    }
    return CaseRun(case, outcomes, tests=tests, mode=loc.mode.value)


def mutant_cases(limit: int = 20, per_kind: int = 1, seed: int = 0) -> list[SuiteCase]:
    """Today's single-edit mutants of the references as suite cases (the easy tier)."""
    tasks = [t for name in ("humaneval", "mbpp") for t in load_tasks(name, limit=limit) if t.reference]
    out = []
    for c in select_cases(tasks, per_kind, restyle_every=3, seed=seed):
        dataset = "humaneval" if c.task.task_id.startswith("HumanEval/") else "mbpp"
        out.append(
            SuiteCase(
                id=f"mutants/{c.task.task_id}/{c.mutant.kind}/{c.mutant.line}",
                dataset=dataset,
                task_id=c.task.task_id,
                source="mutant",
                candidate=c.mutant.source,
                fixed=None,
                fix_diff="",
                fix_lines=(c.mutant.line,),
                label="single",
                bug_kind=c.mutant.kind,
                verified={"candidate_fails": False},
                notes="restyled reference" if c.restyled else "",
            )
        )
    return out


def tier_cases(tier: str, path: str | None = None, limit: int | None = None) -> list[SuiteCase]:
    """The cases of a tier (``path``: a suite file instead of the packaged one)."""
    cases = mutant_cases() if tier == "mutants" else load_suite(path) if path else load_tier(tier)
    return cases[:limit] if limit is not None else cases


def bench_suite(
    tiers: dict[str, list[SuiteCase]],
    localizer: str = "trace",
    workers: int | None = None,
    timeout_s: float = 2.0,
    seed: int = 0,
    llm: LLMConfig | None = None,
) -> dict[str, Any]:
    """Run every tier; the report holds the numbers per tier and printable Markdown ``lines``.
    ``llm``: the debugger model of the ``llm`` backend (and a tie-breaker of ``auto``)."""
    if localizer not in LOCALIZERS:
        raise ValueError(f"unknown localizer {localizer!r} (known: {', '.join(LOCALIZERS)})")
    report: dict[str, Any] = {"localizer": localizer, "tiers": {}, "lines": []}
    limits = Limits(timeout_s=timeout_s, total_timeout_s=30 * timeout_s)
    with Sandbox(workers=workers, limits=limits) as sandbox:
        loc: LocalizerLike = make_localizer(localizer, sandbox, llm=llm)
        tasks = TaskSource(sandbox)
        for tier, cases in tiers.items():
            t0 = time.perf_counter()
            with ThreadPoolExecutor(sandbox.n_workers) as pool:
                runs = list(pool.map(lambda c: run_case(c, sandbox, loc, tasks, localizer), cases))
            wall = time.perf_counter() - t0
            report["tiers"][tier] = tier_report(tier, runs, [localizer, *BASELINES], wall, seed)
            report["lines"] += report["tiers"][tier].pop("lines")
    return report


def tier_report(
    tier: str, runs: list[CaseRun], methods: list[str], wall: float, seed: int = 0
) -> dict[str, Any]:
    """Numbers and Markdown of one tier."""
    scored = [r for r in runs if not r.skipped]
    per_method = {m: [r.outcomes[m] for r in scored] for m in methods}
    metrics = {m: score(o, seed) for m, o in per_method.items()}
    kinds = {m: score_by_kind(o) for m, o in per_method.items()}
    other = {m: score_other_labels(o) for m, o in per_method.items()}
    labels = {lab: sum(r.case.label == lab for r in scored) for lab in ("single", "multi", "algorithm")}
    plus = sum(r.tests == "plus" for r in scored)
    modes: dict[str, int] = {}
    for r in scored:
        modes[r.mode] = modes.get(r.mode, 0) + 1
    head = (
        f"### tier {tier}: {len(scored)} cases scored ({labels['single']} single, {labels['multi']} multi, "
        f"{labels['algorithm']} algorithm; {plus} on plus tests), {len(runs) - len(scored)} skipped; "
        f"localizer modes {dict(sorted(modes.items()))}; wall {wall:.1f} s"
    )
    lines = [head, "", *markdown_methods(metrics), "", *markdown_kinds(kinds)]
    other_lines = markdown_other(other)
    if other_lines:
        lines += ["", *other_lines]
    lines.append("")
    return {
        "cases": len(runs),
        "scored": len(scored),
        "labels": labels,
        "plus_tests": plus,
        "modes": modes,
        "skipped": {r.case.id: r.skipped for r in runs if r.skipped},
        "methods": metrics,
        "per_kind": kinds,
        "other_labels": other,
        "wall_s": wall,
        "outcomes": {m: [o.__dict__ for o in os_] for m, os_ in per_method.items()},
        "lines": lines,
    }
