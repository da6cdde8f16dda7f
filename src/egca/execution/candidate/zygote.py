"""The candidate zygote: a fork server for candidates' processes that never sees a test.

The worker forks it once at start-up, before it receives any job, so neither its memory nor that
of any process forked from it holds test code or an expected output (a program walking ``gc``,
frames or raw memory finds none). For each job the worker sends it the program alone; it forks
the candidate's process, reports its pid, reaps it and reports its wait status.
"""

from __future__ import annotations

import builtins
import fcntl
import gc
import os
import sys
from typing import Any

from egca.execution import isolation, protocol, wire
from egca.execution.candidate.server import IN_FD, OUT_FD, Server
from egca.execution.confine import EXIT_ISOLATION_FAILED, Plan, confine, redirect_fds
from egca.execution.guard import default_guard
from egca.execution.job import Limits


def trusted_type_ids() -> frozenset[int]:
    """Ids of every class reachable from an imported module: they existed before any program ran."""
    ids: set[int] = set()
    for mod in list(sys.modules.values()):
        for v in list(getattr(mod, "__dict__", {}).values()):
            if isinstance(v, type):
                ids.add(id(v))
    for t in (bool, int, float, complex, str, bytes, list, tuple, dict, set, frozenset, type(None)):
        ids.add(id(t))
    return frozenset(ids)


def drain(fd: int) -> None:
    """Discard whatever an earlier process left in a pipe."""
    flags = fcntl.fcntl(fd, fcntl.F_GETFL)
    fcntl.fcntl(fd, fcntl.F_SETFL, flags | os.O_NONBLOCK)
    try:
        while os.read(fd, 1 << 16):
            pass
    except BlockingIOError:
        pass
    finally:
        fcntl.fcntl(fd, fcntl.F_SETFL, flags)


def _child(spec: dict[str, Any], plan: Plan, fds: tuple[int, int], state: dict[str, Any]) -> None:
    """Runs in the candidate's process; never returns."""
    code = EXIT_ISOLATION_FAILED
    try:
        redirect_fds({fds[0]: IN_FD, fds[1]: OUT_FD})
        try:
            confine(plan, Limits(**spec["limits"]), spec["vm_size"])
        except Exception as e:  # fail closed: never run a program with a missing layer
            wire.send(OUT_FD, {"fatal": f"isolation setup failed: {e}"})
            os._exit(EXIT_ISOLATION_FAILED)
        gc.enable()
        spec["trusted"] = state["trusted"]
        Server(spec, state["guard"], state["builtins"]).serve()
        code = 0
    finally:
        os._exit(code)


def serve_zygote(control: tuple[int, int], calls: tuple[int, int], plan: Plan) -> None:
    """Main loop: one candidate process per request on ``control[0]``; never returns."""
    code = 0
    try:
        program_builtins, test_builtins = dict(builtins.__dict__), dict(builtins.__dict__)
        state = {
            "guard": default_guard(("egca.execution.candidate.server",), (test_builtins,)),
            "builtins": (program_builtins, test_builtins),
            "trusted": trusted_type_ids(),
        }
        # A program must not find the harness through sys.modules (its functions stay bound here).
        for name in [n for n in sys.modules if n == "egca" or n.startswith("egca.")]:
            del sys.modules[name]
        while True:
            try:
                spec = protocol.recv(control[0])
            except protocol.ProtocolError:
                break
            drain(calls[0])
            spec["vm_size"] = isolation.vm_size_bytes()
            gc.freeze()
            pid = isolation.raw_fork()
            if pid == 0:
                _child(spec, plan, calls, state)
            gc.unfreeze()
            protocol.send(control[1], {"pid": pid})
            _, status = os.waitpid(pid, 0)
            protocol.send(control[1], {"status": status})
    except BaseException:
        code = 1
    finally:
        os._exit(code)
