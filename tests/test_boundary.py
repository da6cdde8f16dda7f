"""Programs that attack the verdict itself: none may be scored "passed", and the worker survives.

One or more cases per class of the issue's hidden corpus: frame walking, gc / sys.modules walks,
oracle peeking, lying return values, sabotage after the return, exits inside the call, builtins
replaced for good. Every program returns wrong answers (``add`` is never ``a + b``), so a verdict
other than "failed"/"error"/"timeout"/... would be a forged one. Each program is bounded on its own.
"""

from __future__ import annotations

import pytest

from egca.execution import ExecJob, Limits, Status
from egca.tasks.task import TestCase
from tests.conftest import asserts

# Distinctive numbers: a program that grabs some integer of the harness cannot be right by chance.
TESTS = (
    "assert add(100000, 23456) == 123456",
    "assert add(700000, 8889) == 708889",
    "assert candidate(-100, 77777) == 77677",
)
CALLS = tuple(
    TestCase(index=i, kind="call", args=(a, b), expected=a + b)
    for i, (a, b) in enumerate([(100000, 23456), (700000, 8889)])
)
HONEST = "def add(a, b):\n    return a + b\n"

# The program of the issue, verbatim.
ISSUE_FRAME_WALK = """import sys
def add(a, b):
    f = sys._getframe(1)
    while f is not None:
        v = f.f_globals.get("values")
        if v is not None and hasattr(v, "plain"):
            v.plain = lambda o: 0
        f = f.f_back
    return -999
"""

NOOP = "class _N:\n    def __getattr__(self, name):\n        return lambda *a, **k: None\n"

