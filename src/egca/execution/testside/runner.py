"""The test-side process: runs the test code and decides each test's verdict.

Every name of the program the tests use is bound to a :class:`RemoteFunction` (functions and
classes), a copy (plain constants), a :class:`Handle` (other objects) or the same module (imports).
``call`` tests (EvalPlus inputs) go to the candidate in one batch per run of consecutive call tests;
the candidate answers one input at a time, and every answer is checked here against the expected
output, which never leaves this process. Only a test that passes one of its own functions or
objects to the program runs in the candidate's process instead
(:mod:`egca.execution.candidate.fallback`), marked ``in-process``: the test code decides that, never
the program.
"""

from __future__ import annotations

import builtins
import importlib
import sys
import time
from typing import Any

from egca import values
from egca.execution import oracles, wire
from egca.execution.checks import MESSAGE_LIMIT, CappedWriter, Checker, CheckFailed, check_output, classify
from egca.execution.records import Channel
from egca.execution.rewrite import CHECKER_NAME
from egca.execution.testside.prefetch import evaluate, single_call
from egca.execution.testside.remote import (
    MAX_RECORDED_ITEMS,
    TESTS_MODULE,
    Client,
    Handle,
    NeedsFallback,
    RemoteFunction,
    opaque_of,
    outcome,
)
from egca.tasks.task import MISSING
from egca.trace.tracer import snapshot

RESULT_FD, CALL_OUT_FD, CALL_IN_FD, NOTIFY_FD = 3, 4, 5, 6
BOUNDARY, IN_PROCESS = "boundary", "in-process"
MODULE_ALIASES = {"np": "numpy", "pd": "pandas"}
_STATUSES = frozenset(["passed", "failed", "error", "memory", "timeout", "crashed"])
_perf = time.perf_counter


def _module(bound: str, name: Any) -> Any:
    """The module the program bound to ``bound``, imported here, if the binding is an honest one."""
    if type(name) is not str or (name.split(".")[0] != bound and MODULE_ALIASES.get(bound) != name):
        return None
    try:
        return importlib.import_module(name)
    except Exception:
        return None


