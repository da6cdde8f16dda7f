"""The smallest building blocks of testbed tasks: element predicates and element maps.

A :class:`Pred` is a condition on one element (an ``int`` of a list, or a one-character ``str``),
with its English phrase, its Python expression and a realistic wrong version of that expression
(the ``wrong_comparison`` bug: ``>`` for ``>=``, a missing vowel, ...). A :class:`Map` turns an
element into another (``x * 3``, ``ch.upper()``) and, when wrong, is simply left out.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal

Domain = Literal["int", "str"]


def _wrap(var: str) -> str:
    """``var`` in parentheses unless it is a name or a subscript (``b - a`` → ``(b - a)``)."""
    simple = var.replace("_", "a").replace("[", "").replace("]", "").replace(" + ", "").replace(" ", "")
    return var if simple.isalnum() else f"({var})"


@dataclass(frozen=True)
class Pred:
    """A condition on one element. ``family`` names the building block (the split is by family);
    ``slug`` is the family plus its parameters, used in function names."""

    family: str
    domain: Domain
    slug: str
    phrase: str  # reads after "that are" / "that is"
    template: str  # Python with {v} for the element
    wrong: str  # the wrong_comparison variant

    def expr(self, var: str, wrong: bool = False) -> str:
        return (self.wrong if wrong else self.template).format(v=_wrap(var))

    def check(self, value: object) -> bool:
        """Evaluate the predicate on a value (used to pick inputs that exercise it)."""
        return bool(eval(self.expr("v"), {}, {"v": value}))  # our own generated expression


@dataclass(frozen=True)
class Map:
    """An element map: ``phrase`` reads after "each" ("each multiplied by 3")."""

    family: str
    domain: Domain
    phrase: str
    template: str

    def expr(self, var: str) -> str:
        return self.template.format(v=_wrap(var))


INT_PREDS = ("even", "odd", "greater", "less", "divisible", "between")
STR_PREDS = ("vowel", "digit", "upper", "equal", "after")
INT_MAPS = ("times", "plus", "square", "negate")
STR_MAPS = ("upper", "star", "double")


def make_pred(family: str, rng: random.Random) -> Pred:
    """The predicate of ``family`` with parameters drawn from ``rng``."""
    if family == "even":
        return Pred(family, "int", "even", "even", "{v} % 2 == 0", "{v} % 2 == 1")
    if family == "odd":
        return Pred(family, "int", "odd", "odd", "{v} % 2 == 1", "{v} % 2 == 0")
    if family == "greater":
        t = rng.randint(-3, 5)
        return Pred(family, "int", f"above_{_n(t)}", f"greater than {t}", f"{{v}} > {t}", f"{{v}} >= {t}")
    if family == "less":
        t = rng.randint(-3, 5)
        return Pred(family, "int", f"below_{_n(t)}", f"less than {t}", f"{{v}} < {t}", f"{{v}} <= {t}")
    if family == "divisible":
        k = rng.choice((3, 4, 5))
        return Pred(
            family, "int", f"multiple_of_{k}", f"divisible by {k}", f"{{v}} % {k} == 0", f"{{v}} // {k} == 0"
        )
    if family == "between":
        lo = rng.randint(-4, 2)
        hi = lo + rng.randint(2, 6)
        return Pred(
            family,
            "int",
            f"in_{_n(lo)}_{_n(hi)}",
            f"between {lo} and {hi} (inclusive)",
            f"{lo} <= {{v}} <= {hi}",
            f"{lo} < {{v}} <= {hi}",
        )
    if family == "vowel":
        return Pred(family, "str", "vowel", "in 'aeiou'", "{v} in 'aeiou'", "{v} in 'aeio'")
    if family == "digit":
        return Pred(family, "str", "digit", "numeric", "{v}.isdigit()", "{v}.isalnum()")
    if family == "upper":
        return Pred(family, "str", "upper", "uppercase", "{v}.isupper()", "{v}.isalpha()")
    if family == "equal":
        c = rng.choice("abex")
        return Pred(family, "str", f"letter_{c}", f"equal to '{c}'", f"{{v}} == '{c}'", f"{{v}} >= '{c}'")
    if family == "after":
        c = rng.choice("dmr")
        return Pred(
            family,
            "str",
            f"after_{c}",
            f"greater than '{c}'",
            f"{{v}} > '{c}'",
            f"{{v}} >= '{c}'",
        )
    raise ValueError(f"unknown predicate family {family!r}")


def make_map(family: str, rng: random.Random) -> Map:
    """The map of ``family`` with parameters drawn from ``rng``."""
    if family == "times":
        k = rng.randint(2, 4)
        return Map(family, "int", f"multiplied by {k}", f"{{v}} * {k}")
    if family == "plus":
        k = rng.randint(1, 5)
        return Map(family, "int", f"increased by {k}", f"{{v}} + {k}")
    if family == "square":
        return Map(family, "int", "squared", "{v} * {v}")
    if family == "negate":
        return Map(family, "int", "negated", "-{v}")
    if family == "upper":
        return Map(family, "str", "converted to upper case", "{v}.upper()")
    if family == "star":
        return Map(family, "str", "replaced by '*'", "'*'")
    if family == "double":
        return Map(family, "str", "doubled", "{v} * 2")
    raise ValueError(f"unknown map family {family!r}")


def preds_of(domain: Domain) -> tuple[str, ...]:
    return INT_PREDS if domain == "int" else STR_PREDS


def maps_of(domain: Domain) -> tuple[str, ...]:
    return INT_MAPS if domain == "int" else STR_MAPS


def _n(x: int) -> str:
    """A number in an identifier: ``-3`` → ``m3``."""
    return f"m{-x}" if x < 0 else str(x)


def random_input(domain: Domain, rng: random.Random, max_len: int = 8) -> list[int] | str:
    """A random list of small ints, or a random short string (letters, digits, spaces)."""
    n = rng.randint(0, max_len)
    if domain == "int":
        return [rng.randint(-9, 12) for _ in range(n)]
    return "".join(rng.choice("aabcdeeimorstuxAEBMZ0179 ") for _ in range(n + 2))
