"""Build and verify the rollout suite: failing candidates of sampled rollouts, labelled by a fix.

Three steps, each checked in egca's sandbox:

1. :func:`find_candidates`: the program egca runs for each sampled completion
   (:func:`egca.tasks.extract.build_program`) is run on the task's base tests, and when those pass,
   on its EvalPlus tests. A program whose first non-passing test *fails* (runs and returns a wrong
   answer) is a candidate; programs that raise, time out or do not compile are not (training routes
   them elsewhere). Identical programs of one task are kept once.
2. A person writes a minimal fix as line edits (:func:`apply_edits`), with a label and a bug kind;
   the edits live in a labels file next to the tooling, never derived from a localizer.
3. :func:`build_case` applies the edits, computes ``fix_diff`` / ``fix_lines`` from the two texts,
   and :func:`verify` checks that the candidate fails and the fixed program passes the base and
   (where they exist) the plus tests.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from egca.bench.suite import PLUS_DATASET
from egca.bench.suite_format import SuiteCase, fix_diff, fix_lines, validate_case
from egca.execution.job import ExecJob
from egca.execution.references import prepare_tasks
from egca.execution.result import ExecResult
from egca.execution.sandbox import Sandbox
from egca.tasks.extract import build_program
from egca.tasks.registry import load_tasks
from egca.tasks.task import Task

_MBPP_SPLITS = ("train", "validation", "test", "prompt")


class TaskIndex:
    """Base and plus tasks by (dataset, task id); plus tasks get their expected outputs on demand."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self._base: dict[tuple[str, str], Task] = {}
        for t in load_tasks("humaneval"):
            self._base["humaneval", t.task_id] = t
        for split in _MBPP_SPLITS:
            for t in load_tasks("mbpp", split=split):
                self._base["mbpp", t.task_id] = t
        self._plus_raw: dict[tuple[str, str], Task] = {}
        for ds, plus in PLUS_DATASET.items():
            for t in load_tasks(plus):
                self._plus_raw[ds, t.task_id] = t
        self._plus: dict[tuple[str, str], Task] = {}

    def base(self, dataset: str, task_id: str) -> Task:
        try:
            return self._base[dataset, task_id]
        except KeyError:
            raise KeyError(f"no task {task_id!r} in {dataset!r}") from None

    def plus(self, dataset: str, task_id: str) -> Task | None:
        """The EvalPlus task with expected outputs filled in, or None when EvalPlus lacks it."""
        key = (dataset, task_id)
        if key not in self._plus_raw:
            return None
        if key not in self._plus:
            self._plus[key] = prepare_tasks([self._plus_raw[key]], self.sandbox)[0]
        return self._plus[key]

    def prepare_plus(self, keys: Iterable[tuple[str, str]]) -> None:
        """Fill in the plus tasks of ``keys`` in one sandbox batch."""
        todo = [k for k in dict.fromkeys(keys) if k in self._plus_raw and k not in self._plus]
        for k, t in zip(todo, prepare_tasks([self._plus_raw[k] for k in todo], self.sandbox)):
            self._plus[k] = t


@dataclass(frozen=True)
class Verdict:
    """The outcome of a program on the base tests and on the plus tests (None: no plus task)."""

    base: ExecResult
    plus: ExecResult | None

    @property
    def passes(self) -> bool:
        return self.base.passed and (self.plus is None or self.plus.passed)

    @property
    def failing(self) -> ExecResult | None:
        """The first test run that did not pass (base first), or None."""
        if not self.base.passed:
            return self.base
        if self.plus is not None and not self.plus.passed:
            return self.plus
        return None

    def describe(self) -> str:
        r = self.failing
        if r is None:
            return "passes"
        which = "base" if r is self.base else "plus"
        first = r.first_failing_test
        msg = first.message if first else (f"{r.error.type}: {r.error.message}" if r.error else "")
        return f"{which} {r.status.value}: {msg}"[:600]


def run_programs(index: TaskIndex, items: Sequence[tuple[str, str, str]], plus: bool = True) -> list[Verdict]:
    """Run each (dataset, task_id, program) on its base tests and, if ``plus``, its plus tests."""
    if plus:
        index.prepare_plus((d, t) for d, t, _ in items)
    base_jobs = [ExecJob.for_task(index.base(d, t), p) for d, t, p in items]
    base = index.sandbox.run_many(base_jobs)
    plus_tasks = [index.plus(d, t) if plus else None for d, t, _ in items]
    plus_jobs = [(i, ExecJob.for_task(pt, items[i][2])) for i, pt in enumerate(plus_tasks) if pt is not None]
    plus_results = index.sandbox.run_many([j for _, j in plus_jobs])
    by_i = {i: r for (i, _), r in zip(plus_jobs, plus_results)}
    return [Verdict(b, by_i.get(i)) for i, b in enumerate(base)]


def case_id(row: dict[str, Any]) -> str:
    """The suite id of a sampled rollout: ``rollouts/<model>/<task id>/<sample index>``."""
    return f"rollouts/{row['source']}/{row['task_id']}/{row['index']}"


