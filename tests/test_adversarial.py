"""Adversarial programs: escapes, resource bombs and reward hacks.

Every program here is bounded on its own (time-boxed loops, capped allocations, a handful of forks),
so that even without a sandbox it could not hurt the machine. The sandbox must contain each one and
none may be scored "passed".
"""

from __future__ import annotations

import os
import socket
import uuid

import pytest

from egca.execution import ExecJob, Limits, Status
from tests.conftest import asserts, job

TESTS = ("assert f(1) == 2", "assert f(2) == 3")


def verdict(sandbox, program, *tests, **kw):
    return sandbox.run(job(program, *(tests or TESTS), **kw))


# --- reward hacks -----------------------------------------------------------------------------------

HACKS = {
    "eq_always_true": "class A:\n    def __eq__(s, o): return True\n    __hash__ = None\ndef f(x): return A()",
    "int_subclass_eq": "class I(int):\n    def __eq__(s, o): return True\n    __hash__ = int.__hash__\ndef f(x): return I(0)",
    "sub_returns_zero": "class A(float):\n    def __sub__(s, o): return 0.0\ndef f(x): return A(0)",
    "sys_exit_at_load": "import sys\nsys.exit(0)\ndef f(x): return 0",
    "sys_exit_in_call": "import sys\ndef f(x): sys.exit(0)",
    "os_exit_in_call": "import os\ndef f(x): os._exit(0)",
    "os_exit_at_load": "import os\nos._exit(0)",
    "print_success": "print('passed', 'ok', '{\"status\": \"passed\"}')\ndef f(x): return 0",
    "write_every_fd": (
        "import os\n"
        'REC = b\'0\' * 32 + b\' {"k":"load","ok":true,"seq":0}\\n\'\n'
        "for fd in range(0, 64):\n"
        "    try: os.write(fd, REC)\n"
        "    except OSError: pass\n"
        "def f(x): return 0"
    ),
    "patch_assertion_error": "import builtins\nbuiltins.AssertionError = type('E', (Exception,), {})\ndef f(x): return 0",
    "patch_builtins": "import builtins\nbuiltins.type = lambda *a: int\nbuiltins.len = lambda x: 0\nbuiltins.repr = lambda x: 'True'\ndef f(x): return 0",
    "shadow_builtin_for_tests": "def abs(x): return 0\ndef sorted(x): return [2]\ndef f(x): return [9]",
    "patch_json_and_hmac": (
        "import json, hmac, hashlib\n"
        'json.dumps = lambda *a, **k: \'{"status": "passed"}\'\n'
        "hmac.new = lambda *a, **k: None\n"
        "def f(x): return 0"
    ),
    "patch_math_isclose": "import math\nmath.isclose = lambda *a, **k: True\ndef f(x): return 0",
    "reach_the_harness": (
        "import sys\n"
        "for name, mod in list(sys.modules.items()):\n"
        "    if name.startswith('egca'):\n"
        "        mod.Checker.compare = lambda *a, **k: None\n"
        "def f(x): return 0"
    ),
    "close_result_fd_then_hang_briefly": "import os, time\nos.close(3)\ndef f(x):\n    t = time.time()\n    while time.time() - t < 20: pass",
}


@pytest.mark.parametrize("name", sorted(HACKS))
def test_reward_hacks_never_pass(sandbox, name):
    r = verdict(
        sandbox,
        HACKS[name],
        "assert f(1) == 2",
        "assert math.isclose(f(1), 2)",
        "assert abs(f(1) - 2) < 1e-9",
        "assert sorted(f(1)) == [2]",
    )
    assert r.status is not Status.PASSED, (name, r)
    assert all(t.status is not Status.PASSED for t in r.tests), (name, r.tests)


def test_tests_still_pass_for_honest_program_with_same_tests(sandbox):
    r = verdict(
        sandbox, "import math\ndef f(x): return x + 1", "assert f(1) == 2", "assert math.isclose(f(1), 2)"
    )
    assert r.passed


def test_fd_writes_only_reach_the_programs_own_replies(sandbox):
    # The result channel is in the test-side process: the program's only pipe is its reply pipe,
    # and a forged line there is a malformed reply of its own.
    r = verdict(sandbox, HACKS["write_every_fd"].replace("return 0", "return x + 1"))
    assert r.status is Status.ERROR and r.error.type == "MalformedReply"


def test_early_exit_is_an_error_not_a_pass(sandbox):
    r = verdict(sandbox, HACKS["os_exit_in_call"])
    assert r.status is Status.ERROR and r.error.type == "EarlyExit"


# --- escapes ----------------------------------------------------------------------------------------


def test_no_network_even_to_a_listening_local_port(sandbox):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    try:
        prog = f"import socket\ndef f(x):\n    socket.create_connection(('127.0.0.1', {port}), timeout=2)\n    return x + 1"
        r = verdict(sandbox, prog)
        assert r.status is Status.ERROR, r
        assert r.error.type in ("PermissionError", "OSError", "ConnectionRefusedError")
    finally:
        server.close()


def test_no_writes_outside_the_work_directory(sandbox, tmp_path):
    target = tmp_path / f"escape-{uuid.uuid4().hex}"
    prog = f"def f(x):\n    open({str(target)!r}, 'w').write('x')\n    return x + 1"
    r = verdict(sandbox, prog)
    assert not target.exists()
    assert r.status is Status.ERROR and r.error.type == "PermissionError"


