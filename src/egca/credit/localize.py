"""Route a rollout to its mode and, in logic mode, localize its earliest divergence (no LLM).

Steps for a program that runs and fails a test (docs/method.md, "The localizer"):

1. **Probe.** Rerun the tests with every entry-point call recorded; the first call (in test order)
   whose result differs from the reference's result on the same arguments is the probe.
2. **Call-level oracle.** Trace the candidate on the probe; every call of the entry point inside
   the trace (recursion included) is checked against the reference on the same arguments. The first
   wrong call to return has only right children: it is the buggy frame.
3. **Value / control-flow / return divergence** inside that frame against the reference's trace
   on the same arguments (:mod:`egca.credit.divergence`).

Every sandbox run goes through :class:`~egca.execution.Sandbox`; nothing here executes a program.
"""

from __future__ import annotations

import ast
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from egca.credit.constraints import ConstraintConfig
from egca.credit.constraints import check as check_constraints
from egca.credit.divergence import Divergence, ProgramIndex, Span, find_divergence, frame_events
from egca.credit.divergence import value_key as _key
from egca.credit.types import Mode
from egca.execution import ExecJob, ExecResult, Sandbox, Status
from egca.tasks.task import Task, TestCase
from egca.values import from_wire, short_repr, to_wire

TIMEOUT_LIKE = (Status.TIMEOUT, Status.MEMORY, Status.CRASHED)


@dataclass(frozen=True)
class Localization:
    """The mode of a rollout and, when found, the divergent statement of the candidate."""

    mode: Mode
    span: Span | None = None
    kind: str | None = None
    fallback: bool = False
    reason: str = ""
    probe: dict[str, Any] | None = None
    evidence: dict[str, Any] = field(default_factory=dict)
    reference: str = ""
    analysis_s: float = 0.0
    late_span: Span | None = None  # the last divergence found (``late_span`` ablation)

    @property
    def status(self) -> str:
        if self.mode in (Mode.CORRECT, Mode.CONSTRAINT):
            return "uniform"
        return f"fallback:{self.reason}" if self.fallback else "localized"

    def to_dict(self) -> dict[str, Any]:
        probe: dict[str, Any] | None = None
        if self.probe is not None:
            probe = {k: short_repr(from_wire(v), 500) for k, v in self.probe.items()}
            probe["wire"] = self.probe
        return {
            "mode": self.mode.value,
            "span": self.span.to_dict() if self.span else None,
            "late_span": self.late_span.to_dict() if self.late_span else None,
            "kind": self.kind,
            "fallback": self.fallback,
            "reason": self.reason,
            "probe": probe,
            "evidence": self.evidence,
            "reference": self.reference,
            "status": self.status,
        }


def route_error(program: str, result: ExecResult) -> Localization:
    """Syntax mode: the offending statement (SyntaxError position, innermost candidate frame)."""
    err = result.error
    if result.status in TIMEOUT_LIKE:
        reason = "timeout" if result.status is Status.TIMEOUT else "crash"
        return Localization(Mode.SYNTAX, fallback=True, reason=reason, kind="crash")
    if err is not None and err.type == "RecursionError":
        return Localization(Mode.SYNTAX, fallback=True, reason="recursion", kind="crash")
    if err is None or err.line is None:
        return Localization(Mode.SYNTAX, fallback=True, reason="no_error_line", kind="crash")
    span: Span | None = None
    if result.status is not Status.SYNTAX_ERROR:
        try:
            span = ProgramIndex(program).span_of(err.line)
        except SyntaxError:
            span = None
        if err.col is not None and err.end_col is not None and err.end_line is not None:
            span = Span(err.line, err.end_line, err.col, err.end_col)  # the failing expression
    if span is None:  # a syntax error: the whole offending line (the statement does not parse)
        lines = program.splitlines()
        line = min(err.line, len(lines))
        while line > 1 and not lines[line - 1].strip():
            line -= 1
        text = lines[line - 1] if lines else ""
        start = len(text) - len(text.lstrip())
        span = Span(line, line, start, max(len(text.rstrip()), start + 1))
    return Localization(
        Mode.SYNTAX, span=span, kind="crash", evidence={"error": f"{err.type}: {err.message}"[:300]}
    )


def _args_key(args: tuple[Any, ...]) -> str:
    return json.dumps(to_wire(args), sort_keys=True)


def _judgeable_args_key(event: list[Any]) -> str | None:
    """The arguments of a call event as a key, or None when they cannot identify the call
    (comprehension frames, iterators and other opaque or summarised values)."""
    if event[2].startswith("<"):
        return None
    text = json.dumps(event[4], sort_keys=True)
    if '"opaque"' in text or '"summary"' in text:
        return None
    try:
        return _args_key(tuple(from_wire(v) for v in event[4].values()))
    except ValueError:
        return None


