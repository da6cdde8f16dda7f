"""The tracer: calls, returns and the values each line writes, inside the sandbox."""

from __future__ import annotations

from egca.execution import ExecJob
from egca.trace.tracer import Tracer, snapshot
from egca.values import from_wire

PROGRAM = """\
def helper(v):
    return v * 2

def f(xs):
    total = 0
    out = []
    for x in xs:
        total += helper(x)
        out.append(total)
    return out
"""


def trace_of(sandbox, program, *args, max_events=10_000):
    r = sandbox.run(ExecJob(program, (), entry_point="f", trace=(args, {}), trace_max_events=max_events))
    assert r.trace is not None, r
    return r.trace


def test_events_record_calls_writes_and_returns(sandbox):
    t = trace_of(sandbox, PROGRAM, [1, 2])
    ev = t["events"]
    assert ev[0] == ["call", 1, "f", 4, {"xs": [1, 2]}]
    writes = [(e[2], e[3]) for e in ev if e[0] == "write" and e[1] == 1]
    assert writes[:3] == [(5, {"total": 0}), (6, {"out": []}), (7, {"x": 1})]
    assert (8, {"total": 2}) in writes and (9, {"out": [2]}) in writes and (9, {"out": [2, 6]}) in writes
    helper_calls = [e for e in ev if e[0] == "call" and e[2] == "helper"]
    assert [c[4] for c in helper_calls] == [{"v": 1}, {"v": 2}] and all(c[1] == 2 for c in helper_calls)
    assert ev[-1][:3] == ["return", 1, "f"] and from_wire(ev[-1][4]) == [2, 6]
    assert from_wire(t["result"]) == [2, 6] and not t["truncated"]


def test_snapshots_are_taken_at_write_time():
    xs = [1]
    s = snapshot(xs)
    xs.append(2)
    assert from_wire(s) == [1]


def test_exceptions_and_truncation(sandbox):
    t = trace_of(sandbox, "def f(x):\n    y = x - 1\n    return 1 / y\n", 1)
    assert t["raised"] == "ZeroDivisionError"
    assert ["raise", 1, "f", 3, "ZeroDivisionError"] in t["events"]
    loop = "def f(n):\n    s = 0\n    for i in range(n):\n        s += i\n    return s\n"
    t = trace_of(sandbox, loop, 10_000, max_events=50)
    assert t["truncated"] and len(t["events"]) == 50 and from_wire(t["result"]) == sum(range(10_000))


def test_large_values_are_summarised():
    s = snapshot(list(range(1000)))
    assert s["t"] == "summary" and s["v"]["len"] == 1000 and len(s["v"]["head"]) == 16
    assert snapshot(list(range(1000)))["v"]["hash"] == s["v"]["hash"]
    assert snapshot(list(range(1001)))["v"]["hash"] != s["v"]["hash"]


def test_only_the_program_is_traced_in_process():
    import json

    code = compile("def f(x):\n    y = json.dumps([x])\n    return y\n", "<candidate>", "exec")
    ns = {"json": json}
    exec(code, ns)
    out = Tracer("<candidate>", {2: frozenset({"y"})}).run(ns["f"], (1,), {})
    assert all(e[2] == "f" for e in out["events"] if e[0] in ("call", "return"))  # json's frames not traced


def _newer_pythons() -> list[str]:
    import glob
    import shutil
    import sys

    if sys.version_info >= (3, 12):
        return [sys.executable]
    found = [shutil.which(f"python3.{m}") for m in (12, 13)]
    found += sorted(glob.glob("/root/.pyenv/versions/3.1[23]*/bin/python"))
    return [p for p in found if p and "shims" not in p]


def test_sys_monitoring_tracer_matches_settrace():
    import subprocess
    from pathlib import Path

    import pytest

    pythons = _newer_pythons()
    if not pythons:
        pytest.skip("no Python >= 3.12 interpreter on this machine")
    script = Path(__file__).with_name("monitoring_check.py")
    for python in pythons:
        out = subprocess.run([python, str(script)], capture_output=True, text=True, timeout=60)
        assert out.returncode == 0 and out.stdout.startswith("same"), (python, out.stdout, out.stderr)
