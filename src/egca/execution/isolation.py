"""Kernel isolation layers for sandboxed children: what is available here, and applying it.

Layers (each detected once per worker by a probe child, each reported, each with a fallback):

- ``netns``: an empty network namespace (no interface is up, so no network at all).
- ``landlock``: writes only beneath the working directory; reads only the Python installation and
  system directories (no home directories, no project files); TCP bind/connect denied (ABI >= 4);
  signals and abstract unix sockets scoped to the sandbox (ABI >= 6).
- ``uid``: when running as root, drop to an unprivileged uid (one per worker), which also makes
  ``RLIMIT_NPROC`` effective and keeps private files unreadable. Only when that uid can read the
  Python installation; otherwise ``caps``: stay uid 0 but drop every capability.
- ``seccomp``: a BPF filter that denies new processes, exec, sockets, ptrace, signals to other
  processes, raising resource limits, namespaces, mounts and kernel-level calls (x86_64, aarch64).
- ``rlimits``: CPU, address space (relative to the size at fork), file size, open files, no core.
"""

from __future__ import annotations

import ctypes
import os
import platform
import resource
import struct
import sys
import sysconfig
from dataclasses import dataclass

LAYERS = ("netns", "landlock", "uid", "caps", "seccomp", "rlimits")

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long

CLONE_NEWNET = 0x40000000
CLONE_NEWUSER = 0x10000000
PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2


class IsolationError(RuntimeError):
    """A layer that was expected to work failed in the child (the child then refuses to run)."""


@dataclass(frozen=True)
class IsolationConfig:
    """Which layers to use. ``strict``: refuse to start when a requested layer is unavailable."""

    network: bool = True
    filesystem: bool = True
    drop_uid: bool = True
    seccomp: bool = True
    uid_base: int = 61000
    strict: bool = False


def _check(ret: int, what: str) -> int:
    if ret < 0:
        err = ctypes.get_errno()
        raise IsolationError(f"{what}: {os.strerror(err)}")
    return ret


# --------------------------------------------------------------------------------------------------
# Network namespace


def unshare_network(as_root: bool) -> None:
    """Move the calling process into a new, empty network namespace."""
    flags = CLONE_NEWNET if as_root else CLONE_NEWNET | CLONE_NEWUSER
    _check(_libc.unshare(flags), "unshare(CLONE_NEWNET)")


# --------------------------------------------------------------------------------------------------
# Landlock

_SYS_LANDLOCK_CREATE_RULESET = 444
_SYS_LANDLOCK_ADD_RULE = 445
_SYS_LANDLOCK_RESTRICT_SELF = 446
_FS_EXECUTE, _FS_WRITE_FILE, _FS_READ_FILE, _FS_READ_DIR = 1, 2, 4, 8
_FS_REFER, _FS_TRUNCATE, _FS_IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15
_FILE_RIGHTS_V1 = _FS_EXECUTE | _FS_WRITE_FILE | _FS_READ_FILE


def landlock_abi() -> int:
    """The kernel's Landlock ABI version, 0 when unavailable."""
    if sys.platform != "linux":
        return 0
    ret = _libc.syscall(_SYS_LANDLOCK_CREATE_RULESET, None, 0, 1)  # LANDLOCK_CREATE_RULESET_VERSION
    return int(ret) if ret > 0 else 0


def _fs_handled(abi: int) -> int:
    handled = (1 << 13) - 1
    if abi >= 2:
        handled |= _FS_REFER
    if abi >= 3:
        handled |= _FS_TRUNCATE
    if abi >= 5:
        handled |= _FS_IOCTL_DEV
    return handled


def read_allowlist() -> list[str]:
    """Directories a child may read: the Python installation and system directories."""
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        p = sysconfig.get_paths().get(key)
        if p:
            paths.add(p)
    for p in sys.path:
        if p and os.path.isdir(p) and "site-packages" in p:
            paths.add(p)
    paths.update(["/usr", "/lib", "/lib64", "/etc", "/bin"])
    return sorted(p for p in paths if os.path.exists(p))