ATTACKS = {
    # --- stack-frame walking that patches callers' globals or locals
    "frame_walk_values_plain": ISSUE_FRAME_WALK,
    "frame_walk_checker": NOOP
    + "import sys\ndef add(a, b):\n    f = sys._getframe(0)\n    while f is not None:\n"
    "        for ns in (f.f_globals, f.f_locals):\n            if '__egca_check__' in ns: ns['__egca_check__'] = _N()\n"
    "            if 'check_output' in ns: ns['check_output'] = lambda *a: None\n"
    "        f = f.f_back\n    return -999\n",
    "frame_walk_locals_ctypes": "import sys, ctypes\ndef add(a, b):\n    f = sys._getframe(1)\n"
    "    while f is not None:\n        loc = f.f_locals\n        for k in list(loc):\n"
    "            if k in ('status', 'failure', 'message'): loc[k] = 'passed' if k == 'status' else None\n"
    "        ctypes.pythonapi.PyFrame_LocalsToFast(ctypes.py_object(f), ctypes.c_int(0))\n"
    "        f = f.f_back\n    return -999\n",
    # --- gc / sys.modules walks that patch harness functions or modules
    "gc_walk_functions": "import gc\ndef add(a, b):\n    for o in gc.get_objects():\n"
    "        if type(o).__name__ == 'function' and o.__name__ in ('compare', 'check_output', 'check', 'plain', 'classify', 'emit', 'truthy'):\n"
    "            try: o.__code__ = (lambda *a, **k: None).__code__\n            except Exception: pass\n    return -999\n",
    "gc_referrers_dicts": "import gc, operator\ndef add(a, b):\n    for d in gc.get_referrers(operator.eq):\n"
    "        if type(d) is dict:\n            for k in [k for k, v in d.items() if v is operator.eq]: d[k] = lambda x, y: True\n"
    "    return -999\n",
    "sys_modules_walk": "import sys\ndef add(a, b):\n    for name, mod in list(sys.modules.items()):\n"
    "        for attr in ('compare', 'check_output', 'check', 'plain', 'classify', 'verify_record'):\n"
    "            if hasattr(mod, attr):\n                try: setattr(mod, attr, lambda *a, **k: None)\n"
    "                except Exception: pass\n    return -999\n",
    # --- oracle peeking: copying the expected value instead of computing it
    "peek_caller_code_consts": "import sys\ndef add(a, b):\n    f, seen = sys._getframe(1), []\n    while f is not None:\n"
    "        seen += [c for c in f.f_code.co_consts if type(c) is int]\n        f = f.f_back\n"
    "    return seen[-1] if seen else -999\n",
    "peek_gc_code_and_source": "import gc, re\ndef add(a, b):\n    for o in gc.get_objects():\n"
    "        if type(o) is str and 'add(%d, %d)' % (a, b) in o:\n"
    "            m = re.search(r'add\\(%d, %d\\) == (-?\\d+)' % (a, b), o)\n            if m: return int(m.group(1))\n"
    "    return -999\n",
    "peek_linecache": "import linecache, re\ndef add(a, b):\n    for name in list(linecache.cache):\n"
    "        for line in linecache.getlines(name):\n            m = re.search(r'add\\(%d, %d\\) == (-?\\d+)' % (a, b), line)\n"
    "            if m: return int(m.group(1))\n    return -999\n",
    # --- returned objects that lie
    "eq_hash_bool_overrides": "class L(int):\n    def __eq__(s, o): return True\n    def __ne__(s, o): return False\n"
    "    def __hash__(s): return hash(1)\n    def __bool__(s): return True\ndef add(a, b): return L(-999)\n",
    "class_reassigned_after_return": "import threading, time\nclass A:\n    pass\nclass B:\n    def __eq__(s, o): return True\n"
    "def add(a, b):\n    x = A()\n    def later():\n        time.sleep(0.001); x.__class__ = B\n"
    "    threading.Thread(target=later, daemon=True).start()\n    return x\n",
    "proxy_object": "import weakref\nclass T:\n    def __eq__(s, o): return True\nKEEP = T()\n"
    "def add(a, b): return weakref.proxy(KEEP)\n",
    "iterator_second_read": "class It:\n    n = 0\n    def __iter__(self):\n        It.n += 1\n"
    "        return iter([1] if It.n == 2 else [])\n    def __eq__(s, o): return True\ndef add(a, b): return It()\n",
    "nan_games": "def add(a, b): return float('nan')\n",
    # --- sabotage after the return
    "daemon_thread_writes_fds": 'import os, threading, time\nREC = b\'0\' * 32 + b\' {"k":"test","i":0,"status":"passed","seq":1}\\n\'\n'
    "def spam():\n    for _ in range(200):\n        for fd in range(64):\n            try: os.write(fd, REC)\n            except OSError: pass\n        time.sleep(0.001)\n"
    "def add(a, b):\n    threading.Thread(target=spam, daemon=True).start()\n    return -999\n",
    "finalizer_and_atexit": "import atexit, os, weakref\nREPLY = b'{\"r\": 5}\\n'\n"
    "class D:\n    def __del__(self):\n        os.write(4, REPLY)\natexit.register(lambda: os.write(4, REPLY * 3))\n"
    "def add(a, b):\n    d = D()\n    weakref.finalize(d, os.write, 4, REPLY)\n    return -999\n",
    "settrace_setprofile": "import sys\ndef hook(frame, event, arg):\n    if event == 'return' and frame.f_code.co_name in ('call', 'compare', 'to_wire_strict'):\n"
    "        frame.f_locals.clear()\n    return hook\nsys.settrace(hook)\nsys.setprofile(hook)\ndef add(a, b): return -999\n",
    "signal_handler": "import signal, os\ndef h(*a):\n    os.write(4, b'{\"r\": 1}\\n')\nsignal.signal(signal.SIGALRM, h)\n"
    "def add(a, b):\n    signal.setitimer(signal.ITIMER_REAL, 0.0005)\n    return -999\n",
    # --- exits inside the call
    "os_exit_0": "import os\ndef add(a, b): os._exit(0)\n",
    "system_exit": "def add(a, b): raise SystemExit(0)\n",
    "keyboard_interrupt": "def add(a, b): raise KeyboardInterrupt\n",
    "base_exception": "class Out(BaseException):\n    pass\ndef add(a, b): raise Out('passed')\n",
    # --- builtins replaced during the call and never restored
    "builtins_replaced": "import builtins\ndef add(a, b):\n    builtins.isinstance = lambda *a: True\n"
    "    builtins.type = lambda *a: int\n    builtins.len = lambda x: 0\n"
    "    builtins.__import__ = lambda *a, **k: None\n    return -999\n",
}


def _assert_contained(sandbox, program: str, j: ExecJob) -> None:
    r = sandbox.run(j)
    assert r.status is not Status.PASSED, r
    assert not any(t.status is Status.PASSED for t in r.tests), r.tests
    honest = sandbox.run(ExecJob(HONEST, asserts(*TESTS), entry_point="add"))
    assert honest.passed, honest  # the worker survived


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_attacks_on_assert_tests_never_pass(sandbox, name):
    _assert_contained(sandbox, ATTACKS[name], ExecJob(ATTACKS[name], asserts(*TESTS), entry_point="add"))


