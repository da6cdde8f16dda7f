"""The worker process: a warm fork server; per program, a candidate process and a test-side process.

Started by :class:`egca.execution.sandbox.Sandbox` as ``python -I -c ...`` with a scrubbed
environment, so nothing secret is in its memory. It pre-imports the usual modules once, plans the
isolation layers (:mod:`egca.execution.plan`) and forks the candidate zygote
(:mod:`egca.execution.candidate.zygote`) before it sees any job. For each job it asks the zygote for
a candidate process (the program only), forks a test-side process (the tests,
:mod:`egca.execution.testside.runner`), both confined, which talk over a pair of pipes; this process
enforces the deadlines, kills both process groups, reaps and assembles the verdict
(:mod:`egca.execution.verdict`) from the test side's authenticated records.
"""

from __future__ import annotations

import gc
import os
import select
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import asdict
from typing import Any

from egca.execution import isolation, plan, protocol, wire
from egca.execution.candidate.zygote import drain, serve_zygote
from egca.execution.confine import EXIT_ISOLATION_FAILED, Plan, confine, redirect_fds
from egca.execution.job import ExecJob, Limits
from egca.execution.records import Channel, Mac, verify_record
from egca.execution.testside.remote import Client
from egca.execution.testside.runner import CALL_IN_FD, CALL_OUT_FD, NOTIFY_FD, RESULT_FD, TestSide
from egca.execution.verdict import Ending, assemble, harness_error
from egca.execution.warm import CompiledTests, preload

MAX_RECORD_BYTES = 256 * 1024 * 1024  # memory guard only: records are authenticated
ZYGOTE_REPLY_S = 30.0


class Boundary:
    """The candidate zygote and the long-lived pipes between the two sides.

    The pipes outlive each job: the zygote drains the request pipe before each candidate process,
    the worker drains the reply pipe after each job, and both processes of a job are dead before
    the next starts.
    """

    def __init__(self, plan_: Plan) -> None:
        self.req_r, self.req_w = os.pipe()
        self.resp_r, self.resp_w = os.pipe()
        ctl_r, self.ctl_w = os.pipe()
        self.st_r, st_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            for fd in (self.req_w, self.resp_r, self.ctl_w, self.st_r, 0, 1):
                os.close(fd)
            serve_zygote((ctl_r, st_w), (self.req_r, self.resp_w), plan_)
        self.pid = pid
        for fd in (self.req_r, self.resp_w, ctl_r, st_w):
            os.close(fd)

    def close(self) -> None:
        for fd in (self.ctl_w, self.st_r, self.req_w, self.resp_r):
            try:
                os.close(fd)
            except OSError:
                pass
        _kill_group(self.pid)
        try:
            os.waitpid(self.pid, 0)
        except ChildProcessError:
            pass

    def status(self, timeout: float) -> dict[str, Any]:
        ready, _, _ = select.select([self.st_r], [], [], timeout)
        if not ready:
            raise protocol.ProtocolError("the candidate zygote did not answer")
        msg = protocol.recv(self.st_r)
        if type(msg) is not dict:
            raise protocol.ProtocolError("the candidate zygote sent something malformed")
        return msg


def _kill_group(pid: int) -> None:
    for target in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
        try:
            target()
        except (ProcessLookupError, PermissionError):
            pass


def _test_child(
    job: ExecJob,
    compiled: tuple[list[Any], Any],
    limits: Limits,
    plan_: Plan,
    fds: tuple[int, int, int, int],
    mac: Mac,
    vm_size: int,
) -> None:
    """Runs in the test-side process; never returns."""
    code = EXIT_ISOLATION_FAILED
    try:
        result_w, req_w, resp_r, notify_r = fds
        redirect_fds({result_w: RESULT_FD, req_w: CALL_OUT_FD, resp_r: CALL_IN_FD, notify_r: NOTIFY_FD})
        channel = Channel(RESULT_FD, mac)
        try:
            confine(plan_, limits, vm_size)
        except Exception as e:  # fail closed
            channel.emit({"k": "fatal", "message": f"isolation setup failed: {e}"})
            os._exit(EXIT_ISOLATION_FAILED)
        gc.enable()
        client = Client(CALL_OUT_FD, wire.Reader(CALL_IN_FD, NOTIFY_FD), limits.wire_bytes)
        try:
            TestSide(job, compiled, channel, client, limits.output_bytes).run()
        except wire.Gone:
            pass  # the candidate's process ended: the worker knows why
        code = 0
    finally:
        os._exit(code)