def _calls_by_args(events: list[list[Any]]) -> dict[tuple[str, str], tuple[Any, int, int]]:
    """(function, args) -> (return value, depth, event index) for the first such call in a trace."""
    out: dict[tuple[str, str], tuple[Any, int, int]] = {}
    stack: list[tuple[str, int, int, str | None]] = []
    for i, e in enumerate(events):
        if e[0] == "call":
            key = _judgeable_args_key(e)
            stack.append((e[2], e[1], i, key))
        elif e[0] == "return" and stack and stack[-1][1] == e[1]:
            name, depth, start, key = stack.pop()
            if key is not None:
                out.setdefault((name, key), (e[4], depth, start))
    return out


def lacks_calls(result: ExecResult) -> bool:
    """True for a failing run without recorded entry-point calls (a run without ``record_calls``):
    the only case where the localizer runs the program again. Errors, timeouts and crashes are
    routed from the result itself, so a program that hangs never costs a second timeout."""
    return result.status is Status.FAILED and not any(t.calls for t in result.tests)


class Localizer:
    """Routes rollouts and localizes logic-mode ones against a task's reference."""

    def __init__(
        self,
        sandbox: Sandbox,
        constraints: ConstraintConfig | None = ConstraintConfig(),
        max_siblings: int = 2,
    ) -> None:
        """``constraints=None`` switches the constraint checks and the comparability gate off."""
        self.sandbox = sandbox
        self.constraints = constraints
        self.max_siblings = max_siblings
        self._ref_out: dict[tuple[str, str], Any] = {}  # (reference, args) -> wire output or None
        self._ref_trace: dict[tuple[str, str], dict[str, Any]] = {}
        self._indexes: dict[str, ProgramIndex | None] = {}

    # -- reference runs (cached) ----------------------------------------------------------------

    def _index(self, source: str) -> ProgramIndex | None:
        if source not in self._indexes:
            try:
                self._indexes[source] = ProgramIndex(source)
            except SyntaxError:
                self._indexes[source] = None
        return self._indexes[source]

    def _reference_outputs(
        self, task: Task, reference: str, calls: list[tuple[Any, ...]], function: str | None = None
    ) -> list[Any]:
        function = function or task.entry_point
        keys = [(reference + "\0" + function, json.dumps(to_wire(args), sort_keys=True)) for args in calls]
        todo = [(k, a) for k, a in zip(keys, calls) if k not in self._ref_out]
        if todo:
            tests = tuple(TestCase(i, kind="call", args=a) for i, (_, a) in enumerate(todo))
            job = ExecJob(reference, tests, entry_point=function, setup=task.setup, capture=True)
            res = self.sandbox.run(job)
            for (k, _), t in zip(todo, res.tests):
                self._ref_out[k] = to_wire(t.output) if t.status is Status.PASSED else None
        return [self._ref_out[k] for k in keys]

    def _trace(
        self, task: Task, program: str, args: tuple[Any, ...], cache: bool, function: str | None = None
    ) -> dict[str, Any] | None:
        key = (program + "\0" + (function or ""), json.dumps(to_wire(args), sort_keys=True))
        if cache and key in self._ref_trace:
            return self._ref_trace[key]
        job = ExecJob(
            program,
            (),
            entry_point=task.entry_point,
            setup=task.setup,
            trace=(args, {}),
            trace_function=function,
        )
        res = self.sandbox.run(job)
        trace = res.trace
        if cache and trace is not None:
            self._ref_trace[key] = trace
        return trace

    # -- the cascade ------------------------------------------------------------------------------

    def localize(
        self, task: Task, program: str, result: ExecResult | None = None, siblings: Sequence[str] = ()
    ) -> Localization:
        """Mode and divergent span of ``program`` (``result``: its test run with recorded calls).

        ``siblings``: programs of the same group that pass every test; up to ``max_siblings`` of them
        serve as extra references, and a divergence must be unexplained by every reference (the
        latest of their earliest divergences is kept).
        """
        t0 = time.perf_counter()
        if result is None or lacks_calls(result):
            result = self.sandbox.run(ExecJob.for_task(task, program, record_calls=True))
        loc = self._localize(task, program, result, list(siblings)[: self.max_siblings])
        return Localization(**{**loc.__dict__, "analysis_s": time.perf_counter() - t0})

    def route(self, task: Task, program: str, result: ExecResult, reason: str) -> Localization:
        """The mode of ``program`` from its test run and the static constraint checks alone: no
        sandbox run, no span. Syntax and logic rollouts get ``fallback`` with ``reason`` (used for
        rollouts whose advantage is 0, where a span could not change the update)."""
        t0 = time.perf_counter()
        if result.status not in (Status.PASSED, Status.FAILED):
            loc = Localization(Mode.SYNTAX, fallback=True, reason=reason, kind="crash")
        else:
            loc = self._gate(task, program) or Localization(
                Mode.CORRECT if result.passed else Mode.LOGIC, fallback=not result.passed, reason=reason
            )
        return replace(loc, analysis_s=time.perf_counter() - t0)

    def _gate(self, task: Task, program: str) -> Localization | None:
        """Constraint mode when the checks reject ``program`` against the task's reference."""
        if self.constraints is None or not task.reference:
            return None
        verdict = check_constraints(program, task.reference, self.constraints)
        if verdict.ok:
            return None
        return Localization(
            Mode.CONSTRAINT,
            reason="; ".join(verdict.reasons),
            evidence={"similarity": round(verdict.similarity, 3), "notes": list(verdict.notes)},
        )

    def _localize(self, task: Task, program: str, result: ExecResult, siblings: list[str]) -> Localization:
        if result.status not in (Status.PASSED, Status.FAILED):
            return route_error(program, result)
        gated = self._gate(task, program)
        if gated is not None:
            return gated
        if result.passed:
            return Localization(Mode.CORRECT)
        if not task.reference:
            return Localization(Mode.LOGIC, fallback=True, reason="reference_failed")
        first = result.first_failing_test
        calls = [c for c in (first.calls if first else ()) if c.raised is None]
        if first is None or not calls:
            return Localization(Mode.LOGIC, fallback=True, reason="no_probe")
        expected = self._reference_outputs(task, task.reference, [c.args for c in calls])
        probe_i = next(
            (
                i
                for i, (c, e) in enumerate(zip(calls, expected))
                if e is not None and _key(to_wire(c.result)) != _key(e)
            ),
            None,
        )
        if probe_i is None:
            return Localization(
                Mode.LOGIC,
                fallback=True,
                reason="no_divergence",
                evidence={"note": "every entry-point call returned the reference's value"},
            )
        probe = calls[probe_i]
        probe_info = {
            "args": to_wire(probe.args),
            "result": to_wire(probe.result),
            "expected": expected[probe_i],
        }
        trace = self._trace(task, program, probe.args, cache=False)
        if trace is None:
            return Localization(Mode.LOGIC, fallback=True, reason="trace_failed", probe=probe_info)
        if trace.get("truncated"):
            return Localization(Mode.LOGIC, fallback=True, reason="truncated", probe=probe_info)
        try:
            index = ProgramIndex(program)
        except SyntaxError:
            return Localization(Mode.LOGIC, fallback=True, reason="span_mapping", probe=probe_info)
        ref_index = self._index(task.reference)
        if ref_index is None:
            return Localization(Mode.LOGIC, fallback=True, reason="reference_failed", probe=probe_info)
        probe_ref = self._trace(task, task.reference, probe.args, cache=True)
        if probe_ref is None or probe_ref.get("truncated"):
            return Localization(Mode.LOGIC, fallback=True, reason="reference_failed", probe=probe_info)
        nested = _calls_by_args(probe_ref["events"])  # the reference's own inner calls on the probe
        frame = self._buggy_frame(
            task, trace["events"], self._oracle_functions(task, index, ref_index), nested
        )
        if frame is None:
            return Localization(Mode.LOGIC, fallback=True, reason="no_divergence", probe=probe_info)
        function, depth, start, args, wrong, right = frame
        cand_events = frame_events(trace["events"][start:], depth)
        if (function, _args_key(args)) in nested and function != task.entry_point:
            ref_depth, ref_start = nested[(function, _args_key(args))][1:]
            ref_events = frame_events(probe_ref["events"][ref_start:], ref_depth)
        else:
            ref_trace = self._trace(task, task.reference, args, cache=True, function=function)
            if ref_trace is None or ref_trace.get("truncated"):
                return Localization(Mode.LOGIC, fallback=True, reason="reference_failed", probe=probe_info)
            ref_events = frame_events(ref_trace["events"], 1)
        found: list[Divergence] = []
        div = find_divergence(
            cand_events,
            ref_events,
            index,
            function,
            right,
            ref_index=ref_index,
            ref_function=function,
            found=found,
        )
        if div is not None and siblings:
            div = self._agreed(task, div, cand_events, index, function, right, args, siblings)
        if div is None:
            return Localization(
                Mode.LOGIC,
                fallback=True,
                reason="no_divergence",
                probe=probe_info,
                evidence={"frame_args": to_wire(args)},
            )
        loc = self._found(self._call_kind(index, div), probe_info, args, wrong, right, depth, function)
        return replace(loc, late_span=found[-1].span if found else div.span)

    @staticmethod
    def _found(
        div: Divergence,
        probe: dict[str, Any],
        args: tuple[Any, ...],
        wrong: Any,
        right: Any,
        depth: int,
        function: str,
    ) -> Localization:
        evidence = dict(div.evidence)
        evidence.update(
            frame_function=function,
            frame_args=to_wire(args),
            frame_result=wrong,
            frame_expected=right,
            frame_depth=depth,
        )
        return Localization(
            Mode.LOGIC, span=div.span, kind=div.kind, probe=probe, evidence=evidence, reference="curated"
        )

    @staticmethod
    def _call_kind(index: ProgramIndex, div: Divergence) -> Divergence:
        """A wrong value produced by a call of one of the program's own functions (one the oracle
        could not judge) is a ``call`` divergence."""
        stmt = index.statement(div.line)
        if div.kind != "value" or stmt is None:
            return div
        defined = {
            n.name for n in ast.walk(index.tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
        }
        called = {
            n.func.id for n in ast.walk(stmt) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
        }
        return replace(div, kind="call") if called & defined else div

    def _agreed(
        self,
        task: Task,
        div: Divergence,
        cand_events: list[list[Any]],
        index: ProgramIndex,
        function: str,
        right: Any,
        args: tuple[Any, ...],
        siblings: list[str],
    ) -> Divergence:
        """The earliest divergence every reference agrees on: the latest of their earliest ones."""
        best = div
        for sibling in siblings:
            sib_index = self._index(sibling)
            trace = self._trace(task, sibling, args, cache=True, function=function)
            if sib_index is None or trace is None or trace.get("truncated") or trace.get("raised"):
                continue
            other = find_divergence(
                cand_events,
                frame_events(trace["events"], 1),
                index,
                function,
                right,
                ref_index=sib_index,
                ref_function=function,
            )
            if other is not None and other.event > best.event:
                best = replace(other, evidence={**other.evidence, "reference": "sibling"})
        return best

    @staticmethod
    def _oracle_functions(task: Task, cand: ProgramIndex, ref: ProgramIndex) -> dict[str, int]:
        """Module-level functions the reference can judge: same name and arity in both programs."""

        def top(index: ProgramIndex) -> dict[str, int]:
            return {n.name: len(n.args.args) for n in index.tree.body if isinstance(n, ast.FunctionDef)}

        c, r = top(cand), top(ref)
        out = {name: arity for name, arity in c.items() if r.get(name) == arity}
        out.setdefault(task.entry_point, c.get(task.entry_point, -1))
        return out

    def _buggy_frame(
        self,
        task: Task,
        events: list[list[Any]],
        functions: dict[str, int],
        nested: dict[tuple[str, str], tuple[Any, int, int]],
    ) -> tuple[str, int, int, tuple[Any, ...], Any, Any] | None:
        """(function, depth, event index, args, wrong result, right result) of the first wrong call
        to return among calls the reference can judge (a wrong call whose children are right)."""
        stack: list[tuple[str, int, int, tuple[Any, ...] | None]] = []
        frames: list[tuple[str, int, int, tuple[Any, ...], Any]] = []
        for i, e in enumerate(events):
            if e[0] == "call":
                args: tuple[Any, ...] | None = None
                if (e[2] in functions or any(k[0] == e[2] for k in nested)) and _judgeable_args_key(e):
                    args = tuple(from_wire(v) for v in e[4].values())
                stack.append((e[2], e[1], i, args))
            elif e[0] == "return" and stack and stack[-1][1] == e[1]:
                name, d, start, args = stack.pop()
                if args is not None:
                    frames.append((name, d, start, args, e[4]))
        if not frames:
            return None
        outs: dict[int, Any] = {}
        for k, f in enumerate(frames):  # functions the oracle cannot call: the reference's own calls
            if f[0] not in functions and (f[0], _args_key(f[3])) in nested:
                outs[k] = nested[(f[0], _args_key(f[3]))][0]
        for name in {f[0] for f in frames if f[0] in functions}:
            idx = [k for k, f in enumerate(frames) if f[0] == name]
            for k, o in zip(
                idx, self._reference_outputs(task, task.reference, [frames[k][3] for k in idx], name)
            ):
                outs[k] = o
        for k, (name, d, start, args, got) in enumerate(frames):  # in return order: children first
            right = outs.get(k)
            if right is not None and _key(got) != _key(right):
                return name, d, start, args, got, right
        return None
