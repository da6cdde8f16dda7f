"""Static constraints and the comparability gate (docs/method.md, "Routing"): no LLM, deterministic.

A failing candidate is routed to *constraint* mode (uniform credit) when it breaks a constraint
derived from the reference or is not comparable with it; only comparable candidates are aligned
against a reference. Every rule can be switched off; each verdict carries its reasons.

- ``data_structures``: each "core" kind the reference uses (dict, set, heap, deque, sorting)
  appears in the candidate (list, tuple and str are ignored: nearly every program uses them).
- ``recursion``: direct or mutual self-calls vs loops only. Recorded; fails the check only with
  ``recursion_rule="strict"``.
- ``loop_depth``: the candidate's deepest loop nesting may exceed the reference's by ``slack``.
- ``similarity`` (the gate): cosine similarity of AST node-type profiles (identifiers anonymized,
  constants bucketed), averaged with a control-flow shape similarity (branches, loops, nesting);
  comparable when >= ``threshold``.
"""

from __future__ import annotations

import ast
import math
from collections import Counter
from dataclasses import dataclass, field

CORE_KINDS = ("dict", "set", "heap", "deque", "sorting")


@dataclass(frozen=True)
class ConstraintConfig:
    """Which rules run, and their parameters."""

    data_structures: bool = True
    recursion_rule: str = "record"  # "record" or "strict"
    loop_depth: bool = True
    slack: int = 0
    comparability: bool = True
    threshold: float = 0.5


@dataclass(frozen=True)
class ConstraintVerdict:
    """``ok`` is I_C · I_cmp; ``reasons`` explains every failed rule, ``notes`` what was recorded."""

    ok: bool
    similarity: float
    reasons: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class Profile:
    """What the rules need from one program."""

    kinds: frozenset[str]
    recursive: bool
    loop_depth: int
    node_types: Counter[str]
    shape: tuple[int, int, int]  # branches, loops, max nesting


def _core_kinds(tree: ast.AST) -> set[str]:
    kinds = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Dict, ast.DictComp)):
            kinds.add("dict")
        elif isinstance(node, (ast.Set, ast.SetComp)):
            kinds.add("set")
        elif isinstance(node, ast.Call):
            f = node.func
            name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""
            if name in ("dict", "Counter", "defaultdict", "OrderedDict"):
                kinds.add("dict")
            elif name in ("set", "frozenset"):
                kinds.add("set")
            elif name.startswith("heap") or name in ("nlargest", "nsmallest"):
                kinds.add("heap")
            elif name == "deque":
                kinds.add("deque")
            elif name in ("sorted", "sort"):
                kinds.add("sorting")
    return kinds


def _recursive(tree: ast.Module) -> bool:
    funcs = {n.name: n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
    calls = {
        name: {c.func.id for c in ast.walk(fn) if isinstance(c, ast.Call) and isinstance(c.func, ast.Name)}
        for name, fn in funcs.items()
    }
    for start in funcs:  # a cycle through the call graph of the program's own functions
        seen, todo = set(), list(calls[start] & funcs.keys())
        while todo:
            f = todo.pop()
            if f == start:
                return True
            if f not in seen:
                seen.add(f)
                todo.extend(calls.get(f, set()) & funcs.keys())
    return False


def _depths(node: ast.AST, loops: int = 0, nest: int = 0) -> tuple[int, int]:
    """(max loop nesting, max control nesting) below ``node``."""
    best_loops, best_nest = loops, nest
    for child in ast.iter_child_nodes(node):
        is_loop = isinstance(child, (ast.For, ast.While, ast.comprehension))
        is_ctrl = is_loop or isinstance(child, (ast.If, ast.Try))
        lo, ne = _depths(child, loops + is_loop, nest + is_ctrl)
        best_loops, best_nest = max(best_loops, lo), max(best_nest, ne)
    return best_loops, best_nest


def _node_type(node: ast.AST) -> str:
    if isinstance(node, ast.Constant):
        v = node.value
        bucket = "small" if isinstance(v, (int, float)) and abs(v) <= 2 else type(v).__name__
        return f"Constant:{bucket}"
    return type(node).__name__  # identifiers disappear: Name, arg, Attribute carry no names here


def profile(source: str) -> Profile:
    tree = ast.parse(source)
    loop_depth, nesting = _depths(tree)
    nodes = list(ast.walk(tree))
    branches = sum(isinstance(n, (ast.If, ast.IfExp)) for n in nodes)
    loops = sum(isinstance(n, (ast.For, ast.While, ast.comprehension)) for n in nodes)
    return Profile(
        kinds=frozenset(_core_kinds(tree)),
        recursive=_recursive(tree),
        loop_depth=loop_depth,
        node_types=Counter(_node_type(n) for n in nodes),
        shape=(branches, loops, nesting),
    )


def _cosine(a: Counter[str], b: Counter[str]) -> float:
    dot = sum(a[k] * b[k] for k in a.keys() & b.keys())
    na, nb = math.sqrt(sum(v * v for v in a.values())), math.sqrt(sum(v * v for v in b.values()))
    return dot / (na * nb) if na and nb else 0.0


def _shape_similarity(a: tuple[int, ...], b: tuple[int, ...]) -> float:
    return sum(1 - abs(x - y) / max(x, y, 1) for x, y in zip(a, b)) / len(a)


def similarity(cand: Profile, ref: Profile) -> float:
    """Structural similarity in [0, 1]: node-type profile and control-flow shape, equally weighted."""
    return 0.5 * _cosine(cand.node_types, ref.node_types) + 0.5 * _shape_similarity(cand.shape, ref.shape)


def check(candidate: str, reference: str, config: ConstraintConfig | None = None) -> ConstraintVerdict:
    """The constraint verdict of ``candidate`` against one reference."""
    config = config or ConstraintConfig()
    try:
        c, r = profile(candidate), profile(reference)
    except SyntaxError:
        return ConstraintVerdict(True, 0.0, notes=("not parseable: constraints not checked",))
    reasons: list[str] = []
    notes: list[str] = []
    if config.data_structures:
        missing = sorted(r.kinds - c.kinds)
        if missing:
            reasons.append(f"data structures the reference uses are missing: {', '.join(missing)}")
    if c.recursive != r.recursive:
        text = f"recursion mismatch (candidate {'recursive' if c.recursive else 'iterative'})"
        (reasons if config.recursion_rule == "strict" else notes).append(text)
    if config.loop_depth and c.loop_depth > r.loop_depth + config.slack:
        reasons.append(f"loop nesting {c.loop_depth} exceeds the reference's {r.loop_depth} + {config.slack}")
    sim = similarity(c, r)
    if config.comparability and sim < config.threshold:
        reasons.append(f"not comparable: structural similarity {sim:.2f} < {config.threshold}")
    return ConstraintVerdict(not reasons, sim, tuple(reasons), tuple(notes))
