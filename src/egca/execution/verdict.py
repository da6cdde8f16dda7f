"""Verdict assembly: the test side's records plus how each process ended give one result dict.

The records come from the test-side process (authenticated, in order). Why a run stopped early is
read from the processes' wait statuses: the candidate's (a signal is a crash, ``SIGXCPU`` a
timeout, an exit before the end an ``EarlyExit``), the worker's own deadline, or an isolation
failure reported by either side.
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass
from typing import Any


@dataclass
class Ending:
    """How the processes of one job ended."""

    candidate_status: int = 0  # wait status of the candidate's process
    candidate_killed: bool = False  # the worker killed it (after the tests, or on a deadline)
    test_status: int = 0  # wait status of the test-side process
    test_killed: bool = False
    killed_for: str | None = None  # "timeout" when the worker's deadline fired
    tampered: str | None = None  # the result channel carried something unauthenticated


def signal_name(sig: int) -> str:
    try:
        return signal.Signals(sig).name
    except ValueError:
        return f"signal {sig}"


def harness_error(n: int, message: str, t_start: float) -> dict[str, Any]:
    err = {"type": "HarnessError", "message": message, "line": None, "in_candidate": False}
    return {
        "status": "error",
        "tests": [{"index": i, "status": "skipped", "message": message} for i in range(n)],
        "error": err,
        "duration_s": time.perf_counter() - t_start,
        "stdout": "",
        "stderr": "",
    }


def _death(ending: Ending, fatal: str | None, ended: bool) -> tuple[str, str, str] | None:
    """(status, error type, message) of an early stop, or None."""
    c, t = ending.candidate_status, ending.test_status
    c_sig = os.WTERMSIG(c) if os.WIFSIGNALED(c) and not ending.candidate_killed else 0
    t_sig = os.WTERMSIG(t) if os.WIFSIGNALED(t) and not ending.test_killed else 0
    if ending.killed_for == "timeout" or signal.SIGXCPU in (c_sig, t_sig):
        return ("timeout", "Timeout", "time limit exceeded")
    if fatal:
        return ("error", "IsolationError", fatal)
    if c_sig:
        return ("crashed", "Crashed", f"killed by {signal_name(c_sig)}")
    if t_sig:
        return ("crashed", "Crashed", f"the test-side process was killed by {signal_name(t_sig)}")
    if not ended:
        code = os.WEXITSTATUS(c) if os.WIFEXITED(c) and not ending.candidate_killed else None
        return ("error", "EarlyExit", f"the process exited (code {code}) before all tests reported")
    return None


def assemble(records: list[dict[str, Any]], n: int, ending: Ending, t_start: float) -> dict[str, Any]:
    tests: list[dict[str, Any] | None] = [None] * n
    load: dict[str, Any] | None = None
    end: dict[str, Any] = {}
    fatal = None
    trace: dict[str, Any] | None = None
    for rec in records:
        kind = rec.get("k")
        if kind == "load":
            load = rec
        elif kind == "test" and isinstance(rec.get("i"), int) and 0 <= rec["i"] < n:
            rec = dict(rec)
            rec["index"] = rec.pop("i")
            tests[rec["index"]] = rec
        elif kind == "end":
            end = rec
        elif kind == "fatal":
            fatal = rec.get("message", "isolation failed")
        elif kind == "trace":
            trace = {k: v for k, v in rec.items() if k not in ("k", "seq")}
    ended = bool(end)
    death = _death(ending, fatal, ended)

    program_error: dict[str, Any] | None = None
    if load is not None and not load.get("ok"):
        status = load["status"]
        program_error = load.get("error")
        msg = load.get("message", "")
        out_tests = [{"index": i, "status": "skipped", "message": f"not run: {msg}"} for i in range(n)]
    elif load is None:
        status = death[0] if death else "error"
        dtype, dmsg = (death[1], death[2]) if death else ("EarlyExit", "no result")
        program_error = {
            "type": dtype,
            "message": f"while loading the program: {dmsg}",
            "line": None,
            "in_candidate": dtype != "IsolationError",
        }
        out_tests = [{"index": i, "status": "skipped", "message": f"not run: {dmsg}"} for i in range(n)]
    else:
        out_tests = []
        current_marked = False
        stopped_early = ended and any(t is None for t in tests)
        for i, t in enumerate(tests):
            if t is not None:
                out_tests.append(t)
            elif stopped_early:
                out_tests.append({"index": i, "status": "skipped", "message": "not run: fail_fast"})
            elif not current_marked and death is not None:
                current_marked = True
                out_tests.append(
                    {
                        "index": i,
                        "status": death[0],
                        "message": death[2],
                        "error": {"type": death[1], "message": death[2], "line": None, "in_candidate": True},
                        "path": "boundary",
                    }
                )
            else:
                out_tests.append(
                    {
                        "index": i,
                        "status": "skipped",
                        "message": "not run: the process stopped during an earlier test",
                    }
                )
        first_bad: dict[str, Any] | None = next(
            (t for t in out_tests if t["status"] not in ("passed", "skipped")), None
        )
        if first_bad is None and any(t["status"] == "skipped" for t in out_tests) and death is not None:
            first_bad = {"status": death[0], "error": {"type": death[1], "message": death[2], "line": None}}
        status = first_bad["status"] if first_bad else "passed"
        program_error = first_bad.get("error") if first_bad else None
    if ending.tampered:
        status = "error"
        program_error = {
            "type": "ResultChannelTampered",
            "message": ending.tampered,
            "line": None,
            "in_candidate": True,
        }
    return {
        "status": status,
        "tests": out_tests,
        "error": program_error,
        "duration_s": time.perf_counter() - t_start,
        "stdout": end.get("stdout", ""),
        "stderr": end.get("stderr", ""),
        "trace": trace,
        "covered": end.get("covered"),
        "boundary_calls": end.get("calls", 0),
    }