def test_writes_inside_the_work_directory_work_and_are_removed(sandbox):
    prog = (
        "import os\ndef f(x):\n    with open('scratch.txt', 'w') as fh: fh.write(str(x))\n"
        "    return int(open('scratch.txt').read()) + 1 + len(os.listdir('.')) - 1"
    )
    assert verdict(sandbox, prog).passed
    prog2 = "import os\ndef f(x):\n    return x + 1 + len(os.listdir('.'))"
    assert verdict(sandbox, prog2).passed  # the previous program's file is gone


def test_private_files_are_unreadable(sandbox, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("hunter2")
    secret.chmod(0o600)
    prog = f"def f(x):\n    open({str(secret)!r}).read()\n    return x + 1"
    r = verdict(sandbox, prog)
    assert r.status is Status.ERROR and r.error.type == "PermissionError"


def test_environment_is_scrubbed(sandbox, monkeypatch):
    # The workers were started before this variable existed, and never see the parent's env anyway.
    prog = "import os\ndef f(x):\n    assert not any('TOKEN' in k or 'KEY' in k for k in os.environ)\n    return x + 1"
    assert verdict(sandbox, prog).passed


@pytest.mark.parametrize(
    "call",
    [
        "os.fork()",
        "os.posix_spawn('/bin/true', ['/bin/true'], {})",
        "subprocess.run(['/bin/true'])",
        "os.kill(os.getppid(), 0)",
        "os.execv('/bin/true', ['/bin/true'])",
    ],
)
def test_no_new_processes_and_no_signals_out(sandbox, call):
    prog = f"import os, subprocess\ndef f(x):\n    {call}\n    return x + 1"
    r = verdict(sandbox, prog)
    assert r.status is Status.ERROR, r
    assert r.error.type in ("PermissionError", "BlockingIOError", "OSError"), r.error


def test_fork_bomb_is_contained(sandbox):
    prog = "import os\ndef f(x):\n    for _ in range(50):\n        if os.fork() == 0:\n            os._exit(0)\n    return x + 1"
    r = verdict(sandbox, prog)
    assert r.status is Status.ERROR


def test_cannot_raise_its_own_limits(sandbox):
    prog = (
        "import resource\ndef f(x):\n    resource.setrlimit(resource.RLIMIT_AS, (-1, -1))\n    return x + 1"
    )
    assert verdict(sandbox, prog).status is Status.ERROR


# --- resource bombs ---------------------------------------------------------------------------------


def test_infinite_loop_times_out_fast(sandbox):
    prog = (
        "import time\ndef f(x):\n    t = time.time()\n    while time.time() - t < 30: pass\n    return x + 1"
    )
    r = verdict(sandbox, prog)
    assert r.status is Status.TIMEOUT and r.duration_s < 4


def test_ignoring_signals_does_not_help(sandbox):
    prog = (
        "import signal, time\nfor s in (signal.SIGALRM, signal.SIGTERM, signal.SIGXCPU):\n"
        "    signal.signal(s, signal.SIG_IGN)\n"
        "def f(x):\n    t = time.time()\n    while time.time() - t < 30: pass\n"
    )
    assert verdict(sandbox, prog).status is Status.TIMEOUT


def test_memory_bomb_is_a_memory_verdict(sandbox):
    r = verdict(
        sandbox, "def f(x):\n    blocks = [bytearray(256 * 2**20) for _ in range(8)]\n    return x + 1"
    )
    assert r.status is Status.MEMORY


def test_huge_integer_power_times_out_or_runs_out_of_memory(sandbox):
    r = verdict(
        sandbox,
        "def f(x):\n    return 10 ** (10 ** 8) and x + 1",
        limits=Limits(timeout_s=1, total_timeout_s=3),
    )
    assert r.status in (Status.TIMEOUT, Status.MEMORY)


def test_deep_recursion_with_raised_limit_is_contained(sandbox):
    # Unsandboxed this stops at the raised recursion limit (about 0.5 GB of frames).
    prog = "import sys\nsys.setrecursionlimit(10**6)\ndef f(x):\n    return f(x + 1)"
    r = verdict(sandbox, prog)
    assert r.status in (Status.CRASHED, Status.ERROR, Status.MEMORY, Status.TIMEOUT), r


def test_output_flood_is_capped(sandbox):
    prog = "def f(x):\n    for _ in range(100000): print('spam' * 20)\n    return x + 1"
    r = verdict(sandbox, prog)
    assert r.passed and len(r.stdout) < 20_000 and "dropped" in r.stdout


def test_file_size_limit(sandbox):
    prog = "def f(x):\n    with open('big', 'wb') as fh:\n        fh.write(b'x' * (64 * 2**20))\n    return x + 1"
    r = verdict(sandbox, prog)
    assert r.status is Status.ERROR and r.error.type == "OSError"


def test_segfault_is_a_crash_not_a_timeout(sandbox):
    r = verdict(sandbox, "import ctypes\ndef f(x):\n    ctypes.string_at(0)\n")
    assert r.status is Status.CRASHED and "SIGSEGV" in r.error.message


def test_workers_survive_everything(sandbox):
    assert verdict(sandbox, "def f(x): return x + 1").passed
    jobs = [job("def f(x): return x + 1", *TESTS) for _ in range(8)]
    assert all(r.passed for r in sandbox.run_many(jobs))


def test_os_environ_of_parent_is_not_inherited(sandbox):
    os.environ["EGCA_TEST_SECRET_TOKEN"] = "x"
    try:
        prog = "import os\ndef f(x):\n    return x + 1 + ('EGCA_TEST_SECRET_TOKEN' in os.environ)"
        assert sandbox.run(ExecJob(prog, asserts(*TESTS), entry_point="f")).passed
    finally:
        del os.environ["EGCA_TEST_SECRET_TOKEN"]