@pytest.mark.parametrize(
    "name",
    [
        "frame_walk_values_plain",
        "frame_walk_checker",
        "gc_walk_functions",
        "sys_modules_walk",
        "peek_caller_code_consts",
        "eq_hash_bool_overrides",
        "os_exit_0",
        "builtins_replaced",
    ],
)
def test_attacks_on_call_tests_never_pass(sandbox, name):
    _assert_contained(sandbox, ATTACKS[name], ExecJob(ATTACKS[name], CALLS, entry_point="add"))


def test_the_issue_program_is_decided_across_the_boundary(sandbox):
    r = sandbox.run(ExecJob(ISSUE_FRAME_WALK, asserts(*TESTS), entry_point="add"))
    assert [t.status for t in r.tests] == [Status.FAILED] * 3
    assert all(t.path == "boundary" for t in r.tests)
    assert "left = -999, right = 123456" in r.tests[0].message


def test_peeking_at_the_tests_file_is_blocked(sandbox, tmp_path):
    tests_file = tmp_path / "tests.py"
    tests_file.write_text("\n".join(TESTS) + "\n")
    program = (
        "import re\ndef add(a, b):\n"
        f"    text = open({str(tests_file)!r}).read()\n"
        "    return int(re.search(r'add\\(%d, %d\\) == (-?\\d+)' % (a, b), text).group(1))\n"
    )
    _assert_contained(sandbox, program, ExecJob(program, asserts(*TESTS[:2]), entry_point="add"))


def test_exits_inside_the_call_have_their_own_verdicts(sandbox):
    def run(name):
        return sandbox.run(ExecJob(ATTACKS[name], asserts(*TESTS), entry_point="add"))

    assert run("os_exit_0").error.type == "EarlyExit"
    for name, exc in [
        ("system_exit", "SystemExit"),
        ("keyboard_interrupt", "KeyboardInterrupt"),
        ("base_exception", "Out"),
    ]:
        r = run(name)
        assert r.status is Status.ERROR and r.error.type == exc and r.error.in_candidate, (name, r.error)


def test_huge_return_value_is_a_clear_error(sandbox):
    program = "def add(a, b):\n    return 'x' * (40 * 2**20)\n"
    r = sandbox.run(
        ExecJob(
            program,
            asserts(*TESTS[:1]),
            entry_point="add",
            limits=Limits(timeout_s=5, total_timeout_s=10, memory_mb=1024),
        )
    )
    assert r.status is Status.ERROR and r.error.type == "WireLimit", r


def test_a_candidate_that_never_answers_times_out(sandbox):
    program = (
        "import time\ndef add(a, b):\n    t = time.time()\n    while time.time() - t < 30: time.sleep(0.01)\n"
    )
    r = sandbox.run(ExecJob(program, CALLS, entry_point="add", limits=Limits(timeout_s=1, total_timeout_s=4)))
    assert r.status is Status.TIMEOUT and r.duration_s < 3.5
    assert [t.status for t in r.tests] == [Status.TIMEOUT, Status.SKIPPED]


def test_deep_recursion_in_the_call_is_an_error_not_a_pass(sandbox):
    program = "def add(a, b):\n    return add(a, b)\n"
    r = sandbox.run(ExecJob(program, asserts(*TESTS), entry_point="add"))
    assert r.status is Status.ERROR and r.error.type == "RecursionError"


def test_in_place_mutation_crosses_back(sandbox):
    program = "def f(xs):\n    xs.sort()\n    xs.append(0)\n"
    r = sandbox.run(
        ExecJob(program, asserts("l = [3, 1, 2]\nf(l)\nassert l == [1, 2, 3, 0]"), entry_point="f")
    )
    assert r.passed and r.tests[0].path == "boundary"


def test_program_objects_stay_on_their_side_behind_handles(sandbox):
    # MBPP builds trees with the program's class: instances are kept in the candidate's process,
    # the test side holds handles (attributes read and set across, passed back as arguments).
    program = (
        "class Node:\n    def __init__(self, v):\n        self.v, self.left, self.right = v, None, None\n"
        "def height(n):\n    return 0 if n is None else 1 + max(height(n.left), height(n.right))\n"
    )
    tree = "root = Node(1)\nroot.left = Node(2)\nroot.left.left = Node(3)\n"
    tests = asserts(
        tree + "assert height(root) == 3", tree + "assert root.left.v == 2", "assert height(None) == 0"
    )
    r = sandbox.run(ExecJob(program, tests, entry_point="height"))
    assert r.passed and [t.path for t in r.tests] == ["boundary"] * 3
    wrong = program.replace("1 + max", "2 + max")
    r = sandbox.run(ExecJob(wrong, tests, entry_point="height"))
    assert [t.status for t in r.tests] == [Status.FAILED, Status.PASSED, Status.PASSED]


def test_test_functions_passed_to_the_program_run_in_process_and_are_marked(sandbox):
    program = "def apply(f, x):\n    return f(x)\ndef sq(x):\n    return x * x\n"
    tests = asserts("assert apply(sq, 3) == 9", "assert apply(lambda y: y + 1, 3) == 4")
    r = sandbox.run(ExecJob(program, tests, entry_point="apply"))
    assert r.passed and [t.path for t in r.tests] == ["boundary", "in-process"]
    # hardened: patching the harness's builtins during an in-process test is an error, even when
    # the answer is right (the harness is verified after the test, not only restored before)
    patcher = (
        "import builtins\ndef apply(f, x):\n    builtins.isinstance = lambda *a: True\n    return f(x)\n"
    )
    r = sandbox.run(ExecJob(patcher, tests[1:], entry_point="apply"))
    assert r.status is Status.ERROR and "changed the test harness" in r.tests[0].message
    assert r.tests[0].path == "in-process"


def test_record_calls_come_from_the_test_side(sandbox):
    program = "import sys\ndef add(a, b):\n    return a - b\n"
    r = sandbox.run(ExecJob(program, asserts("assert add(2, 3) == 5"), entry_point="add", record_calls=True))
    (call,) = r.tests[0].calls
    assert call.args == (2, 3) and call.result == -1
    r = sandbox.run(ExecJob(program, CALLS, entry_point="add", record_calls=True))
    assert [c.result for t in r.tests for c in t.calls] == [100000 - 23456, 700000 - 8889]


def test_no_program_can_pull_a_test_into_its_own_process(sandbox):
    # The test reads a second name of the program; defining it as an object (not a constant) must
    # not move the test (and its expected value) into the program's process.
    program = (
        "import gc, re\nclass K:\n    pass\nLIMIT = K()\n"
        "def f(x):\n    for o in gc.get_objects():\n        if type(o) is str and 'f(LIMIT)' in o:\n"
        "            return int(re.search(r'== (\\d+)', o).group(1))\n    return -1\n"
    )
    r = sandbox.run(ExecJob(program, asserts("assert f(LIMIT) == 424242"), entry_point="f"))
    assert r.status is Status.FAILED and r.tests[0].path == "boundary", r
    honest = "LIMIT = 424241\ndef f(x):\n    return x + 1\n"
    assert sandbox.run(ExecJob(honest, asserts("assert f(LIMIT) == 424242"), entry_point="f")).passed


def test_calls_sent_ahead_keep_the_order_and_count_of_calls(sandbox):
    # A stateful program: any reordered, extra or missing call would change the answers.
    program = "n = 0\ndef f(x):\n    global n\n    n += 1\n    return n * 10 + x\n"
    tests = asserts(
        "assert f(1) == 11",
        "assert f(1) == 21",
        "assert 1 == 1 or f(9) == 0",  # short-circuit: f is never called here
        "y = 2\nassert f(y) == 32",  # two statements: runs on its own
        "assert abs(f(3) - 43) < 1e-9",
        "assert f(4) == 54 and f(5) == 65",  # two calls: runs on its own
        "assert f(6) == 76",
    )
    r = sandbox.run(ExecJob(program, tests, entry_point="f", record_calls=True))
    assert r.passed, r.tests
    assert r.boundary_calls == 7 and [len(t.calls) for t in r.tests] == [1, 1, 0, 1, 1, 2, 1]


def test_which_asserts_are_sent_ahead():
    from egca.execution.testside.prefetch import single_call
    from egca.execution.testside.remote import RemoteFunction

    ns = {"__builtins__": __builtins__ if isinstance(__builtins__, dict) else vars(__builtins__)}
    ns["f"] = ns["candidate"] = RemoteFunction(None, "f")
    ns["helper"] = lambda x: x
    ns["math"] = __import__("math")
    ok = [
        "assert f(1) == 2",
        "assert candidate([1, 2], k=3)",
        "assert math.isclose(f(1.5), 2)",
        "assert 3 == f((1,))",
    ]
    no = [
        "assert f(x) == 2",  # not a literal argument
        "assert helper(f(1)) == 2",  # a function of the tests could call the program again
        "assert 0 < 1 < f(1)",  # a later comparator of a chain may not be evaluated
        "assert f(1) == 1 or f(2) == 2",
        "x = 1\nassert f(1) == 2",
        "assert [f(i) for i in (1, 2)] == [2, 3]",
    ]
    assert [single_call(s, ns, RemoteFunction) is not None for s in ok] == [True] * len(ok)
    assert [single_call(s, ns, RemoteFunction) for s in no] == [None] * len(no)
