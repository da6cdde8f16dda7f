"""Run many variants of one program in one sandboxed child: a driver program over the public API.

A batch is an ordinary :class:`~egca.execution.ExecJob`: its program is the original candidate
followed by a *driver* that holds the variants' sources and rebinds the entry point to a dispatcher
calling the entry point of the variant selected last; its tests are, for each variant, a ``select``
statement followed by the task's tests (rewritten asserts and ``call`` tests as usual, so the
sandbox's own checks and oracles judge every variant). Each variant is loaded in a fresh namespace;
each entry-point call runs under a per-call ``SIGALRM`` budget (a hung variant raises instead of
costing the whole batch); a variant that fails a test turns its remaining tests into instant
failures (stop at the first failed test). A child killed anyway (a variant that swallows the alarm)
loses only the rest of its batch, which is submitted again without the culprit.

The tests run on the sandbox's test side and reach the driver's ``_egca_*`` functions across the
process boundary like any function of the program (names starting with ``__`` are not exported).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from egca.execution import ExecJob, Sandbox, Status
from egca.execution.job import Limits
from egca.tasks.task import Task, TestCase

_DRIVER = """

def __egca_batch_driver(__entry, __sources, __budget):
    import signal as _signal

    class VariantTimeout(BaseException):
        pass

    def _alarm(signum, frame):
        raise VariantTimeout("variant call budget exceeded")

    _signal.signal(_signal.SIGALRM, _alarm)
    base = dict(globals())
    state = {"fn": None, "dead": True, "pending": False}

    def select(i):
        _signal.setitimer(_signal.ITIMER_REAL, 0)
        state["fn"], state["dead"], state["pending"] = None, True, False
        ns = {k: v for k, v in base.items() if k.startswith("__") and k.endswith("__")}
        ns["__name__"] = "__egca_candidate__"
        _signal.setitimer(_signal.ITIMER_REAL, __budget)
        try:
            exec(compile(__sources[i], "<candidate>", "exec", dont_inherit=True), ns)
        finally:
            _signal.setitimer(_signal.ITIMER_REAL, 0)
        state["fn"], state["dead"] = ns.get(__entry), False

    def begin():
        if state["dead"] or state["pending"]:  # the previous test of this variant did not pass
            state["dead"] = True
            raise RuntimeError("variant already failed")
        state["pending"] = True

    def end():
        state["pending"] = False

    def dispatch(*args, **kwargs):
        if state["dead"] or state["fn"] is None:
            raise RuntimeError("variant already failed")
        _signal.setitimer(_signal.ITIMER_REAL, __budget)
        try:
            return state["fn"](*args, **kwargs)
        finally:
            _signal.setitimer(_signal.ITIMER_REAL, 0)

    return select, begin, end, dispatch


_egca_select, _egca_begin, _egca_end, @ENTRY@ = __egca_batch_driver(@ARGS@)
"""


@dataclass(frozen=True)
class VariantOutcome:
    """Which of the screened tests a variant passes (indices into the tests it was run on)."""

    passed: frozenset[int]
    failed_at: int | None  # the first test it did not pass (None: it passed them all)
    status: str = "passed"  # "passed", "failed", "error" (raised or did not load), "timeout"

    @property
    def all_passed(self) -> bool:
        return self.failed_at is None


def _batch_job(
    task: Task, program: str, sources: Sequence[str], tests: Sequence[TestCase], budget_s: float
) -> ExecJob:
    args = f"{task.entry_point!r}, {tuple(sources)!r}, {float(budget_s)!r}"
    driver = _DRIVER.replace("@ENTRY@", task.entry_point).replace("@ARGS@", args)
    steps: list[TestCase] = []
    for v in range(len(sources)):
        steps.append(TestCase(len(steps), kind="assert", source=f"_egca_select({v})"))
        for t in tests:
            if t.kind == "assert":  # a test that does not reach its end marks the variant failed
                t = replace(t, source=f"_egca_begin()\n{t.source}\n_egca_end()")
            steps.append(replace(t, index=len(steps)))
    base = ExecJob.for_task(task, program + driver)
    limits = Limits(timeout_s=max(0.5, 2 * budget_s), total_timeout_s=60.0)
    return replace(base, tests=tuple(steps), limits=limits, timeout_floor_s=0.0)


def run_variants(
    sandbox: Sandbox,
    task: Task,
    program: str,
    sources: Sequence[str],
    tests: Sequence[TestCase],
    budget_s: float = 0.5,
    per_job: int = 40,
) -> list[VariantOutcome]:
    """Run every variant of ``program`` on ``tests`` (in order, stopping at its first failure).

    Variants are split into jobs of at most ``per_job`` (at least one job per sandbox worker when
    there are enough) and run concurrently; ``budget_s`` bounds each entry-point call and each
    variant's load.
    """
    n = len(sources)
    outcomes: list[VariantOutcome | None] = [None] * n
    todo = list(range(n))
    width = len(tests) + 1
    while todo:
        size = max(1, min(per_job, -(-len(todo) // max(1, sandbox.n_workers))))
        chunks = [todo[i : i + size] for i in range(0, len(todo), size)]
        jobs = [_batch_job(task, program, [sources[v] for v in c], tests, budget_s) for c in chunks]
        results = sandbox.run_many(jobs)
        todo = []
        for chunk, res in zip(chunks, results):
            statuses = [t.status for t in res.tests]
            if len(statuses) != len(chunk) * width:  # the driver did not load: no variant ran
                for v in chunk:
                    outcomes[v] = VariantOutcome(frozenset(), 0, "error")
                continue
            for j, v in enumerate(chunk):
                part = statuses[j * width : (j + 1) * width]
                if part[0] is Status.SKIPPED:
                    todo.append(v)  # lost with the child: run again
                    continue
                outcomes[v] = _outcome(part)
            # the variant whose step the child died on is not run again
            killed = [
                v
                for j, v in enumerate(chunk)
                if any(
                    s in (Status.TIMEOUT, Status.CRASHED, Status.MEMORY)
                    for s in statuses[j * width : (j + 1) * width]
                )
            ]
            todo = [v for v in todo if v not in killed]
    return [o if o is not None else VariantOutcome(frozenset(), 0, "timeout") for o in outcomes]


def _outcome(part: Sequence[Status]) -> VariantOutcome:
    load, runs = part[0], part[1:]
    if load is not Status.PASSED:
        status = "timeout" if load in (Status.TIMEOUT, Status.CRASHED, Status.MEMORY) else "error"
        return VariantOutcome(frozenset(), 0, status)
    passed = frozenset(i for i, s in enumerate(runs) if s is Status.PASSED)
    failed_at = next((i for i, s in enumerate(runs) if s is not Status.PASSED), None)
    status = "passed" if failed_at is None else str(runs[failed_at].value)
    if status == "skipped":
        status = "timeout"
    return VariantOutcome(passed, failed_at, status)
