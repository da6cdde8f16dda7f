"""Plain values: comparisons that objects cannot steer, and the wire format."""

from __future__ import annotations

import collections
import math

from hypothesis import given
from hypothesis import strategies as st

from egca.values import Opaque, from_wire, plain, safe_eq, to_wire, untrusted_type


class AlwaysEqual:
    def __eq__(self, other):
        return True

    __hash__ = object.__hash__


class EvilInt(int):
    def __eq__(self, other):
        return True

    __hash__ = int.__hash__


class EvilList(list):
    def __iter__(self):
        return iter([1, 2, 3])


def test_plain_python_semantics_for_builtins():
    assert safe_eq(1, 1.0) and safe_eq(True, 1)
    assert not safe_eq((1, 2), [1, 2])  # Python: a tuple is not a list
    assert safe_eq({1, 2}, frozenset({2, 1}))
    assert safe_eq({"a": [1, (2, 3)]}, {"a": [1, (2, 3)]})
    assert not safe_eq(float("nan"), float("nan"))


def test_objects_cannot_force_equality():
    assert not safe_eq(AlwaysEqual(), 5)
    assert not safe_eq(5, AlwaysEqual())
    assert not safe_eq([AlwaysEqual()], [1])
    assert safe_eq(EvilInt(3), 3) and not safe_eq(EvilInt(3), 4)


def test_builtin_subclasses_read_through_base_methods():
    assert plain(EvilList([7, 8])) == [7, 8]  # not the patched __iter__
    assert plain(collections.Counter("aab")) == {"a": 2, "b": 1}
    Point = collections.namedtuple("Point", "x y")
    assert plain(Point(1, 2)) == (1, 2) and type(plain(Point(1, 2))) is tuple
    assert type(plain(collections.OrderedDict(a=1))) is dict


def test_opaque_objects_compare_by_type_and_fields():
    class P:
        def __init__(self, x):
            self.x = x

    assert plain(P(1)) == plain(P(1))
    assert plain(P(1)) != plain(P(2))
    assert isinstance(plain(P(1)), Opaque)


def test_numpy_values_become_plain():
    import numpy as np

    assert plain(np.array([1, 2])) == [1, 2]
    assert type(plain(np.float64(1.5))) is float
    assert type(plain(np.int64(3))) is int


def test_untrusted_type_flags_operator_overrides_only():
    assert untrusted_type(AlwaysEqual()) == "AlwaysEqual"
    assert untrusted_type([1, {"a": EvilInt(1)}]) == "EvilInt"
    assert untrusted_type([1, (2.0, "x"), {3}, None]) is None

    class Plain:
        def __init__(self):
            self.v = 1

    assert untrusted_type(Plain()) is None


plain_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text() | st.binary(),
    lambda children: (
        st.lists(children, max_size=4)
        | st.lists(children, max_size=4).map(tuple)
        | st.frozensets(st.integers() | st.text(), max_size=4)
        | st.dictionaries(st.text(max_size=5) | st.integers(), children, max_size=4)
    ),
    max_leaves=20,
)


@given(plain_values)
def test_wire_round_trip(v):
    back = from_wire(to_wire(v))
    assert back == v
    assert type(back) is type(v)


def test_wire_special_floats_and_big_ints():
    for v in (math.inf, -math.inf, 2**80, -(2**70), 1 + 2j, {1, 2}):
        assert from_wire(to_wire(v)) == v
    assert math.isnan(from_wire(to_wire(math.nan)))


def test_values_without_dict_are_distinguished():
    from collections import deque
    from fractions import Fraction

    assert plain(Fraction(1, 2)) != plain(Fraction(1, 3))
    assert plain(Fraction(1, 2)) == plain(Fraction(2, 4))
    assert plain(deque([1, 2])) == plain(deque([1, 2])) and plain(deque([1])) != plain(deque([2]))
    assert plain(deque([1])) != plain([1])


def test_immutable_c_types_keep_their_own_semantics():
    import datetime
    import decimal
    import re

    m = re.match("a", "a")
    assert plain(m) is m and bool(plain(m))
    assert safe_eq(datetime.date(2020, 1, 1), datetime.date(2020, 1, 1))
    assert safe_eq(decimal.Decimal("1.0"), decimal.Decimal("1"))


def test_untrusted_items_inside_a_deque_are_found():
    from collections import deque

    assert untrusted_type(deque([1, AlwaysEqual()])) == "AlwaysEqual"


def test_huge_ints_cross_the_wire():
    big = 7**20000  # more digits than int_max_str_digits allows in str()
    assert from_wire(to_wire(big)) == big
