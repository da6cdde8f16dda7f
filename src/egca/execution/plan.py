"""Isolation planning: which layers this worker can apply, each confirmed by a probe program.

A layer that the kernel offers but that does not hold in the probe is reported missing, never
silently assumed (see ``egca doctor`` for the same checks from the outside).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Callable
from typing import Any

from egca.execution import isolation
from egca.execution.confine import LANDLOCK_FD, Plan
from egca.execution.job import ExecJob, Limits
from egca.tasks.task import TestCase

RunProbe = Callable[[ExecJob, Limits, Plan], dict[str, Any]]


def plan_layers(config: isolation.IsolationConfig, worker_index: int, base: str, run_probe: RunProbe) -> Plan:
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
    _probe(plan, base, run_probe)
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
import json
print(json.dumps(res))
"""


def _probe(plan: Plan, base: str, run_probe: RunProbe) -> None:
    """Run a program under the plan and record which layers held."""
    outside = os.path.join(tempfile.gettempdir(), f"egca-probe-{os.getpid()}")
    private = os.path.join(base, "private-probe")
    with open(private, "w") as f:
        f.write("secret")
    os.chmod(private, 0o600)
    program = f"PROBE_OUTSIDE = {outside!r}\nPROBE_PRIVATE = {private!r}\n" + _PROBE
    job = ExecJob(program=program, tests=(TestCase(index=0, source="pass"),))
    result = run_probe(job, Limits(timeout_s=10, total_timeout_s=10), plan)
    probe: dict[str, Any] = {}
    try:
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
