"""The counterfactual localizer: the line where a single small edit repairs the program.

For a logic-mode rollout (it runs and fails a test): generate single-site edits on the lines the
failing tests executed (:mod:`egca.credit.repair.variants`), run them in the sandbox many per child
(:mod:`egca.credit.repair.batch`) on the failing tests first and a sample of the passing ones,
verify every screened repair on all the task's tests, and rank the lines: a verified repair first;
among several repaired lines the more natural edit (its prior) plus the line's mutant kills, then
the spectrum (Ochiai), then the earlier line. No repair: abstain (``reason="abstain:no_repair"``), leaving the choice of a weaker
signal to the caller (:mod:`egca.credit.backends`). The reference is only an output oracle here.
Results are cached per (task, reference, program); every search runs under a :class:`RepairBudget`.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from threading import Lock
from typing import Any

from egca.credit.constraints import ConstraintConfig
from egca.credit.constraints import check as check_constraints
from egca.credit.divergence import ProgramIndex, Span
from egca.credit.localize import Localization, Localizer, lacks_calls, route_error
from egca.credit.repair.batch import VariantOutcome, run_variants
from egca.credit.repair.edits import Edit
from egca.credit.repair.evidence import Evidence, gather
from egca.credit.repair.variants import generate
from egca.credit.types import Mode
from egca.execution import ExecJob, ExecResult, Sandbox, Status
from egca.tasks.task import Task


@dataclass(frozen=True)
class RepairBudget:
    """Per-rollout limits of the repair search."""

    max_variants: int = 400  # variants executed at most
    max_seconds: float = 2.0  # no new round of variants starts after this
    first_round: int = 120  # variants of the first round (most promising first)
    screen_passing: int = 10  # passing tests run by every variant, after the failing ones
    call_budget_s: float = 0.25  # per entry-point call of a variant (and per variant load), at most
    call_budget_factor: float = 20.0  # ... and at most this times the original's slowest test (+ 20 ms)
    max_verified: int = 12  # screened repairs re-run on all tests


@dataclass(frozen=True)
class Repair:
    edit: Edit
    outcome: VariantOutcome


def _key(task: Task, program: str) -> str:
    h = hashlib.sha256(f"{task.task_id}\0{task.reference}\0{program}".encode())
    return h.hexdigest()


class CounterfactualLocalizer:
    """Routes rollouts like :class:`~egca.credit.localize.Localizer`; localizes by repair search."""

    name = "counterfactual"

    def __init__(
        self,
        sandbox: Sandbox,
        constraints: ConstraintConfig | None = ConstraintConfig(),
        budget: RepairBudget = RepairBudget(),
        cache_size: int = 4096,
    ) -> None:
        self.sandbox = sandbox
        self.constraints = constraints
        self.budget = budget
        self._cache: OrderedDict[str, Localization] = OrderedDict()
        self._cache_size = cache_size
        self._lock = Lock()
        self._router = Localizer(sandbox, constraints)

    def route(self, task: Task, program: str, result: ExecResult, reason: str) -> Localization:
        """The rollout's mode without localizing it (see :meth:`Localizer.route`)."""
        return self._router.route(task, program, result, reason)

    def localize(
        self, task: Task, program: str, result: ExecResult | None = None, siblings: Sequence[str] = ()
    ) -> Localization:
        """Mode and repaired span of ``program`` (``siblings`` are not needed: the tests are the oracle)."""
        t0 = time.perf_counter()
        key = _key(task, program)
        with self._lock:
            hit = self._cache.get(key)
        if hit is not None:
            return replace(
                hit, analysis_s=time.perf_counter() - t0, evidence={**hit.evidence, "cached": True}
            )
        if result is None or lacks_calls(result):
            result = self.sandbox.run(ExecJob.for_task(task, program, record_calls=True))
        loc = self._localize(task, program, result, t0)
        loc = replace(loc, analysis_s=time.perf_counter() - t0)
        with self._lock:
            self._cache[key] = loc
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return loc

    def _localize(self, task: Task, program: str, result: ExecResult, t0: float) -> Localization:
        if result.status not in (Status.PASSED, Status.FAILED):
            return route_error(program, result)
        if result.passed:
            return Localization(Mode.CORRECT)
        verdict = None
        if self.constraints is not None and task.reference:
            verdict = check_constraints(program, task.reference, self.constraints)
        try:
            index = ProgramIndex(program)
        except SyntaxError:
            return Localization(Mode.LOGIC, fallback=True, reason="span_mapping")
        found = self.search(task, program, result, t0)
        loc = self._choose(index, *found)
        if verdict is not None and not verdict.ok and loc.span is None:
            return Localization(  # the paper's constraint mode, when no repair says otherwise
                Mode.CONSTRAINT,
                reason="; ".join(verdict.reasons),
                evidence={**loc.evidence, "similarity": round(verdict.similarity, 3)},
            )
        if verdict is not None:
            loc = replace(loc, evidence={**loc.evidence, "similarity": round(verdict.similarity, 3)})
        return loc

    # -- the search -------------------------------------------------------------------------------

    def search(
        self, task: Task, program: str, result: ExecResult, t0: float | None = None
    ) -> tuple[list[Repair], Evidence, dict[str, Any]]:
        """Verified repairs of ``program`` (best first is decided by :meth:`_choose`), the evidence,
        and search statistics."""
        t0 = time.perf_counter() if t0 is None else t0
        b = self.budget
        ev = gather(self.sandbox, task, program, result)
        weight = lambda line: 0.5 + ev.ochiai.get(line, 0.0)  # noqa: E731
        lines = _allowed_lines(program, ev.executed)
        edits = generate(program, ev.guard_values, lines=lines, weight=weight)[: b.max_variants]
        screen = [task.tests[i] for i in ev.failing] + [task.tests[i] for i in ev.passing[: b.screen_passing]]
        screen = [replace(t, index=j) for j, t in enumerate(screen)]
        slowest = max((t.duration_s for t in result.tests), default=0.0)
        floor = float(task.metadata.get("timeout_floor_s", 0.0))
        call_budget = max(floor, min(b.call_budget_s, 0.02 + b.call_budget_factor * slowest))
        screened: list[Repair] = []
        partial: dict[int, int] = {}
        tried: dict[int, list[int]] = {}  # line -> [variants run, variants passing a failing test]
        done = 0
        rounds = 0
        while done < len(edits) and (done == 0 or time.perf_counter() - t0 < b.max_seconds):
            size = b.first_round if done == 0 else len(edits) - done
            chunk = edits[done : done + size]
            outs = run_variants(self.sandbox, task, program, [e.source for e in chunk], screen, call_budget)
            rounds += 1
            done += len(chunk)
            for e, o in zip(chunk, outs):
                counts = tried.setdefault(e.line, [0, 0])
                counts[0] += 1
                counts[1] += o.all_passed or bool(o.failed_at)
                if o.all_passed:
                    screened.append(Repair(e, o))
                elif o.failed_at:
                    partial[e.line] = max(partial.get(e.line, 0), o.failed_at)
            if screened:
                break
        verified = self._verify(task, screened, len(screen) < len(task.tests))
        stats = {
            "variants": len(edits),
            "executed": done,
            "rounds": rounds,
            "screened": len(screened),
            "repairs": len(verified),
            "partial_lines": sorted(partial)[:10],
        }
        ev = replace(ev, kills={ln: k / n for ln, (n, k) in tried.items() if n})
        return verified, ev, stats

    def _verify(self, task: Task, screened: list[Repair], needed: bool) -> list[Repair]:
        if not needed or not screened:
            return screened
        todo = screened[: self.budget.max_verified]
        jobs = [ExecJob.for_task(task, r.edit.source, fail_fast=True) for r in todo]
        return [r for r, res in zip(todo, self.sandbox.run_many(jobs)) if res.passed]

    # -- ranking ----------------------------------------------------------------------------------

    @staticmethod
    def rank(repairs: list[Repair], ev: Evidence) -> list[tuple[int, Repair]]:
        """Repaired lines, best first: the most natural repairing edit (its prior) plus the line's
        mutant kills (the share of its variants that make a failing test pass), then Ochiai, then
        the earlier line."""
        best: dict[int, Repair] = {}
        for r in repairs:
            cur = best.get(r.edit.line)
            if cur is None or r.edit.prior > cur.edit.prior:
                best[r.edit.line] = r
        order = sorted(
            best, key=lambda ln: (-(best[ln].edit.prior + ev.kills.get(ln, 0.0)), -ev.ochiai.get(ln, 0.0), ln)
        )
        return [(ln, best[ln]) for ln in order]

    def _choose(
        self, index: ProgramIndex, repairs: list[Repair], ev: Evidence, stats: dict[str, Any]
    ) -> Localization:
        evidence: dict[str, Any] = {"method": "counterfactual", **stats}
        ranked = self.rank(repairs, ev)
        if not ranked:
            return Localization(Mode.LOGIC, fallback=True, reason="abstain:no_repair", evidence=evidence)
        line, rep = ranked[0]
        span = _edit_span(index, rep.edit)
        evidence.update(
            edit=rep.edit.kind,
            replacement=rep.edit.replacement[:200],
            repaired_lines=[ln for ln, _ in ranked][:8],
            candidates=[
                {
                    "line": ln,
                    "span": _edit_span(index, r.edit).to_dict(),
                    "edit": r.edit.kind,
                    "prior": round(r.edit.prior, 3),
                }
                for ln, r in ranked[:8]
            ],
            ochiai=round(ev.ochiai.get(line, 0.0), 3),
        )
        return Localization(Mode.LOGIC, span=span, kind="repair", evidence=evidence, reference="tests")


def _allowed_lines(program: str, executed: frozenset[int]) -> set[int]:
    """Lines an edit may be credited to: executed lines and every line of an executed simple
    statement (multi-line expressions report one of their lines)."""
    try:
        index = ProgramIndex(program)
    except SyntaxError:
        return set(executed)
    out = set(executed)
    for line in executed:
        stmt = index.statement(line)
        if stmt is not None and not hasattr(stmt, "body"):
            out.update(range(stmt.lineno, (stmt.end_lineno or stmt.lineno) + 1))
    return out


def _edit_span(index: ProgramIndex, edit: Edit) -> Span:
    """The edited sub-expression in character columns; a whole compound statement: its header."""
    line, end_line, col, end_col = edit.region
    stmt = index.statement(line)
    if stmt is not None and stmt.lineno == line and stmt.col_offset == col and hasattr(stmt, "body"):
        return index.header(stmt)
    return Span(line, end_line, index._char_col(line, col), index._char_col(end_line, end_col))