def execute(job: ExecJob, limits: Limits, plan_: Plan, state: dict[str, Any]) -> dict[str, Any]:
    """Run one job (a candidate process and a test-side process) and return the result dict."""
    t_start = time.perf_counter()
    n = len(job.tests)
    finish_previous(state, plan_)
    try:
        compiled = state["compiled"].get(job)
    except SyntaxError as e:
        return harness_error(n, f"test code does not compile: {e}", t_start)
    boundary: Boundary = state["boundary"]
    spec = {
        "program": job.program,
        "setup": job.setup,
        "entry_point": job.entry_point,
        "coverage": job.coverage,
        "trace": job.trace,
        "trace_function": job.trace_function,
        "trace_max_events": job.trace_max_events,
        "limits": asdict(limits),
        "output_bytes": limits.output_bytes,
        "wire_bytes": limits.wire_bytes,
    }
    protocol.send(boundary.ctl_w, spec)  # the zygote forks the candidate while we fork the test side
    mac = Mac(os.urandom(16))  # a fresh key per program
    r, w = os.pipe()
    notify_r, notify_w = os.pipe()
    vm_size = isolation.vm_size_bytes()
    gc.freeze()
    tpid = isolation.raw_fork()
    if tpid == 0:
        os.close(r)
        os.close(notify_w)
        _test_child(
            job, compiled, limits, plan_, (w, boundary.req_w, boundary.resp_r, notify_r), mac, vm_size
        )
    gc.unfreeze()
    os.close(w)
    os.close(notify_r)
    notify = [notify_w]
    try:
        cpid = int(boundary.status(ZYGOTE_REPLY_S)["pid"])
    except BaseException:
        _kill_group(tpid)
        os.waitpid(tpid, 0)
        os.close(r)
        os.close(notify_w)
        raise
    try:
        return _supervise(tpid, cpid, r, boundary, notify, mac, n, limits, t_start, state)
    finally:
        os.close(r)
        for fd in notify:
            os.close(fd)
        if state.get("pending") is None:
            _kill_group(tpid)
            drain(boundary.resp_r)
            _wipe(plan_.workdir)


def finish_previous(state: dict[str, Any], plan_: Plan) -> None:
    """Reap the processes of a job that ended normally (killed when its end record arrived, so
    that the verdict did not wait for them), drain the reply pipe and empty the work directory."""
    pending = state.pop("pending", None)
    if pending is None:
        return
    tpid, candidate_reported = pending
    os.waitpid(tpid, 0)
    if not candidate_reported:
        state["boundary"].status(ZYGOTE_REPLY_S)
    drain(state["boundary"].resp_r)
    _wipe(plan_.workdir)


def _wipe(workdir: str) -> None:
    """Empty the work directory (the directory itself stays: the Landlock rule points at it)."""
    try:
        entries = list(os.scandir(workdir))
    except OSError:
        return
    for entry in entries:
        try:
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path, ignore_errors=True)
            else:
                os.unlink(entry.path)
        except OSError:
            pass


def _supervise(
    tpid: int,
    cpid: int,
    rfd: int,
    boundary: Boundary,
    notify: list[int],
    mac: Mac,
    n: int,
    limits: Limits,
    t_start: float,
    state: dict[str, Any],
) -> dict[str, Any]:
    records: list[dict[str, Any]] = []
    buf = b""
    total = 0
    ending = Ending()
    c_status: int | None = None
    now = time.monotonic()
    hard_deadline = now + limits.total_timeout_s
    step_deadline = now + limits.timeout_s
    while True:
        remaining = min(step_deadline, hard_deadline) - time.monotonic()
        if remaining <= 0:
            ending.killed_for = "timeout"
            break
        fds = [rfd] if c_status is not None else [rfd, boundary.st_r]
        ready, _, _ = select.select(fds, [], [], remaining)
        if boundary.st_r in ready and c_status is None:
            c_status = int(boundary.status(ZYGOTE_REPLY_S)["status"])
            while notify:  # the test side, if it waits for a reply, learns that none will come
                os.close(notify.pop())
        if rfd not in ready:
            continue
        chunk = os.read(rfd, 1 << 16)
        if not chunk:
            break
        total += len(chunk)
        if total > MAX_RECORD_BYTES:
            ending.tampered = "result channel flooded"
            break
        buf += chunk
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            record = verify_record(mac, line, len(records))
            if record is None:
                ending.tampered = "the program wrote to the result channel"
                continue
            records.append(record)
            step_deadline = time.monotonic() + limits.timeout_s
        if records and records[-1].get("k") == "end" and ending.tampered is None:
            # Done: both processes have nothing left to say. Kill them now and reap them before
            # the next job (the verdict does not wait for two process exits).
            _kill_group(tpid)
            if c_status is None:
                _kill_group(cpid)
            state["pending"] = (tpid, c_status is not None)
            return assemble(records, n, ending, t_start)
    if buf.strip() and ending.tampered is None:
        ending.tampered = "the program wrote to the result channel"
    if ending.killed_for or ending.tampered:
        _kill_group(tpid)
        if c_status is None:
            _kill_group(cpid)
    # Reap: both exit right after the last record; give them a moment (a large heap may take a
    # while to tear down on a loaded machine), then kill. A kill after the last record is no crash.
    grace = 0.0 if ending.killed_for else max(0.05, min(5.0, hard_deadline - time.monotonic()))
    ending.test_status, ending.test_killed = _reap(tpid, grace)
    if c_status is None:
        ready, _, _ = select.select([boundary.st_r], [], [], grace)
        if not ready:
            _kill_group(cpid)
            ending.candidate_killed = True
        c_status = int(boundary.status(ZYGOTE_REPLY_S)["status"])
    ending.candidate_status = c_status
    if ending.killed_for or ending.tampered:
        ending.candidate_killed = ending.candidate_killed or os.WIFSIGNALED(c_status)
    return assemble(records, n, ending, t_start)


