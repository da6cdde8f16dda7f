"""Sandbox verdicts: every status has its own cause, and every test gets an explicit record."""

from __future__ import annotations

from egca.execution import ExecJob, Limits, Status
from egca.tasks.task import MISSING, TestCase
from tests.conftest import asserts, job

ADD = "def f(a, b):\n    return a + b\n"


def test_pass_and_fail_are_per_test(sandbox):
    r = sandbox.run(job(ADD, "assert f(1, 2) == 3", "assert f(2, 2) == 5", "assert candidate(0, 0) == 0"))
    assert r.status is Status.FAILED
    assert [t.status for t in r.tests] == [Status.PASSED, Status.FAILED, Status.PASSED]
    assert "left = 4, right = 5" in r.tests[1].message
    assert r.first_failing_test.index == 1
    assert r.n_passed == 2 and abs(r.fraction_passed - 2 / 3) < 1e-9


def test_all_pass(sandbox):
    r = sandbox.run(job(ADD, "assert f(1, 2) == 3", "assert f('a', 'b') == 'ab'"))
    assert r.passed and r.status is Status.PASSED


def test_syntax_error_has_line_and_column(sandbox):
    r = sandbox.run(job("x = 1\ndef f(a, b)\n    return a\n", "assert f(1, 2) == 1"))
    assert r.status is Status.SYNTAX_ERROR
    assert r.error.line == 2 and r.error.col is not None
    assert all(t.status is Status.SKIPPED for t in r.tests)


def test_runtime_error_reports_candidate_line(sandbox):
    prog = "def f(a, b):\n    c = a\n    return c / b\n"
    r = sandbox.run(job(prog, "assert f(1, 1) == 1", "assert f(1, 0) == 0"))
    assert r.status is Status.ERROR
    assert [t.status for t in r.tests] == [Status.PASSED, Status.ERROR]
    err = r.tests[1].error
    assert err.type == "ZeroDivisionError" and err.line == 3 and err.in_candidate
    assert (err.col, err.end_col) == (11, 16)  # the expression `c / b`


def test_error_in_test_code_is_a_wrong_answer(sandbox):
    r = sandbox.run(job("def f(x):\n    return None\n", "assert abs(f(1) - 2) < 1e-6"))
    assert r.status is Status.FAILED
    assert "TypeError" in r.tests[0].message and not r.tests[0].error.in_candidate


def test_load_error_and_missing_entry_point(sandbox):
    r = sandbox.run(job("raise ValueError('boom')\n", "assert f(1) == 1"))
    assert r.status is Status.ERROR and r.error.line == 1 and r.error.type == "ValueError"
    r = sandbox.run(job("def g(x):\n    return x\n", "assert f(1) == 1"))
    assert r.status is Status.ERROR and "entry point" in r.error.message


def test_timeout_is_per_test_and_later_tests_are_skipped(sandbox):
    prog = "def f(x):\n    while x:\n        pass\n    return 0\n"
    r = sandbox.run(job(prog, "assert f(0) == 0", "assert f(1) == 0", "assert f(0) == 0"))
    assert r.status is Status.TIMEOUT
    assert [t.status for t in r.tests] == [Status.PASSED, Status.TIMEOUT, Status.SKIPPED]
    assert r.duration_s < 5


def test_memory(sandbox):
    r = sandbox.run(job("def f(x):\n    return len(' ' * (8 * 10**9))\n", "assert f(1) == 1"))
    assert r.status is Status.MEMORY


def test_crash_by_signal(sandbox):
    prog = "import os, signal\ndef f(x):\n    os.abort()\n"
    r = sandbox.run(job(prog, "assert f(1) == 1"))
    assert r.status is Status.CRASHED and "SIGABRT" in r.error.message


def test_recursion_error_is_an_error_with_line(sandbox):
    r = sandbox.run(job("def f(x):\n    return f(x + 1)\n", "assert f(1) == 1"))
    assert r.status is Status.ERROR and r.error.type == "RecursionError" and r.error.line == 2


def test_fail_fast_skips_the_rest(sandbox):
    r = sandbox.run(job(ADD, "assert f(1, 1) == 3", "assert f(1, 1) == 2", fail_fast=True))
    assert [t.status for t in r.tests] == [Status.FAILED, Status.SKIPPED]


def test_call_tests_capture_and_compare(sandbox):
    tests = (TestCase(0, kind="call", args=(1, 2)), TestCase(1, kind="call", args=([1], [2])))
    r = sandbox.run(ExecJob(ADD, tests, entry_point="f", capture=True))
    assert r.passed and [t.output for t in r.tests] == [3, [1, 2]]
    tests = (
        TestCase(0, kind="call", args=(0.1, 0.2), expected=0.3),
        TestCase(1, kind="call", args=(1, 2), expected=4),
        TestCase(2, kind="call", args=(1, 2), expected=MISSING),
    )
    r = sandbox.run(ExecJob(ADD, tests, entry_point="f"))
    assert [t.status for t in r.tests] == [Status.PASSED, Status.FAILED, Status.FAILED]


