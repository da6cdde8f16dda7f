"""EvalPlus output comparisons (docs/task-format.md)."""

from __future__ import annotations

import math

from egca.execution.oracles import captured_output, check, float_rule, is_floats


def test_float_rule():
    assert is_floats(1.0) and is_floats([1.0, 2.0]) and not is_floats([1, 2.0]) and not is_floats([])
    assert float_rule(False, 0.3000001, 0.3, 0)  # atol 0 and float expected: tol 1e-6
    assert not float_rule(False, 0.31, 0.3, 0)
    assert not float_rule(False, 1, 1.0000001, 0)  # type(out) is not type(exp)
    assert float_rule(False, [1.0, 2.0000001], [1.0, 2.0], 0)
    assert not float_rule(False, [1.0], [1.0, 2.0], 0)
    assert not float_rule(False, "a", "b", 0)
    assert float_rule(False, 10.05, 10.0, 0.1)  # explicit atol
    assert not float_rule(False, math.nan, math.nan, 0)  # allclose: NaN is never close


def test_eq_and_set_eq():
    assert check("eq", [1, 2], [1, 2], (), 0) and not check("eq", (1, 2), [1, 2], (), 0)
    assert check("set_eq", [2, 1, 2], [1, 2], (), 0)
    assert not check("set_eq", [[1]], [[1]], (), 0)  # unhashable: the comparison raises, the test fails


def test_find_zero():
    assert check("find_zero", 1.0, None, ([-1, 1],), 1e-4)  # x - 1 = 0 at 1.0
    assert not check("find_zero", 2.0, None, ([-1, 1],), 1e-4)


def test_not_none():
    import re

    assert captured_output("not_none", re.match("a", "a")) is True
    assert captured_output("not_none", None) is False
    assert check("not_none", re.match("a", "a"), True, (), 0)
    assert check("not_none", True, True, (), 0) and not check("not_none", None, True, (), 0)


def test_special_mbpp_oracles():
    assert check("no_error", "anything", 1, (), 0)
    assert check("eq_or_zero", 0, 5, (), 0) and not check("eq_or_zero", 1, 5, (), 0)
    assert check("digit_distance", 7, 999, (123, 256), 0)  # |1-2| + |2-5| + |3-6| = 7
    b, h = 3, 4
    s = round(b**2 + 4 * (b * math.sqrt((b / 2) ** 2 + h**2)) / 2)
    assert check("surface_area", s, 0, (b, h), 0)


def test_unknown_oracle_is_an_error():
    import pytest

    with pytest.raises(ValueError):
        check("nope", 1, 1, (), 0)