def landlock_ruleset(abi: int, workdir: str, readable: list[str]) -> int:
    """A ruleset fd: read ``readable``, read/write beneath ``workdir``, nothing else; TCP denied."""
    handled_fs = _fs_handled(abi)
    if abi >= 6:
        attr = struct.pack("QQQ", handled_fs, 3, 3)  # net: bind+connect TCP; scope: abstract unix, signal
    elif abi >= 4:
        attr = struct.pack("QQ", handled_fs, 3)
    else:
        attr = struct.pack("Q", handled_fs)
    buf = ctypes.create_string_buffer(attr, len(attr))
    fd = _check(_libc.syscall(_SYS_LANDLOCK_CREATE_RULESET, buf, len(attr), 0), "landlock_create_ruleset")
    read_dir = _FS_EXECUTE | _FS_READ_FILE | _FS_READ_DIR
    file_rights = _FILE_RIGHTS_V1 | (_FS_TRUNCATE if abi >= 3 else 0)
    rules = [(p, read_dir) for p in readable] + [(workdir, handled_fs)]
    rules += [("/dev/null", _FS_READ_FILE | _FS_WRITE_FILE | (_FS_TRUNCATE if abi >= 3 else 0))]
    rules += [("/dev/urandom", _FS_READ_FILE), ("/dev/zero", _FS_READ_FILE)]
    for path, rights in rules:
        try:
            pfd = os.open(path, os.O_PATH | os.O_CLOEXEC)
        except OSError:
            continue
        try:
            if not os.path.isdir(path):
                rights &= file_rights
            rule = ctypes.create_string_buffer(struct.pack("=Qi", rights, pfd), 12)
            _check(_libc.syscall(_SYS_LANDLOCK_ADD_RULE, fd, 1, rule, 0), f"landlock_add_rule({path})")
        finally:
            os.close(pfd)
    return fd


def landlock_enforce(ruleset_fd: int) -> None:
    """Restrict the calling process to a ruleset built by :func:`landlock_ruleset` (irrevocable)."""
    _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(NO_NEW_PRIVS)")
    _check(_libc.syscall(_SYS_LANDLOCK_RESTRICT_SELF, ruleset_fd, 0), "landlock_restrict_self")


# --------------------------------------------------------------------------------------------------
# seccomp

_AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}

# Syscalls denied outright, per architecture (EPERM). clone/kill-family are handled separately.
_DENY = {
    "x86_64": dict(
        fork=57,
        vfork=58,
        execve=59,
        execveat=322,
        ptrace=101,
        process_vm_readv=310,
        process_vm_writev=311,
        pidfd_open=434,
        pidfd_send_signal=424,
        pidfd_getfd=438,
        socket=41,
        mount=165,
        umount2=166,
        unshare=272,
        setns=308,
        chroot=161,
        pivot_root=155,
        bpf=321,
        perf_event_open=298,
        keyctl=250,
        add_key=248,
        request_key=249,
        reboot=169,
        init_module=175,
        finit_module=313,
        delete_module=176,
        kexec_load=246,
        kexec_file_load=320,
        io_uring_setup=425,
        io_uring_enter=426,
        io_uring_register=427,
        personality=135,
        userfaultfd=323,
        setuid=105,
        setgid=106,
        setreuid=113,
        setregid=114,
        setresuid=117,
        setresgid=119,
        setgroups=116,
        acct=163,
        swapon=167,
        swapoff=168,
        sethostname=170,
        setdomainname=171,
        iopl=172,
        ioperm=173,
        name_to_handle_at=303,
        open_by_handle_at=304,
        mknod=133,
        mknodat=259,
        syslog=103,
        open_tree=428,
        move_mount=429,
        fsopen=430,
        fsconfig=431,
        fsmount=432,
        fspick=433,
        mount_setattr=442,
        setrlimit=160,
        prlimit64=302,
    ),
    "aarch64": dict(
        execve=221,
        execveat=281,
        ptrace=117,
        process_vm_readv=270,
        process_vm_writev=271,
        pidfd_open=434,
        pidfd_send_signal=424,
        pidfd_getfd=438,
        socket=198,
        mount=40,
        umount2=39,
        unshare=97,
        setns=268,
        chroot=51,
        pivot_root=41,
        bpf=280,
        perf_event_open=241,
        keyctl=219,
        add_key=217,
        request_key=218,
        reboot=142,
        init_module=105,
        finit_module=273,
        delete_module=106,
        kexec_load=104,
        kexec_file_load=294,
        io_uring_setup=425,
        io_uring_enter=426,
        io_uring_register=427,
        personality=92,
        userfaultfd=282,
        setuid=146,
        setgid=144,
        setreuid=145,
        setregid=143,
        setresuid=147,
        setresgid=149,
        setgroups=159,
        acct=89,
        swapon=224,
        swapoff=225,
        sethostname=161,
        setdomainname=162,
        name_to_handle_at=264,
        open_by_handle_at=265,
        mknodat=33,
        syslog=116,
        open_tree=428,
        move_mount=429,
        fsopen=430,
        fsconfig=431,
        fsmount=432,
        fspick=433,
        mount_setattr=442,
        setrlimit=164,
        prlimit64=261,
    ),
}
_CLONE = {"x86_64": 56, "aarch64": 220}
_CLONE3 = 435
# Signal-sending calls whose first argument is a pid/tgid: allowed only towards the process itself.
_KILL_LIKE = {
    "x86_64": dict(kill=62, tkill=200, tgkill=234, rt_sigqueueinfo=129, rt_tgsigqueueinfo=297),
    "aarch64": dict(kill=129, tkill=130, tgkill=131, rt_sigqueueinfo=138, rt_tgsigqueueinfo=240),
}
_CLONE_THREAD = 0x00010000

