"""Program skeletons of the testbed: each template is a task shape (count, first index, longest run,
...) with several correct styles and, written into them, the bug variants real models make.

Template source is Python (the function body, unindented) with markers:

- ``$items``, ``$x``: the parameter (``nums`` / ``text``) and the element name (``x`` / ``ch``);
- ``P{expr}``: the predicate applied to ``expr`` (variant ``wrong_comparison``: its wrong version);
- ``F{expr}``: the map applied to ``expr`` (variant ``wrong_variable.map``: ``expr`` unmapped);
- ``<<kind:right|wrong>>``: inline alternative, ``wrong`` in variant ``kind``;
- a line starting ``@<kind|`` / ``@>kind|``: dedented / indented by one level in variant ``kind``
  (a misplaced statement);
- a line starting ``@-kind|``: left out in variant ``kind`` (a missing edge case).

A variant's bug kind is its name up to the first dot (``wrong_variable.map`` → ``wrong_variable``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from egca.testbed.blocks import Domain, Map, Pred

BUG_KINDS = (
    "off_by_one",
    "wrong_comparison",
    "wrong_init",
    "wrong_variable",
    "missing_edge_case",
    "misplaced_statement",
    "wrong_return",
)

_ALT = re.compile(r"<<([\w.]+):(.*?)\|(.*?)>>")
_LINE = re.compile(r"^@([<>-])([\w.]+)\|")
_CALL = re.compile(r"([PF])\{(.*?)\}")


@dataclass(frozen=True)
class Template:
    """A task shape. ``styles``: correct bodies (the first is the reference's); ``spec``: the
    docstring's first sentence with ``{P}``, ``{F}``, ``{items}``, ``{element}``, ``{elements}``."""

    name: str
    domains: tuple[Domain, ...]
    spec: str
    styles: tuple[str, ...]
    uses_map: bool = False
    returns: str = "int"  # the annotation (str domain: "str" is substituted for "list")

    def verb(self) -> str:
        return self.name


def variants(source: str) -> list[str]:
    """The bug variants a template body offers, line by line (on a line: line markers, alternatives, P and F)."""
    found: list[str] = []
    for line in source.splitlines():
        m = _LINE.match(line)
        if m:
            found.append(m.group(2))
        found.extend(k for k, _, _ in _ALT.findall(line))
        for kind, _ in _CALL.findall(line):
            found.append("wrong_comparison" if kind == "P" else "wrong_variable.map")
    return list(dict.fromkeys(found))


def render(source: str, domain: Domain, pred: Pred, fmap: Map | None, variant: str | None = None) -> str:
    """The function body (indented by four spaces) of ``source`` for ``variant`` (None: correct)."""
    names = {"$items": "nums" if domain == "int" else "text", "$x": "x" if domain == "int" else "ch"}
    out: list[str] = []
    for line in source.splitlines():
        m = _LINE.match(line)
        if m:
            line = line[m.end() :]
            if m.group(2) == variant:
                if m.group(1) == "-":
                    continue
                line = line[4:] if m.group(1) == "<" else "    " + line
        line = _ALT.sub(lambda a: a.group(3) if a.group(1) == variant else a.group(2), line)
        for key, value in names.items():
            line = line.replace(key, value)
        line = _CALL.sub(lambda c: _call(c.group(1), c.group(2), pred, fmap, variant), line)
        out.append(("    " + line) if line.strip() else "")
    return "\n".join(out).rstrip() + "\n"


def _call(kind: str, arg: str, pred: Pred, fmap: Map | None, variant: str | None) -> str:
    if kind == "P":
        return pred.expr(arg, wrong=variant == "wrong_comparison")
    if fmap is None:
        raise ValueError("template uses F{...} but no map was given")
    return arg if variant == "wrong_variable.map" else fmap.expr(arg)


TEMPLATES: tuple[Template, ...] = (
    Template(
        "count",
        ("int", "str"),
        "Return how many {elements} in {items} are {P}.",
        (
            "count = <<wrong_init:0|1>>\n"
            "for $x in $items:\n"
            "    if P{$x}:\n"
            "        count += 1\n"
            "@>misplaced_statement|return <<wrong_return:count|len($items)>>\n",
            "count = 0\n"
            "for i in range(<<off_by_one:len($items)|len($items) - 1>>):\n"
            "    if <<wrong_variable:P{$items[i]}|P{i}>>:\n"
            "        count += 1\n"
            "return count\n",
            "return sum(1 for $x in $items if P{$x})\n",
        ),
    ),
    Template(
        "first_index",
        ("int", "str"),
        "Return the index of the first {element} in {items} that is {P}, or -1 if there is none.",
        (
            "for i in range(<<off_by_one:len($items)|1, len($items)>>):\n"
            "    if P{$items[i]}:\n"
            "        return <<wrong_return:i|$items[i]>>\n"
            "@-missing_edge_case|return -1\n",
            "for i, $x in enumerate($items):\n    if P{$x}:\n        return <<off_by_one:i|i + 1>>\nreturn -1\n",
            "i = 0\n"
            "while i < len($items):\n"
            "    if P{$items[i]}:\n"
            "        return i\n"
            "    i += 1\n"
            "return <<wrong_return:-1|i>>\n",
        ),
    ),
    Template(
        "longest_run",
        ("int", "str"),
        "Return the length of the longest run of consecutive {elements} in {items} that are {P}.",
        (
            "best = 0\n"
            "current = <<wrong_init:0|1>>\n"
            "for $x in $items:\n"
            "    if P{$x}:\n"
            "        current += 1\n"
            "    else:\n"
            "        current = 0\n"
            "@<misplaced_statement|    best = max(best, current)\n"
            "return <<wrong_return:best|current>>\n",
            "best = 0\n"
            "current = 0\n"
            "for $x in $items:\n"
            "    if not P{$x}:\n"
            "        current = 0\n"
            "        continue\n"
            "    current += 1\n"
            "    if current <<wrong_comparison.best:>|<>> best:\n"
            "        best = current\n"
            "return best\n",
        ),
    ),
    Template(
        "count_each",
        ("str",),
        "Return a dictionary mapping each character of text that is {P} to the number of times it occurs.",
        (
            "counts = {}\n"
            "for ch in text:\n"
            "    if P{ch}:\n"
            "        counts[ch] = counts.get(ch, <<wrong_init:0|1>>) + 1\n"
            "return counts\n",
            "counts = {}\n"
            "for ch in text:\n"
            "    if not P{ch}:\n"
            "        continue\n"
            "    if ch in counts:\n"
            "        counts[ch] += 1\n"
            "    else:\n"
            "        counts[ch] = <<wrong_init:1|0>>\n"
            "return counts\n",
        ),
        returns="dict",
    ),
    Template(
        "sum",
        ("int",),
        "Return the sum of the numbers in nums that are {P}, each {F} first.",
        (
            "total = <<wrong_init:0|1>>\n"
            "for x in nums:\n"
            "    if P{x}:\n"
            "        total += F{x}\n"
            "@>misplaced_statement|return total\n",
            "total = 0\n"
            "i = <<off_by_one:0|1>>\n"
            "while i < len(nums):\n"
            "    if P{nums[i]}:\n"
            "        total += F{nums[i]}\n"
            "    i += 1\n"
            "return total\n",
            "return sum(F{x} for x in nums if P{x})\n",
        ),
        uses_map=True,
    ),
    Template(
        "select",
        ("int",),
        "Return a list of the numbers in nums that are {P}, each {F}, in their original order.",
        (
            "result = []\n"
            "for x in nums:\n"
            "    if P{x}:\n"
            "        result.append(F{x})\n"
            "@>misplaced_statement|return <<wrong_return:result|nums>>\n",
            "return [F{x} for x in nums if P{x}]\n",
            "result = []\n"
            "for i in range(<<off_by_one:len(nums)|1, len(nums)>>):\n"
            "    if P{nums[i]}:\n"
            "        result.append(F{nums[i]})\n"
            "return result\n",
        ),
        uses_map=True,
        returns="list",
    ),
    Template(
        "largest",
        ("int",),
        "Return the largest number in nums that is {P}, or -1 if there is none.",
        (
            "best = None\n"
            "for x in nums:\n"
            "    if P{x} and (best is None or x <<wrong_comparison.best:>|<>> best):\n"
            "        best = x\n"
            "@-missing_edge_case|if best is None:\n"
            "@-missing_edge_case|    return -1\n"
            "return best\n",
            "found = [x for x in nums if P{x}]\n"
            "if not found:\n"
            "    return <<wrong_return:-1|0>>\n"
            "return <<wrong_variable:max(found)|max(nums)>>\n",
        ),
    ),
    Template(
        "count_steps",
        ("int",),
        "Return how many adjacent pairs nums[i], nums[i + 1] have a difference nums[i + 1] - nums[i] that is {P}.",
        (
            "count = 0\n"
            "for i in range(<<off_by_one:len(nums) - 1|1, len(nums) - 1>>):\n"
            "    diff = <<wrong_variable:nums[i + 1] - nums[i]|nums[i] - nums[i + 1]>>\n"
            "    if P{diff}:\n"
            "        count += 1\n"
            "return <<wrong_return:count|diff>>\n",
            "count = <<wrong_init:0|1>>\nfor a, b in zip(nums, nums[1:]):\n    if P{b - a}:\n        count += 1\nreturn count\n",
        ),
    ),
    Template(
        "sum_even_positions",
        ("int",),
        "Return the sum over the numbers at even positions (0, 2, 4, ...) of nums, where a number that is {P} "
        "counts as itself {F} and any other number counts 0.",
        (
            "def score(x):\n"
            "    if P{x}:\n"
            "        return F{x}\n"
            "    return <<wrong_return:0|x>>\n"
            "\n"
            "total = 0\n"
            "for i in range(<<off_by_one:0|1>>, len(nums), 2):\n"
            "    total += score(nums[i])\n"
            "return total\n",
            "def score(x):\n"
            "    return F{x} if P{x} else 0\n"
            "\n"
            "return sum(score(x) for x in nums[<<off_by_one:::2|1::2>>])\n",
        ),
        uses_map=True,
    ),
    Template(
        "replace",
        ("str",),
        "Return text with every character that is {P} {F}; the other characters stay as they are.",
        (
            "result = ''\n"
            "for ch in text:\n"
            "    if P{ch}:\n"
            "        result += F{ch}\n"
            "    else:\n"
            "        result += <<missing_edge_case:ch|''>>\n"
            "return result\n",
            "return ''.join(F{ch} if P{ch} else ch for ch in text)\n",
            "parts = []\n"
            "for ch in text:\n"
            "    parts.append(F{ch} if P{ch} else ch)\n"
            "return <<wrong_return:''.join(parts)|text>>\n",
        ),
        uses_map=True,
        returns="str",
    ),
)

TEMPLATE_NAMES = tuple(t.name for t in TEMPLATES)


def get_template(name: str) -> Template:
    for t in TEMPLATES:
        if t.name == name:
            return t
    raise ValueError(f"unknown testbed template {name!r} (known: {', '.join(TEMPLATE_NAMES)})")