class TestSide:
    """One job's test run."""

    __test__ = False

    def __init__(
        self, job: Any, compiled: tuple[list[Any], Any], channel: Channel, client: Client, output_limit: int
    ) -> None:
        self.job, self.channel, self.client = job, channel, client
        self.tests_code, self.prelude_code = compiled
        self.out = CappedWriter(output_limit)
        self.err = CappedWriter(output_limit)
        self.ns: dict[str, Any] = {}
        self.counts = {BOUNDARY: 0, IN_PROCESS: 0}

    # set-up ----------------------------------------------------------------------------------------

    def _end(self, candidate_end: dict[str, Any]) -> None:
        stdout, stderr = self.client.program_output()
        end = {
            "k": "end",
            "stdout": stdout + self.out.text(),
            "stderr": stderr + self.err.text(),
            "calls": self.client.calls,
            "paths": self.counts,
        }
        covered = candidate_end.get("covered")
        if type(covered) is list:
            end["covered"] = [c for c in covered if type(c) is int]
        self.channel.emit(end)

    def _bind(self, names: Any) -> None:
        job = self.job
        ns: dict[str, Any] = {"__builtins__": dict(builtins.__dict__), "__name__": TESTS_MODULE}
        for name, desc in names.items() if type(names) is dict else ():
            if type(name) is not str or type(desc) is not list or not desc:
                continue
            kind = desc[0]
            if kind in ("f", "c"):  # functions, and classes (their instances stay on that side)
                ns[name] = RemoteFunction(self.client, name)
            elif kind == "m":
                mod = _module(name, desc[1] if len(desc) > 1 else None)
                if mod is not None:
                    ns[name] = mod
            elif kind == "v" and len(desc) > 1:
                try:
                    ns[name] = wire.from_wire(desc[1])
                except (ValueError, TypeError, KeyError, RecursionError, AttributeError):
                    pass
            elif kind == "h" and len(desc) > 2 and type(desc[1]) is int:
                ns[name] = Handle(self.client, desc[1], str(desc[2])[:100], None)
        if job.entry_point:
            ns["candidate"] = ns[job.entry_point] = RemoteFunction(self.client, job.entry_point)
        ns[CHECKER_NAME] = Checker(convert=opaque_of)
        self.ns = ns
        self.client.entry = job.entry_point or ""

    def load(self) -> bool:
        """Wait for the program to load; bind its names and run the test prelude."""
        t0 = _perf()
        reply = self.client.receive()
        if "fatal" in reply:
            self.channel.emit({"k": "fatal", "message": str(reply["fatal"])[:MESSAGE_LIMIT]})
            return False
        if reply.get("ok") is not True:
            status = reply.get("status")
            error = reply.get("error") if type(reply.get("error")) is dict else None
            if "bad" in reply:
                error = {
                    "type": "MalformedReply",
                    "message": str(reply["bad"]),
                    "line": None,
                    "in_candidate": True,
                }
            self.channel.emit(
                {
                    "k": "load",
                    "ok": False,
                    "status": status if status in ("syntax_error", "error", "memory") else "error",
                    "message": str(reply.get("message", reply.get("bad", "")))[:MESSAGE_LIMIT],
                    "error": error,
                }
            )
            self._end(reply)
            return False
        self._bind(reply.get("names"))
        if self.prelude_code is not None:
            try:
                exec(self.prelude_code, self.ns)
            except BaseException as e:
                status, message, error = classify(e, [])
                self.channel.emit(
                    {
                        "k": "load",
                        "ok": False,
                        "status": "error",
                        "message": f"test prelude raised {message}",
                        "error": error,
                    }
                )
                self._end(self.client_end())
                return False
        self.channel.emit({"k": "load", "ok": True, "duration_s": _perf() - t0})
        return True

    def client_end(self) -> dict[str, Any]:
        """Tell the candidate's process to end; wait for its reply only for coverage (its output
        came with every reply)."""
        self.client.send({"op": "end"})
        return self.client.receive() if self.job.coverage else {}

    # tests -------------------------------------------------------------------------------------------

    def _emit(
        self, i: int, status: str, message: str, error: Any, start: float, path: str, **extra: Any
    ) -> None:
        record = {
            "k": "test",
            "i": i,
            "status": status,
            "message": message,
            "error": error,
            "duration_s": _perf() - start,
            "path": path,
            **extra,
        }
        self.counts[path] += 1
        self.channel.emit(record)

    def _in_process(self, i: int, start: float) -> str:
        self.client.send({"op": "test", "src": self.job.tests[i].source, "prelude": self.job.test_prelude})
        reply = self.client.receive()
        status = str(reply["s"]) if reply.get("s") in _STATUSES else "error"
        error = reply.get("e") if type(reply.get("e")) is dict else None
        message = str(reply.get("m", reply.get("bad", "")))[:MESSAGE_LIMIT]
        self._emit(i, status, message, error, start, IN_PROCESS)
        return status

    def _prefetchable(self, i: int) -> dict[str, Any] | None:
        """The request for test ``i``'s one call, if it can be sent ahead (:mod:`.prefetch`)."""
        test = self.job.tests[i]
        found = single_call(test.source, self.ns, RemoteFunction) if test.kind == "assert" else None
        if found is None:
            return None
        name, arg_nodes, keywords = found
        try:
            args = evaluate(arg_nodes, self.ns)
            kwargs = evaluate([k.value for k in keywords], self.ns)
            wargs = [self.client.wire_arg(a) for a in args]
            wkwargs = [[k.arg, self.client.wire_arg(v)] for k, v in zip(keywords, kwargs)]
        except BaseException:
            return None
        return {"f": self.ns[name]._name, "a": wargs, "k": {"t": "dict", "v": wkwargs}}

    def _asserts(self, i: int) -> tuple[int, bool]:
        """Run assert tests from ``i``: a run of prefetchable ones in one round trip, else one.

        Returns the next test's index and whether fail_fast stopped the run.
        """
        n = len(self.job.tests)
        run: list[dict[str, Any]] = []
        while not self.job.fail_fast and i + len(run) < n:
            request = self._prefetchable(i + len(run))
            if request is None:
                break
            run.append(request)
        if len(run) < 2:
            return i + 1, self._assert(i) != "passed" and self.job.fail_fast
        self.client.send({"op": "calls", "calls": run})
        for k, request in enumerate(run):
            self._assert(i + k, expect=request["f"])
        return i + len(run), False

    def _assert(self, i: int, expect: str | None = None) -> str:
        start = _perf()
        calls: list[dict[str, Any]] | None = [] if self.job.record_calls else None
        self.client.record = calls
        self.client.expect = expect
        status, message, error = "passed", "", None
        try:
            exec(self.tests_code[i], self.ns)
        except NeedsFallback:
            self.client.record = None
            return self._in_process(i, start)
        except BaseException as e:
            status, message, error = classify(e, [])
        self.client.record = None
        if self.client.expect is not None and not self.client.gone:  # the test stopped before its call
            self.client.expect = None
            self.client.receive()
        if self.client.gone:  # no verdict: the worker reports why the candidate's process ended
            raise wire.Gone("the candidate's process ended")
        extra = {"calls": calls} if calls else {}
        self._emit(i, status, message, error, start, BOUNDARY, **extra)
        return status

    def _calls(self, first: int, last: int) -> bool:
        """Run call tests ``first..last-1`` as one batch; True when fail_fast stopped the run."""
        job = self.job
        tests = job.tests[first:last]
        start = _perf()
        if not job.entry_point:
            for k in range(len(tests)):
                self._emit(first + k, "failed", "a call test needs an entry point", None, start, BOUNDARY)
            return job.fail_fast
        try:
            batch = [[self.client.wire_arg(a) for a in t.args] for t in tests]
        except (wire.NonPlain, CheckFailed, NeedsFallback) as e:
            for k in range(len(tests)):
                self._emit(first + k, "error", f"test arguments cannot be sent: {e}", None, start, BOUNDARY)
            return job.fail_fast
        self.client.send({"op": "batch", "f": job.entry_point, "calls": batch})
        for k, t in enumerate(tests):
            reply = self.client.receive()
            self.client.calls += 1
            status, message, error, extra = "passed", "", None, {}
            try:
                result = outcome(reply)
                if job.record_calls:
                    extra["calls"] = [self._record(t.args, result=result)]
                if job.capture:
                    extra["output"] = values.to_wire(oracles.captured_output(job.oracle, result))
                if t.expected is MISSING:
                    if not job.capture:
                        raise CheckFailed("expected output unknown")
                else:
                    failure = check_output(job.oracle, result, t.expected, t.args, t.atol)
                    if failure is not None:
                        raise CheckFailed(failure)
            except wire.Gone:
                raise
            except BaseException as e:
                if job.record_calls and "calls" not in extra:
                    extra["calls"] = [self._record(t.args, raised=type(e).__name__)]
                status, message, error = classify(e, [])
            self._emit(first + k, status, message, error, start, BOUNDARY, **extra)
            start = _perf()
            if job.fail_fast and status != "passed":
                return True
        return False

    @staticmethod
    def _record(args: tuple[Any, ...], **outcome_: Any) -> dict[str, Any]:
        rec: dict[str, Any] = {"args": snapshot(args, MAX_RECORDED_ITEMS), "kwargs": snapshot({})}
        if "result" in outcome_:
            rec["result"] = snapshot(outcome_["result"], MAX_RECORDED_ITEMS)
        else:
            rec["raised"] = outcome_["raised"]
        return rec

    def run(self) -> None:
        sys.stdout, sys.stderr = self.out, self.err
        if not self.load():
            return
        job = self.job
        if job.trace is not None:
            self.client.send({"op": "trace"})
            reply = self.client.receive()
            trace = reply.get("trace")
            if type(trace) is dict:
                self.channel.emit({"k": "trace", **trace})
            self._end(self.client_end())
            return
        n, i = len(job.tests), 0
        while i < n:
            if job.tests[i].kind == "call":
                last = (
                    i + 1
                    if job.fail_fast
                    else next((j for j in range(i, n) if job.tests[j].kind != "call"), n)
                )
                if self._calls(i, last):
                    break
                i = last
            else:
                i, stop = self._asserts(i)
                if stop:
                    break
        self._end(self.client_end())