def find_candidates(index: TaskIndex, rollouts: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The failing-but-running candidates among sampled rollouts (see the module docstring).

    Returns every rollout, with ``id``, ``candidate`` (the program), ``status`` (of its first
    non-passing test run, or ``"passed"``), ``fails_on`` (``"base"``, ``"plus"`` or None),
    ``failure`` (that run's first failing test) and ``duplicate`` (an earlier rollout of the task
    has the same program) added. Candidates are the rows with status ``"failed"``, not duplicates.
    """
    items = []
    for r in rollouts:
        task = index.base(r["dataset"], r["task_id"])
        items.append((r["dataset"], r["task_id"], build_program(task, r["completion"]).source))
    verdicts = run_programs(index, items)
    seen: set[tuple[str, str]] = set()
    out = []
    for r, (_, task_id, program), v in zip(rollouts, items, verdicts):
        failing = v.failing
        r = {
            **r,
            "id": case_id(r),
            "candidate": program,
            "status": failing.status.value if failing else "passed",
        }
        r["failure"] = v.describe()
        r["fails_on"] = None if failing is None else ("base" if failing is v.base else "plus")
        out.append(r)
        key = (task_id, program)
        r["duplicate"] = key in seen
        seen.add(key)
    return out


def apply_edits(candidate: str, edits: Sequence[Sequence[Any]]) -> str:
    """Apply line edits to ``candidate``; each edit is ``[line, op, text]`` (1-based candidate line).

    ``op``: ``"replace"`` (the line becomes ``text``, which may hold several lines), ``"delete"``,
    ``"before"`` / ``"after"`` (insert ``text`` before / after the line). Edits refer to the
    original numbering and may come in any order; a line gets at most one replace or delete.
    """
    lines = candidate.splitlines(keepends=True)
    n = len(lines)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
        trailing = False
    else:
        trailing = True
    before: dict[int, list[str]] = {}
    after: dict[int, list[str]] = {}
    replaced: dict[int, list[str]] = {}
    for edit in edits:
        line, op = int(edit[0]), str(edit[1])
        text = str(edit[2]) if len(edit) > 2 else ""
        if not 1 <= line <= n:
            raise ValueError(f"edit line {line} outside the candidate's {n} lines")
        new = [ln + "\n" for ln in text.split("\n")] if op != "delete" else []
        if op in ("replace", "delete"):
            if line in replaced:
                raise ValueError(f"line {line} replaced twice")
            replaced[line] = new
        elif op == "before":
            before.setdefault(line, []).extend(new)
        elif op == "after":
            after.setdefault(line, []).extend(new)
        else:
            raise ValueError(f"unknown edit op {op!r} (replace, delete, before, after)")
    out: list[str] = []
    for i, ln in enumerate(lines, start=1):
        out.extend(before.get(i, []))
        out.extend(replaced.get(i, [ln]))
        out.extend(after.get(i, []))
    text = "".join(out)
    return text if trailing or not text.endswith("\n") else text[:-1]


def build_case(
    rollout: dict[str, Any], label: dict[str, Any], verdicts: tuple[Verdict, Verdict | None]
) -> SuiteCase:
    """The suite row of a labelled candidate; ``verdicts``: (candidate's, fixed program's or None).

    Raises ``ValueError`` when the candidate passes or the fix does not pass base and plus tests.
    """
    cand_v, fixed_v = verdicts
    candidate = rollout["candidate"]
    fixed = None if label.get("edits") is None else apply_edits(candidate, label["edits"])
    if cand_v.passes:
        raise ValueError(f"{rollout['id']}: the candidate passes")
    if fixed is not None and (fixed_v is None or not fixed_v.passes):
        why = fixed_v.describe() if fixed_v else "not run"
        raise ValueError(f"{rollout['id']}: the fixed program does not pass ({why})")
    notes = label.get("notes", "")
    if cand_v.base.passed:
        notes = (notes + "; " if notes else "") + "candidate fails only the plus tests"
    row = {
        "id": rollout["id"],
        "dataset": rollout["dataset"],
        "task_id": rollout["task_id"],
        "source": rollout["source"],
        "sampling": {k: v for k, v in rollout["sampling"].items()},
        "completion": rollout["completion"],
        "candidate": candidate,
        "fixed": fixed,
        "fix_diff": fix_diff(candidate, fixed),
        "fix_lines": fix_lines(candidate, fixed),
        "label": label["label"],
        "bug_kind": label["bug_kind"],
        "verified": {
            "candidate_fails": True,
            "fixed_base": None if fixed_v is None else fixed_v.base.passed,
            "fixed_plus": None if fixed_v is None or fixed_v.plus is None else fixed_v.plus.passed,
        },
        "notes": notes,
    }
    return validate_case(row, rollout["id"])


def verify(index: TaskIndex, cases: Sequence[SuiteCase]) -> list[str]:
    """Re-run every case: the candidate must fail, the fixed program pass base and plus tests.

    Returns one problem line per case that does not hold (empty: all verified).
    """
    items = [(c.dataset, c.task_id, c.candidate) for c in cases]
    fixed_items = [(c.dataset, c.task_id, c.fixed) for c in cases if c.fixed is not None]
    verdicts = run_programs(index, items + fixed_items)
    cand_v, fixed_v = verdicts[: len(items)], iter(verdicts[len(items) :])
    problems = []
    for c, v in zip(cases, cand_v):
        if v.passes:
            problems.append(f"{c.id}: candidate passes")
        if c.fixed is not None:
            fv = next(fixed_v)
            if not fv.passes:
                problems.append(f"{c.id}: fixed does not pass ({fv.describe()})")
            elif (fv.plus is not None) != (c.verified.get("fixed_plus") is not None):
                problems.append(
                    f"{c.id}: plus tests {'exist' if fv.plus else 'missing'} but verified says otherwise"
                )
    return problems