def test_call_tests_deep_copy_arguments(sandbox):
    prog = "def f(xs):\n    xs.append(1)\n    return len(xs)\n"
    arg = ([],)
    tests = (TestCase(0, kind="call", args=arg, expected=1), TestCase(1, kind="call", args=arg, expected=1))
    assert sandbox.run(ExecJob(prog, tests, entry_point="f")).passed


def test_oracles(sandbox):
    prog = "def f(xs):\n    return list(reversed(xs))\n"
    tests = (TestCase(0, kind="call", args=([1, 2, 3],), expected=[3, 2, 1]),)
    assert sandbox.run(ExecJob(prog, tests, entry_point="f", oracle="set_eq")).passed
    tests = (TestCase(0, kind="call", args=([1, 2, 3],), expected=[1, 2, 3]),)
    assert sandbox.run(ExecJob(prog, tests, entry_point="f", oracle="set_eq")).passed
    assert not sandbox.run(ExecJob(prog, tests, entry_point="f", oracle="eq")).passed
    root = "def f(xs):\n    return 1.0\n"  # x - 1 has its zero at 1.0
    tests = (TestCase(0, kind="call", args=([-1, 1],), expected=0.5, atol=1e-6),)
    assert sandbox.run(ExecJob(root, tests, entry_point="f", oracle="find_zero")).passed


def test_humaneval_style_prelude_and_setup(sandbox):
    prelude = "import math\nMETADATA = {}\ndef helper(x):\n    return x * 2\n"
    r = sandbox.run(
        ExecJob(
            "def f(x):\n    return SETUP + x\n",
            asserts("y = helper(1)\nassert candidate(y) == 12", "assert math.isclose(f(0), 10)"),
            entry_point="f",
            test_prelude=prelude,
            setup="SETUP = 10\n",
        )
    )
    assert r.passed, r


def test_stdout_is_captured_and_capped(sandbox):
    prog = "print('hello')\ndef f(x):\n    print('x' * 100000)\n    return x\n"
    r = sandbox.run(
        ExecJob(prog, asserts("assert f(1) == 1"), entry_point="f", limits=Limits(output_bytes=1000))
    )
    assert r.passed and r.stdout.startswith("hello") and "characters dropped" in r.stdout
    assert len(r.stdout) < 1100


def test_many_jobs_keep_order(sandbox):
    jobs = [job(f"def f(x):\n    return x + {i}\n", f"assert f(0) == {i}") for i in range(40)]
    results = sandbox.run_many(jobs)
    assert all(r.passed for r in results)
    wrong = sandbox.run_many([job("def f(x):\n    return 0\n", f"assert f(0) == {i}") for i in range(6)])
    assert [r.passed for r in wrong] == [True, False, False, False, False, False]


def test_to_dict_is_json_ready(sandbox):
    import json

    r = sandbox.run(job(ADD, "assert f(1, 2) == 3"))
    d = json.loads(json.dumps(r.to_dict()))
    assert d["status"] == "passed" and d["tests"][0]["status"] == "passed"


def test_record_calls_snapshots_arguments_before_the_call(sandbox):
    prog = "def f(xs, k=1):\n    xs.append(k)\n    return sum(xs)\n"
    tests = asserts("a = [1]\nassert f(a) == 2\nassert f(a, k=3) == 5", "assert f([]) == 0")
    r = sandbox.run(ExecJob(prog, tests, entry_point="f", record_calls=True))
    first, second = r.tests
    assert [c.args for c in first.calls] == [([1],), ([1, 1],)]  # as passed, not as mutated
    assert [c.kwargs for c in first.calls] == [{}, {"k": 3}]
    assert [c.result for c in first.calls] == [2, 5]
    assert second.status is Status.FAILED and second.calls[0].result == 1
    boom = sandbox.run(
        ExecJob(
            "def f(x):\n    return 1 / x\n", asserts("assert f(0) == 1"), entry_point="f", record_calls=True
        )
    )
    assert boom.tests[0].calls[0].raised == "ZeroDivisionError"
    plain = sandbox.run(ExecJob(prog, tests, entry_point="f"))
    assert plain.tests[0].calls == ()


def test_coverage_lists_the_executed_program_lines(sandbox):
    prog = "def f(x):\n    if x > 0:\n        return 1\n    return 2\n"
    r = sandbox.run(ExecJob(prog, asserts("assert f(1) == 1"), entry_point="f", coverage=True))
    assert r.passed and r.covered == (2, 3)
    assert sandbox.run(ExecJob(prog, asserts("assert f(1) == 1"), entry_point="f")).covered is None


def test_recorded_calls_of_huge_arguments_are_summarised(sandbox):
    prog = "def f(xs):\n    return len(xs)\n"
    r = sandbox.run(
        ExecJob(prog, asserts("assert f(list(range(200000))) == 1"), entry_point="f", record_calls=True)
    )
    assert r.status is Status.FAILED  # not a flooded/tampered channel
    (call,) = r.tests[0].calls
    assert call.result == 200000 and "200000 items" in repr(call.args[0])