def _reap(pid: int, grace_s: float) -> tuple[int, bool]:
    """Wait up to ``grace_s`` for the child to exit, then kill it; always reap.

    Returns the wait status and whether this function had to kill the child.
    """
    done, status = os.waitpid(pid, os.WNOHANG)
    if done:
        return status, False
    try:
        pidfd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        pidfd = None
    if pidfd is not None:
        try:
            select.select([pidfd], [], [], grace_s)
        finally:
            os.close(pidfd)
    else:
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline and not os.waitpid(pid, os.WNOHANG)[0]:
            time.sleep(0.0005)
    done, status = os.waitpid(pid, os.WNOHANG)
    if done:
        return status, False
    _kill_group(pid)
    _, status = os.waitpid(pid, 0)
    return status, True


def _probe_runner(state: dict[str, Any]) -> plan.RunProbe:
    def run(job: ExecJob, limits: Limits, plan_: Plan) -> dict[str, Any]:
        boundary = Boundary(plan_)  # a zygote for the probe only: the plan may still change
        probe_state = {**state, "boundary": boundary}
        try:
            return execute(job, limits, plan_, probe_state)
        finally:
            finish_previous(probe_state, plan_)
            boundary.close()

    return run


def serve(config: dict[str, Any]) -> None:
    """Main loop: hello, then one result per job until the pipe closes."""
    in_fd, out_fd = 0, 1
    preload(list(config.get("preload", [])))
    iso = isolation.IsolationConfig(**config.get("isolation", {}))
    base = tempfile.mkdtemp(prefix="egca-worker-")
    os.chmod(base, 0o711)
    # Children inherit all of this: a clean environment pointing at the work directory, and
    # oversized writes failing with EFBIG instead of killing the process.
    os.environ.clear()
    os.environ.update(isolation.clean_environment(os.path.join(base, "work")))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    boundary = None
    try:
        state: dict[str, Any] = {"compiled": CompiledTests()}
        plan_ = plan.plan_layers(iso, int(config.get("worker_index", 0)), base, _probe_runner(state))
        protocol.register_classes()
        boundary = Boundary(plan_)
        state["boundary"] = boundary
        # The test side never runs the program, but keep it lean too: jobs are unpickled through
        # a registry, not through egca's modules.
        for name in [n for n in sys.modules if n == "egca" or n.startswith("egca.")]:
            del sys.modules[name]
        gc.disable()
        protocol.send(out_fd, {"pid": os.getpid(), "layers": plan_.layers, "missing": plan_.missing})
        while True:
            try:
                msg = protocol.recv(in_fd)
            except protocol.ProtocolError:
                break
            if msg is None:
                break
            job, limits = msg
            try:
                result = execute(job, limits, plan_, state)
            except protocol.ProtocolError:
                raise  # the zygote is gone: let the sandbox restart this worker
            except Exception as e:  # a bug in egca, not in the program: report it, keep serving
                result = harness_error(len(job.tests), f"{type(e).__name__}: {e}", time.perf_counter())
            protocol.send(out_fd, result)
    finally:
        if boundary is not None:
            finish_previous(state, plan_)
            boundary.close()
        shutil.rmtree(base, ignore_errors=True)


def main() -> None:
    import json

    serve(json.loads(sys.argv[1]))


if __name__ == "__main__":
    main()