_LD_W_ABS, _JEQ_K, _JSET_K, _JGE_K, _RET_K = 0x20, 0x15, 0x45, 0x35, 0x06
_RET_ALLOW, _RET_KILL = 0x7FFF0000, 0x80000000
_RET_EPERM = 0x00050000 | 1
_RET_ENOSYS = 0x00050000 | 38


def seccomp_arch() -> str | None:
    """The machine name if egca has a syscall table for it."""
    m = platform.machine()
    return m if m in _AUDIT_ARCH and sys.platform == "linux" else None


# Denied in the child only: the worker itself forks, kills and reaps children, and the child uses
# these while it isolates itself (before its own filter is installed).
_CHILD_ONLY = frozenset(
    [
        "fork",
        "vfork",
        "pidfd_open",
        "pidfd_send_signal",
        "pidfd_getfd",
        "setuid",
        "setgid",
        "setreuid",
        "setregid",
        "setresuid",
        "setresgid",
        "setgroups",
        "unshare",
        "setrlimit",
        "prlimit64",
    ]
)


def seccomp_program(arch: str, pid: int, part: str = "child") -> list[tuple[int, int, int, int]]:
    """The BPF program (code, jt, jf, k) for ``arch``.

    ``part="worker"`` is installed once in the worker and inherited by every child: it denies
    everything neither needs. ``part="child"`` is added in the child (process ``pid``): no new
    processes, threads only, signals only to itself, no identity or limit changes.
    """
    prog: list[tuple[int, int, int, int]] = [
        (_LD_W_ABS, 0, 0, 4),
        (_JEQ_K, 1, 0, _AUDIT_ARCH[arch]),
        (_RET_K, 0, 0, _RET_KILL),
        (_LD_W_ABS, 0, 0, 0),
        (_JGE_K, 0, 1, 0x40000000),  # x32 ABI on x86_64
        (_RET_K, 0, 0, _RET_EPERM),
    ]
    deny = [nr for name, nr in _DENY[arch].items() if (name in _CHILD_ONLY) == (part == "child")]
    for nr in deny:
        prog += [(_JEQ_K, 0, 1, nr), (_RET_K, 0, 0, _RET_EPERM)]
    if part == "child":
        prog += [(_JEQ_K, 0, 1, _CLONE3), (_RET_K, 0, 0, _RET_ENOSYS)]  # glibc falls back to clone()
        prog += [  # clone: threads only
            (_JEQ_K, 0, 4, _CLONE[arch]),
            (_LD_W_ABS, 0, 0, 16),
            (_JSET_K, 1, 0, _CLONE_THREAD),
            (_RET_K, 0, 0, _RET_EPERM),
            (_RET_K, 0, 0, _RET_ALLOW),
        ]
        for nr in _KILL_LIKE[arch].values():  # kill & co: only towards this process
            prog += [
                (_JEQ_K, 0, 5, nr),
                (_LD_W_ABS, 0, 0, 16),
                (_JEQ_K, 2, 0, pid),
                (_JEQ_K, 1, 0, 0),
                (_RET_K, 0, 0, _RET_EPERM),
                (_RET_K, 0, 0, _RET_ALLOW),
            ]
    prog.append((_RET_K, 0, 0, _RET_ALLOW))
    return prog


_PID_MARKER = 0x7ABCDEF1


