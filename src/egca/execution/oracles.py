"""Output comparisons for ``call`` tests: EvalPlus' rules, on plain values only.

Definitions (with the task ids that use each) are in ``docs/task-format.md``. Every oracle ends
with EvalPlus' *float rule*: when the exact check fails, a float-like expected value is compared
with ``numpy.allclose(out, exp, rtol=1e-07, atol=tol)`` semantics (``tol = atol``, or 1e-6 when
``atol`` is 0), provided ``type(out) is type(exp)`` and sequence lengths agree.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from egca.values import plain

RTOL = 1e-07


def is_floats(x: Any) -> bool:
    """A float, or a non-empty list/tuple of floats (EvalPlus' ``is_floats`` on plain values)."""
    if type(x) is float:
        return True
    return type(x) in (list, tuple) and len(x) > 0 and all(type(e) is float for e in x)


def _close(out: Any, exp: Any, tol: float) -> bool:
    """``numpy.allclose`` on plain numbers and (nested) sequences of equal shape."""
    if type(out) in (list, tuple) or type(exp) in (list, tuple):
        if type(out) not in (list, tuple) or type(exp) not in (list, tuple) or len(out) != len(exp):
            return False
        return all(_close(o, e, tol) for o, e in zip(out, exp))
    if type(out) not in (int, float, bool) or type(exp) not in (int, float, bool):
        return False
    if math.isinf(out) or math.isinf(exp):
        return bool(out == exp)
    if math.isnan(out) or math.isnan(exp):
        return False
    return abs(out - exp) <= tol + RTOL * abs(exp)


def float_rule(exact: bool, out: Any, exp: Any, atol: float) -> bool:
    """EvalPlus' last step: exact, or close enough for float-like expected values."""
    tol = atol
    if tol == 0 and is_floats(exp):
        tol = 1e-6
    if exact:
        return True
    if tol == 0 or type(out) is not type(exp):
        return False
    if type(exp) in (list, tuple) and len(out) != len(exp):
        return False
    return _close(out, exp, tol)


def _eq(out: Any, exp: Any, args: tuple[Any, ...], atol: float) -> bool:
    return float_rule(out == exp, out, exp, atol)


def _set_eq(out: Any, exp: Any, args: tuple[Any, ...], atol: float) -> bool:
    return float_rule(set(out) == set(exp), out, exp, atol)


def _find_zero(out: Any, exp: Any, args: tuple[Any, ...], atol: float) -> bool:
    coeffs = plain(args[0])
    return abs(sum(c * math.pow(out, i) for i, c in enumerate(coeffs))) <= atol


def _not_none(out: Any, exp: Any, args: tuple[Any, ...], atol: float) -> bool:
    exact = out == exp if type(out) is bool else exp == (out is not None)
    return float_rule(exact, out, exp, atol)


def _no_error(out: Any, exp: Any, args: tuple[Any, ...], atol: float) -> bool:
    return True


def _eq_or_zero(out: Any, exp: Any, args: tuple[Any, ...], atol: float) -> bool:
    return float_rule(out == exp or out == 0, out, exp, atol)


def _surface_area(out: Any, exp: Any, args: tuple[Any, ...], atol: float) -> bool:
    b, h = plain(args[0]), plain(args[1])
    s = round(b**2 + 4 * (b * math.sqrt((b / 2) ** 2 + h**2)) / 2)
    return float_rule(out == exp or abs(out - s) <= atol, out, exp, atol)


def _digit_distance(out: Any, exp: Any, args: tuple[Any, ...], atol: float) -> bool:
    a, b = str(plain(args[0])), str(plain(args[1]))
    width = max(len(a), len(b))
    d = sum(abs(int(x) - int(y)) for x, y in zip(a.zfill(width), b.zfill(width)))
    return float_rule(out in (exp, d), out, exp, atol)


ORACLES: dict[str, Callable[[Any, Any, tuple[Any, ...], float], bool]] = {
    "eq": _eq,
    "set_eq": _set_eq,
    "find_zero": _find_zero,
    "not_none": _not_none,
    "no_error": _no_error,
    "eq_or_zero": _eq_or_zero,
    "surface_area": _surface_area,
    "digit_distance": _digit_distance,
}


def captured_output(oracle: str, result: Any) -> Any:
    """What to record as the expected value when running the reference."""
    if oracle == "not_none":
        return result is not None
    return plain(result)


def check(oracle: str, out: Any, exp: Any, args: tuple[Any, ...], atol: float) -> bool:
    """Whether ``out`` (the candidate's result) is right; any exception while comparing fails."""
    fn = ORACLES.get(oracle)
    if fn is None:
        raise ValueError(f"unknown oracle {oracle!r}")
    try:
        return bool(fn(plain(out), exp, args, atol))
    except Exception:
        return False
