"""Isolating a freshly forked process: both sides of the boundary go through :func:`confine`.

The candidate's process and the test-side process are each a fork of a lean egca process (the
candidate zygote and the worker); each calls :func:`confine` before it runs anything it was given.
Failing closed: an exception here means the process must not run the code.
"""

from __future__ import annotations

import fcntl
import os
from dataclasses import dataclass, field

from egca.execution import isolation
from egca.execution.job import Limits

LANDLOCK_FD = 1000  # the worker's ruleset lives at this fd so that children can keep it
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


def redirect_fds(keep: dict[int, int]) -> None:
    """Stdin/stdout/stderr to /dev/null, ``keep`` (source fd -> target fd) in place, all else closed.

    Target fds must be 3, 4, ...; the Landlock ruleset at :data:`LANDLOCK_FD` stays open.
    """
    os.setsid()
    devnull = os.open("/dev/null", os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    moved = {src: fcntl.fcntl(src, fcntl.F_DUPFD, 100) for src in keep}  # out of the targets' way
    for src, target in keep.items():
        os.dup2(moved[src], target)
    top = max(keep.values(), default=2) + 1
    os.closerange(top, LANDLOCK_FD)
    os.closerange(LANDLOCK_FD + 1, 65536)


def confine(plan: Plan, limits: Limits, vm_size: int) -> None:
    """Apply every layer of ``plan`` to the calling (freshly forked) process."""
    os.chdir(plan.workdir)  # the environment was made clean once, in the worker
    if plan.child_netns:
        isolation.unshare_network(as_root=False)
    isolation.apply_rlimits(
        cpu_s=limits.total_timeout_s + 1,
        memory_mb=limits.memory_mb,
        file_size_mb=limits.file_size_mb,
        open_files=limits.open_files,
        no_threads=plan.uid is not None,
        vm_size=vm_size,
    )
    if plan.landlock_fd is not None:
        isolation.landlock_enforce(plan.landlock_fd)
        os.close(plan.landlock_fd)
    else:
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