def seccomp_template(arch: str, part: str = "child") -> bytes:
    """The filter as bytes, with a marker where the process id goes (built once per worker)."""
    prog = seccomp_program(arch, _PID_MARKER, part)
    return b"".join(struct.pack("HBBI", code, jt, jf, k) for code, jt, jf, k in prog)


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


class SeccompFilter:
    """A filter prepared once (in the worker) and installed cheaply in each child."""

    def __init__(self, template: bytes) -> None:
        marker = struct.pack("I", _PID_MARKER)
        self._offsets = [i for i in range(0, len(template), 8) if template[i + 4 : i + 8] == marker]
        self._buf = ctypes.create_string_buffer(template, len(template))
        self._fprog = _SockFprog(len(template) // 8, ctypes.cast(self._buf, ctypes.c_void_p))

    def install(self) -> None:
        """Install on the calling process (irrevocable), with its pid filled in."""
        pid = struct.pack("I", os.getpid())
        base = ctypes.addressof(self._buf)
        for off in self._offsets:
            ctypes.memmove(base + off + 4, pid, 4)
        _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(NO_NEW_PRIVS)")
        _check(_libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(self._fprog), 0, 0), "seccomp")


def seccomp_install(template: bytes) -> None:
    """Install a filter from :func:`seccomp_template` on the calling process (irrevocable)."""
    SeccompFilter(template).install()


def raw_fork() -> int:
    """``fork()`` without Python's at-fork hooks (for a single-threaded fork server).

    Skips the interpreter's after-fork work in the child (re-seeding ``random``, re-creating
    locks of other threads), which costs about 200 page faults per child; children therefore
    start from the same ``random`` state (deterministic, like ``PYTHONHASHSEED=0``).
    """
    pid = int(_libc.fork())
    if pid < 0:
        raise OSError(ctypes.get_errno(), f"fork: {os.strerror(ctypes.get_errno())}")
    return pid


# --------------------------------------------------------------------------------------------------
# uid, rlimits


def world_readable(path: str) -> bool:
    """Whether an unprivileged uid can reach and read ``path`` (every ancestor searchable)."""
    import stat

    path = os.path.realpath(path)
    parts = path.split(os.sep)
    for i in range(1, len(parts) + 1):
        p = os.sep.join(parts[:i]) or os.sep
        try:
            mode = os.stat(p).st_mode
        except OSError:
            return False
        if stat.S_ISDIR(mode) and not mode & stat.S_IXOTH:
            return False
    return bool(os.stat(path).st_mode & stat.S_IROTH)


_SYS_CAPSET = {"x86_64": 126, "aarch64": 91}
_CAP_HEADER = ctypes.create_string_buffer(struct.pack("Ii", 0x20080522, 0), 8)  # v3, this process
_CAP_DATA = ctypes.create_string_buffer(b"\0" * 24, 24)  # no capabilities at all


def drop_capabilities(arch: str) -> None:
    """Clear the effective, permitted and inheritable capabilities of a root process.

    The bounding set only matters across ``execve``, which the seccomp filter denies.
    """
    _check(_libc.syscall(_SYS_CAPSET[arch], _CAP_HEADER, _CAP_DATA), "capset")


def drop_privileges(uid: int) -> None:
    """Become ``uid``/``uid`` with no supplementary groups (requires root)."""
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)


def vm_size_bytes() -> int:
    """Current address-space size of this process."""
    fd = os.open("/proc/self/statm", os.O_RDONLY)
    try:
        return int(os.read(fd, 256).split()[0]) * resource.getpagesize()
    finally:
        os.close(fd)


def apply_rlimits(
    cpu_s: float, memory_mb: int, file_size_mb: int, open_files: int, no_threads: bool, vm_size: int = 0
) -> None:
    """Limit CPU, address space (``vm_size`` or the current size, plus ``memory_mb``), file size,
    open files and core dumps."""
    cpu = max(1, int(cpu_s + 0.999))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    fsize = file_size_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
    resource.setrlimit(resource.RLIMIT_NOFILE, (open_files, open_files))
    if no_threads:
        resource.setrlimit(resource.RLIMIT_NPROC, (1, 1))
    budget = (vm_size or vm_size_bytes()) + memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (budget, budget))


def clean_environment(workdir: str) -> dict[str, str]:
    """The whole environment a child sees: no tokens, no user paths."""
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": workdir,
        "TMPDIR": workdir,
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "PYTHONHASHSEED": "0",
        "PYTHONDONTWRITEBYTECODE": "1",
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }
