"""The worker process: a warm fork server that runs each program in a fresh isolated child.

Started by :class:`egca.execution.sandbox.Sandbox` as ``python -I -c ...`` with a scrubbed
environment, so nothing secret is in its memory. It pre-imports the usual modules once, detects
which isolation layers work, and then serves jobs: for each job it forks a child, which isolates
itself and runs the program and its tests (:mod:`egca.execution.runner`) while this process enforces
the wall-clock deadlines, kills the child's whole process group, reaps it and assembles the result.
"""

from __future__ import annotations

import builtins
import gc
import importlib
import os
import select
import shutil
import signal
import sys
import tempfile
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from egca.execution import isolation, protocol, runner
from egca.execution.job import ExecJob, Limits
from egca.execution.rewrite import compile_tests

DEFAULT_PRELOAD = [
    "abc",
    "array",
    "bisect",
    "calendar",
    "cmath",
    "collections",
    "collections.abc",
    "copy",
    "dataclasses",
    "datetime",
    "decimal",
    "enum",
    "fractions",
    "functools",
    "hashlib",
    "heapq",
    "itertools",
    "json",
    "math",
    "numbers",
    "operator",
    "random",
    "re",
    "statistics",
    "string",
    "sys",
    "textwrap",
    "typing",
    "unicodedata",
]
OPTIONAL_PRELOAD: tuple[str, ...] = ()
RESULT_FD = 3
LANDLOCK_FD = 1000  # the worker's ruleset lives at this fd so that children can keep it
MAX_RECORD_BYTES = 256 * 1024 * 1024  # memory guard only: records are authenticated
EXIT_ISOLATION_FAILED = 71


@dataclass
class Plan:
    """Which layers this worker applies, and why the others are off."""

    layers: dict[str, str] = field(default_factory=dict)  # active layer -> detail
    missing: dict[str, str] = field(default_factory=dict)  # unavailable layer -> reason
    uid: int | None = None
    drop_caps: bool = False  # root, but the Python installation is private: drop capabilities
    landlock_abi: int = 0
    landlock_fd: int | None = None  # ruleset built once for the worker's fixed work directory
    seccomp_arch: str | None = None
    seccomp_filter: isolation.SeccompFilter | None = None
    child_netns: bool = False  # unprivileged: each child unshares user+net namespaces
    workdir: str = ""


def preload(extra: list[str]) -> None:
    """Import the usual modules once so that children start warm."""
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    for name in [*DEFAULT_PRELOAD, *OPTIONAL_PRELOAD, *extra]:
        try:
            importlib.import_module(name)
        except Exception:
            pass


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


# --------------------------------------------------------------------------------------------------
# The child


def _child(
    job: ExecJob,
    limits: Limits,
    plan: Plan,
    write_fd: int,
    mac: runner.Mac,
    compiled: tuple[list[Any], Any],
    state: dict[str, Any],
) -> None:
    """Runs in the forked child; never returns."""
    code = EXIT_ISOLATION_FAILED
    try:
        os.setsid()
        devnull = os.open("/dev/null", os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        os.dup2(write_fd, RESULT_FD)
        os.closerange(RESULT_FD + 1, LANDLOCK_FD)
        os.closerange(LANDLOCK_FD + 1, 65536)
        channel = runner.Channel(RESULT_FD, mac, state["guard"])
        try:
            os.chdir(plan.workdir)  # the environment was made clean once, in the worker
            if plan.child_netns:
                isolation.unshare_network(as_root=False)
            isolation.apply_rlimits(
                cpu_s=limits.total_timeout_s + 1,
                memory_mb=limits.memory_mb,
                file_size_mb=limits.file_size_mb,
                open_files=limits.open_files,
                no_threads=plan.uid is not None,
                vm_size=state["vm_size"],
            )
            if plan.landlock_fd is not None:
                isolation.landlock_enforce(plan.landlock_fd)
                os.close(plan.landlock_fd)
            elif plan.landlock_fd is None:
                try:
                    os.close(LANDLOCK_FD)
                except OSError:
                    pass
            if plan.uid is not None:
                isolation.drop_privileges(plan.uid)
            elif plan.drop_caps:
                isolation.drop_capabilities(os.uname().machine)
            if plan.seccomp_filter is not None:
                plan.seccomp_filter.install()
        except Exception as e:  # fail closed: never run a program with a missing layer
            channel.emit({"k": "fatal", "message": f"isolation setup failed: {e}"})
            os._exit(EXIT_ISOLATION_FAILED)
        gc.enable()
        runner.run_job(
            job,
            compiled[0],
            compiled[1],
            channel,
            state["guard"],
            state["builtins"],
            state["trusted"],
            limits.output_bytes,
        )
        code = 0
    finally:
        os._exit(code)


# --------------------------------------------------------------------------------------------------
# The parent side of one job


class _Compiled:
    """LRU cache of compiled test code: the programs of a GRPO group share their tests."""

    def __init__(self, size: int = 256) -> None:
        self._cache: OrderedDict[tuple[str, tuple[str, ...]], tuple[list[Any], Any]] = OrderedDict()
        self._size = size

    def get(self, job: ExecJob) -> tuple[list[Any], Any]:
        key = (job.test_prelude, tuple(t.source if t.kind == "assert" else "" for t in job.tests))
        hit = self._cache.get(key)
        if hit is not None:
            self._cache.move_to_end(key)
            return hit
        tests = [compile_tests(src) if src else None for src in key[1]]
        prelude = compile_tests(job.test_prelude, "<test prelude>") if job.test_prelude.strip() else None
        self._cache[key] = (tests, prelude)
        if len(self._cache) > self._size:
            self._cache.popitem(last=False)
        return tests, prelude


def _kill_group(pid: int) -> None:
    for target in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
        try:
            target()
        except (ProcessLookupError, PermissionError):
            pass


def _signal_name(sig: int) -> str:
    try:
        return signal.Signals(sig).name
    except ValueError:
        return f"signal {sig}"


def execute(job: ExecJob, limits: Limits, plan: Plan, state: dict[str, Any]) -> dict[str, Any]:
    """Run one job in a fresh child and return the result as a plain dict."""
    t_start = time.perf_counter()
    n = len(job.tests)
    try:
        compiled = state["compiled"].get(job)
    except SyntaxError as e:
        return _harness_error(n, f"test code does not compile: {e}", t_start)
    mac = runner.Mac(os.urandom(16))  # a fresh key per program
    r, w = os.pipe()
    state["vm_size"] = isolation.vm_size_bytes()
    gc.freeze()
    pid = isolation.raw_fork()
    if pid == 0:
        os.close(r)
        _child(job, limits, plan, w, mac, compiled, state)
    gc.unfreeze()
    os.close(w)
    try:
        return _supervise(pid, r, mac, n, limits, t_start)
    finally:
        os.close(r)
        _kill_group(pid)
        _wipe(plan.workdir)


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


def _harness_error(n: int, message: str, t_start: float) -> dict[str, Any]:
    err = {"type": "HarnessError", "message": message, "line": None, "in_candidate": False}
    return {
        "status": "error",
        "tests": [{"index": i, "status": "skipped", "message": message} for i in range(n)],
        "error": err,
        "duration_s": time.perf_counter() - t_start,
        "stdout": "",
        "stderr": "",
    }


def _supervise(pid: int, rfd: int, mac: runner.Mac, n: int, limits: Limits, t_start: float) -> dict[str, Any]:
    records: list[dict[str, Any]] = []
    buf = b""
    total = 0
    tampered = killed_for = None
    eof = False
    now = time.monotonic()
    hard_deadline = now + limits.total_timeout_s
    step_deadline = now + limits.timeout_s
    ended = False
    while not eof:
        now = time.monotonic()
        remaining = min(step_deadline, hard_deadline) - now
        if remaining <= 0:
            killed_for = "timeout"
            _kill_group(pid)
            break
        ready, _, _ = select.select([rfd], [], [], remaining)
        if not ready:
            continue
        chunk = os.read(rfd, 1 << 16)
        if not chunk:
            eof = True
            break
        total += len(chunk)
        if total > MAX_RECORD_BYTES:
            tampered = "result channel flooded"
            _kill_group(pid)
            break
        buf += chunk
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            record = protocol.verify_record(mac, line, len(records))
            if record is None:
                tampered = "the program wrote to the result channel"
                continue
            records.append(record)
            step_deadline = time.monotonic() + limits.timeout_s
            if record.get("k") == "end":
                ended = True
    if buf.strip() and tampered is None:
        tampered = "the program wrote to the result channel"
    # Reap: the child exits right after its last record; give it a moment (it may be tearing down
    # a large heap on a loaded machine), then kill. A kill after the last record is not a crash.
    grace = 0.0 if killed_for else max(0.05, min(5.0, hard_deadline - time.monotonic()))
    status_word, reap_killed = _reap(pid, grace_s=grace)
    if reap_killed and ended and killed_for is None:
        status_word = 0
    return _assemble(records, n, status_word, killed_for, tampered, ended, t_start)


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


def _assemble(
    records: list[dict[str, Any]],
    n: int,
    wait_status: int,
    killed_for: str | None,
    tampered: str | None,
    ended: bool,
    t_start: float,
) -> dict[str, Any]:
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

    signaled = os.WIFSIGNALED(wait_status)
    sig = os.WTERMSIG(wait_status) if signaled else 0
    exit_code = os.WEXITSTATUS(wait_status) if os.WIFEXITED(wait_status) else None
    # Why the process stopped early, if it did.
    death: tuple[str, str, str] | None = None  # (status, error type, message)
    if killed_for == "timeout" or (signaled and sig == signal.SIGXCPU):
        death = ("timeout", "Timeout", "time limit exceeded")
    elif fatal:
        death = ("error", "IsolationError", fatal)
    elif signaled and killed_for is None:
        death = ("crashed", "Crashed", f"killed by {_signal_name(sig)}")
    elif not ended:
        death = ("error", "EarlyExit", f"the process exited (code {exit_code}) before all tests reported")

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
    if tampered:
        status = "error"
        program_error = {
            "type": "ResultChannelTampered",
            "message": tampered,
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
    }


# --------------------------------------------------------------------------------------------------
# Detection


def plan_layers(config: isolation.IsolationConfig, worker_index: int, base: str) -> Plan:
    """Decide the layers; a probe child confirms that each one really works here."""
    plan = Plan(workdir=os.path.join(base, "work"))
    os.mkdir(plan.workdir, 0o700)
    as_root = os.geteuid() == 0
    if config.network:
        if as_root:
            try:
                isolation.unshare_network(as_root=True)  # children inherit this empty namespace
                plan.layers["netns"] = "empty network namespace per worker"
            except isolation.IsolationError as e:
                plan.missing["netns"] = str(e)
        elif _child_can_unshare_network():
            plan.child_netns = True
        else:
            plan.missing["netns"] = "unprivileged user namespaces are not available"
    else:
        plan.missing["netns"] = "disabled by configuration"
    if config.filesystem:
        plan.landlock_abi = isolation.landlock_abi()
        if plan.landlock_abi:
            fd = isolation.landlock_ruleset(plan.landlock_abi, plan.workdir, isolation.read_allowlist())
            os.dup2(fd, LANDLOCK_FD, inheritable=False)
            os.close(fd)
            plan.landlock_fd = LANDLOCK_FD
        else:
            plan.missing["landlock"] = "Landlock is not available in this kernel"
    else:
        plan.missing["landlock"] = "disabled by configuration"
    if config.drop_uid:
        if as_root and isolation.world_readable(os.path.dirname(os.__file__)):
            plan.uid = config.uid_base + worker_index
            os.chown(plan.workdir, plan.uid, plan.uid)
        elif as_root:
            plan.drop_caps = os.uname().machine in ("x86_64", "aarch64")
            plan.missing["uid"] = (
                f"the Python installation ({os.path.dirname(os.__file__)}) is not readable by an "
                "unprivileged uid: children stay uid 0 without capabilities"
            )
        else:
            plan.missing["uid"] = "not running as root: children keep the caller's uid"
    else:
        plan.missing["uid"] = "disabled by configuration"
    if config.seccomp:
        plan.seccomp_arch = isolation.seccomp_arch()
        if plan.seccomp_arch is not None:
            plan.seccomp_filter = isolation.SeccompFilter(
                isolation.seccomp_template(plan.seccomp_arch, "child")
            )
        else:
            plan.missing["seccomp"] = f"no syscall table for {sys.platform}/{os.uname().machine}"
    else:
        plan.missing["seccomp"] = "disabled by configuration"
    if plan.seccomp_filter is not None:
        try:  # the part of the filter the worker itself can live with: inherited by every child
            isolation.seccomp_install(isolation.seccomp_template(plan.seccomp_arch or "", "worker"))
        except isolation.IsolationError as e:
            plan.seccomp_filter = None
            plan.missing["seccomp"] = str(e)
    _probe(plan, base)
    return plan


def _child_can_unshare_network() -> bool:
    """Whether an unprivileged child can enter a new user+network namespace here."""
    pid = os.fork()
    if pid == 0:
        try:
            isolation.unshare_network(as_root=False)
            os._exit(0)
        except BaseException:
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    return os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0


_PROBE = r"""
import os, socket
res = {}
try:
    s = socket.create_connection(("127.0.0.1", 9), timeout=0.2); res["net"] = "open"
except PermissionError:
    res["net"] = "blocked"
except OSError as e:
    res["net"] = "blocked" if e.errno in (101, 99, 1, 13) else f"open ({e})"
try:
    with open(PROBE_OUTSIDE, "w") as f: f.write("x")
    res["write_outside"] = "open"
except OSError:
    res["write_outside"] = "blocked"
try:
    open(PROBE_PRIVATE).read(); res["read_private"] = "open"
except OSError:
    res["read_private"] = "blocked"
try:
    pid = os.fork()
    if pid == 0: os._exit(0)
    os.waitpid(pid, 0); res["fork"] = "open"
except OSError:
    res["fork"] = "blocked"
try:
    os.kill(os.getppid(), 0); res["signal_parent"] = "open"
except OSError:
    res["signal_parent"] = "blocked"
res["env"] = sorted(os.environ)
RESULT = res
"""


def _probe(plan: Plan, base: str) -> None:
    """Run a program under the plan and record which layers held."""
    outside = os.path.join(tempfile.gettempdir(), f"egca-probe-{os.getpid()}")
    private = os.path.join(base, "private-probe")
    with open(private, "w") as f:
        f.write("secret")
    os.chmod(private, 0o600)
    program = f"PROBE_OUTSIDE = {outside!r}\nPROBE_PRIVATE = {private!r}\n" + _PROBE
    test = "import json\nprint(json.dumps(RESULT))\n"
    from egca.tasks.task import TestCase

    job = ExecJob(program=program, tests=(TestCase(index=0, source=test),))
    state = _state(base)
    result = execute(job, Limits(timeout_s=10, total_timeout_s=10), plan, state)
    probe: dict[str, Any] = {}
    try:
        import json

        probe = json.loads(result["stdout"].strip().splitlines()[-1])
    except Exception:
        plan.missing["probe"] = f"probe failed: {result.get('error')}"
    finally:
        for p in (outside, private):
            try:
                os.unlink(p)
            except OSError:
                pass
    plan.layers["rlimits"] = "cpu, address space, file size, open files, no core dumps"
    if plan.child_netns and probe.get("net") == "blocked":
        plan.layers["netns"] = "empty user+network namespace per child"
    elif plan.child_netns:
        plan.child_netns = False
        plan.missing["netns"] = "user namespaces unavailable"
    if plan.landlock_fd is not None:
        if probe.get("write_outside") == "blocked":
            plan.layers["landlock"] = (
                f"Landlock ABI {plan.landlock_abi}: writes only in the work dir, reads "
                "only Python and system dirs"
            )
        else:
            plan.missing["landlock"] = "Landlock restriction did not hold"
            os.close(plan.landlock_fd)
            plan.landlock_fd = None
    if plan.uid is not None:
        plan.layers["uid"] = f"unprivileged uid {plan.uid}"
    if plan.drop_caps:
        plan.layers["caps"] = "uid 0 with every capability dropped"
    if plan.seccomp_filter is not None:
        if probe.get("fork") == "blocked":
            plan.layers["seccomp"] = (
                f"BPF filter ({plan.seccomp_arch}): no fork/exec/sockets/ptrace/signals out"
            )
        else:
            plan.missing["seccomp"] = "seccomp filter did not hold"
            plan.seccomp_filter = None
    plan.layers.setdefault("env", "scrubbed environment")
    plan.layers["probe"] = ", ".join(f"{k}={v}" for k, v in probe.items() if k != "env")


def _state(base: str) -> dict[str, Any]:
    program_builtins, test_builtins = dict(builtins.__dict__), dict(builtins.__dict__)
    return {
        "base": base,
        "vm_size": 0,
        "compiled": _Compiled(),
        "guard": runner.default_guard((test_builtins,)),
        "builtins": (program_builtins, test_builtins),
        "trusted": trusted_type_ids(),
    }


# --------------------------------------------------------------------------------------------------


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
    try:
        plan = plan_layers(iso, int(config.get("worker_index", 0)), base)
        state = _state(base)
        # A program must not find the running harness through sys.modules: drop egca's modules
        # once, here (jobs are unpickled through a registry instead).
        protocol.register_classes()
        for name in [n for n in sys.modules if n == "egca" or n.startswith("egca.")]:
            del sys.modules[name]
        gc.disable()
        protocol.send(out_fd, {"pid": os.getpid(), "layers": plan.layers, "missing": plan.missing})
        while True:
            try:
                msg = protocol.recv(in_fd)
            except protocol.ProtocolError:
                break
            if msg is None:
                break
            job, limits = msg
            try:
                result = execute(job, limits, plan, state)
            except Exception as e:  # a bug in egca, not in the program: report it, keep serving
                result = _harness_error(len(job.tests), f"{type(e).__name__}: {e}", time.perf_counter())
            protocol.send(out_fd, result)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def main() -> None:
    import json

    serve(json.loads(sys.argv[1]))


if __name__ == "__main__":
    main()
