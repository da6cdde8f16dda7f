"""The earliest semantic divergence between a candidate trace and a reference trace (no LLM).

Input: the candidate's trace of the *buggy frame* (a call whose result is wrong while the calls it
made are right) and the reference's trace on the same arguments. The cascade (docs/method.md, "The localizer"):

1. **Value alignment.** Each candidate variable is mapped to a reference variable: the same name if
   the reference has it, else the one whose value sequence has the longest common subsequence
   (ratio >= ``tau``). Walking the candidate's writes in order, the first write that breaks the
   common prefix of a mapped pair is the divergence. If the written value appears later in the
   reference's sequence (the candidate skipped or repeated a step), control flow is to blame: the
   span is the innermost enclosing ``if``/``while``/``for`` header; otherwise the line computing the
   value is. A write of an unmapped variable on the static slice of the return value that no
   reference ever produced is a divergence too.
2. **Return.** All mapped values agree but the frame returns a wrong value: the return statement
   that ran last.
3. Otherwise: no divergence (the caller falls back to uniform credit).
"""

from __future__ import annotations

import ast
import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

Kind = Literal["value", "control-flow", "call", "return", "crash"]


@dataclass(frozen=True)
class Span:
    """A region of the candidate program: 1-based lines, 0-based character (not byte) columns."""

    start_line: int
    end_line: int
    start_col: int
    end_col: int

    def to_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Divergence:
    """Where the candidate first went wrong, and why we think so."""

    line: int
    span: Span
    kind: Kind
    evidence: dict[str, Any] = field(default_factory=dict)
    event: int = -1  # index of the divergent event in the candidate frame's events


def canon(wire: Any) -> Any:
    """The localizer's canonical form of a wire value: floats to 9 significant digits (so that
    the same value computed in another order matches), -0.0 as 0.0, tuples as lists, sets and
    dict items sorted."""
    if type(wire) is float:
        r = float(f"{wire:.9g}")
        return 0.0 if r == 0 else r
    if type(wire) is list:
        return [canon(x) for x in wire]
    if type(wire) is dict:
        tag, v = wire.get("t"), wire.get("v") or []
        if tag == "tuple":
            return [canon(x) for x in v]
        if tag in ("set", "frozenset"):
            return {"set": sorted((canon(x) for x in v), key=repr)}
        if tag == "dict":
            return {"dict": sorted(([canon(k), canon(x)] for k, x in v), key=repr)}
        return wire
    return wire


def value_key(wire: Any) -> str:
    """A hashable key of a wire value's canonical form."""
    return json.dumps(canon(wire), sort_keys=True)


_key = value_key


def frame_events(events: Sequence[list[Any]], depth: int) -> list[list[Any]]:
    """Events of the frame at ``depth`` from its ``call`` to its ``return`` (the first such frame)."""
    out: list[list[Any]] = []
    inside = False
    for e in events:
        if e[0] == "call" and e[1] == depth and not inside:
            inside = True
        if inside and e[1] == depth:
            out.append(e)
            if e[0] in ("return",):
                break
    return out


def value_sequences(events: Sequence[list[Any]]) -> dict[str, list[str]]:
    """Per variable, the values it took (consecutive duplicates removed), as canonical keys."""
    seqs: dict[str, list[str]] = {}
    for e in events:
        if e[0] == "write":
            for name, value in e[3].items():
                seq = seqs.setdefault(name, [])
                k = _key(value)
                if not seq or seq[-1] != k:
                    seq.append(k)
    return seqs


def _lcs(a: Sequence[str], b: Sequence[str]) -> int:
    if not a or not b:
        return 0
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b):
            cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
        prev = cur
    return prev[-1]


def map_variables(
    cand: dict[str, list[str]],
    ref: dict[str, list[str]],
    tau: float = 0.6,
    cand_kinds: dict[str, str] | None = None,
    ref_kinds: dict[str, str] | None = None,
) -> dict[str, str]:
    """Candidate variable -> reference variable, one to one.

    Same name first; then the pairs with the best LCS ratio of their value sequences (>= ``tau``),
    best pairs first; then the remaining variables in order of their first write, when as many are
    left on both sides and they are first written by the same kind of statement (a renamed
    variable whose values went wrong from the start).
    """
    mapping = {v: v for v in cand if v in ref}
    used = set(mapping.values())
    pairs = []
    for v, seq in cand.items():
        if v in mapping:
            continue
        for w, rseq in ref.items():
            if w not in used:
                pairs.append((_lcs(seq[:200], rseq[:200]) / max(1, len(seq[:200])), v, w))
    for score, v, w in sorted(pairs, key=lambda t: -t[0]):
        if score >= tau and v not in mapping and w not in used:
            mapping[v] = w
            used.add(w)
    rest_c = [v for v in cand if v not in mapping]
    rest_r = [w for w in ref if w not in used]
    if rest_c and len(rest_c) == len(rest_r):
        for v, w in zip(rest_c, rest_r):
            if cand_kinds is None or ref_kinds is None or cand_kinds.get(v) == ref_kinds.get(w):
                mapping[v] = w
    return mapping


def first_write_kinds(events: Sequence[list[Any]], index: ProgramIndex | None) -> dict[str, str]:
    """Variable -> the kind of statement that first wrote it (``Assign``, ``For``, ...)."""
    out: dict[str, str] = {}
    if index is None:
        return out
    for e in events:
        if e[0] == "write":
            stmt = index.statement(e[2])
            kind = (
                "Assign"
                if isinstance(stmt, (ast.Assign, ast.AugAssign, ast.AnnAssign))
                else type(stmt).__name__
            )
            for name in e[3]:
                out.setdefault(name, kind)
    return out


# --------------------------------------------------------------------------------------------------
# Static structure of the candidate


class ProgramIndex:
    """Statements of a program by line, their enclosing control headers, and return-slices."""

    def __init__(self, source: str) -> None:
        self.tree = ast.parse(source)
        self.lines = source.splitlines()
        self.stmt_at: dict[int, ast.stmt] = {}
        self.parent: dict[ast.AST, ast.AST] = {}
        for node in ast.walk(self.tree):
            for child in ast.iter_child_nodes(node):
                self.parent[child] = node
        for node in ast.walk(self.tree):
            if isinstance(node, ast.stmt):
                for line in range(node.lineno, (node.end_lineno or node.lineno) + 1):
                    cur = self.stmt_at.get(line)
                    if cur is None or _size(node) < _size(cur):
                        self.stmt_at[line] = node

    def statement(self, line: int) -> ast.stmt | None:
        return self.stmt_at.get(line)

    def span_of(self, line: int) -> Span | None:
        """The statement at ``line``; for compound statements only the header expression."""
        node = self.statement(line)
        if node is None:
            return None
        return self.header(node)

    def header(self, node: ast.stmt) -> Span:
        """:func:`header_span` with character (not UTF-8 byte) columns."""
        span = header_span(node)
        return Span(
            span.start_line,
            span.end_line,
            self._char_col(span.start_line, span.start_col),
            self._char_col(span.end_line, span.end_col),
        )

    def _char_col(self, line: int, byte_col: int) -> int:
        if not 1 <= line <= len(self.lines):
            return byte_col
        return len(self.lines[line - 1].encode("utf-8")[:byte_col].decode("utf-8", "ignore"))

    def enclosing_control(self, line: int) -> ast.stmt | None:
        """The innermost ``if``/``while``/``for`` whose *body* contains the statement at ``line``."""
        node: ast.AST | None = self.statement(line)
        while node is not None:
            parent = self.parent.get(node)
            if isinstance(parent, (ast.If, ast.While, ast.For, ast.AsyncFor)) and (
                node in parent.body or node in parent.orelse
            ):
                return parent
            if isinstance(parent, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Module)):
                return None
            node = parent
        return None

    def function(self, name: str) -> ast.FunctionDef | None:
        for node in ast.walk(self.tree):
            if isinstance(node, ast.FunctionDef) and node.name == name:
                return node
        return None

    def return_slice(self, name: str) -> set[str]:
        """Names the return values of function ``name`` depend on (static, flow-insensitive)."""
        fn = self.function(name)
        if fn is None:
            return set()
        deps: dict[str, set[str]] = {}
        roots: set[str] = set()
        for node in ast.walk(fn):
            if isinstance(node, ast.Return) and node.value is not None:
                roots |= _names(node.value)
            targets: list[ast.AST] = []
            value: ast.AST | None = None
            if isinstance(node, ast.Assign):
                targets, value = list(node.targets), node.value
            elif isinstance(node, (ast.AugAssign, ast.AnnAssign)) and node.value is not None:
                targets, value = [node.target], node.value
            elif isinstance(node, ast.For):
                targets, value = [node.target], node.iter
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                targets, value = [node.func.value], node
            for t in targets:
                for n in _names(t):
                    deps.setdefault(n, set()).update(_names(value) if value is not None else set())
        seen: set[str] = set()
        todo = list(roots)
        while todo:
            n = todo.pop()
            if n in seen:
                continue
            seen.add(n)
            todo.extend(deps.get(n, ()))
        return seen


def _names(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def _size(node: ast.stmt | ast.expr) -> int:
    return (
        ((node.end_lineno or node.lineno) - node.lineno) * 10_000
        + (node.end_col_offset or 0)
        - node.col_offset
    )


def header_span(node: ast.stmt) -> Span:
    """A statement's span; for ``if``/``while`` the condition, for ``for`` the target and iterable."""
    part: Sequence[ast.stmt | ast.expr]
    if isinstance(node, (ast.If, ast.While)):
        part = [node.test]
    elif isinstance(node, (ast.For, ast.AsyncFor)):
        part = [node.target, node.iter]
    elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return Span(node.lineno, node.lineno, node.col_offset, node.col_offset + len("def "))
    else:
        part = [node]
    first, last = part[0], part[-1]
    return Span(
        first.lineno,
        last.end_lineno or last.lineno,
        first.col_offset,
        last.end_col_offset if last.end_col_offset is not None else first.col_offset,
    )


# --------------------------------------------------------------------------------------------------


def conditions(index: ProgramIndex, function: str) -> list[ast.stmt]:
    """``if``/``while``/``for`` statements of ``function`` in source order."""
    fn = index.function(function)
    if fn is None:
        return []
    nodes = [n for n in ast.walk(fn) if isinstance(n, (ast.If, ast.While, ast.For))]
    return sorted(nodes, key=lambda n: (n.lineno, n.col_offset))


def outcomes(events: Sequence[list[Any]], conds: Sequence[ast.stmt]) -> dict[int, list[tuple[int, bool]]]:
    """Per condition header line: (event index, entered the body?) for each evaluation."""
    bodies = {c.lineno: _body_lines(c) for c in conds}
    lines = [(i, e[2]) for i, e in enumerate(events) if e[0] == "line"]
    out: dict[int, list[tuple[int, bool]]] = {}
    for j, (i, line) in enumerate(lines):
        if line in bodies:
            nxt = lines[j + 1][1] if j + 1 < len(lines) else None
            out.setdefault(line, []).append((i, nxt is not None and nxt in bodies[line]))
    return out


def _body_lines(node: ast.stmt) -> set[int]:
    body = getattr(node, "body", [])
    return {ln for stmt in body for ln in range(stmt.lineno, (stmt.end_lineno or stmt.lineno) + 1)}


def map_conditions(cand: Sequence[ast.stmt], ref: Sequence[ast.stmt]) -> dict[int, int]:
    """Candidate header line -> reference header line.

    Loops (``for`` or ``while``) map to loops and ``if``s to ``if``s, by position when both programs
    have as many of them (so a ``while`` loop is compared with the reference's ``for`` loop: a
    different trip count is a control-flow divergence), else by identical condition text.
    """
    mapping: dict[int, int] = {}
    for group in ((ast.If,), (ast.For, ast.While)):
        cs = [c for c in cand if isinstance(c, group)]
        rs = [r for r in ref if isinstance(r, group)]
        if len(cs) == len(rs):
            mapping.update({c.lineno: r.lineno for c, r in zip(cs, rs)})
            continue
        by_text = {(type(r), _cond_text(r)): r.lineno for r in rs}
        mapping.update(
            {c.lineno: by_text[(type(c), _cond_text(c))] for c in cs if (type(c), _cond_text(c)) in by_text}
        )
    return mapping


def _cond_text(node: ast.stmt) -> str:
    part = node.test if isinstance(node, (ast.If, ast.While)) else getattr(node, "iter", node)
    return ast.unparse(part)


def _writes(events: Sequence[list[Any]]) -> list[tuple[int, int, str, Any]]:
    """(event index, line, name, value) for every write, in order."""
    return [(i, e[2], n, v) for i, e in enumerate(events) if e[0] == "write" for n, v in e[3].items()]


def find_divergence(
    cand_events: Sequence[list[Any]],
    ref_events: Sequence[list[Any]],
    index: ProgramIndex,
    function: str,
    expected_return: Any,
    ref_index: ProgramIndex | None = None,
    ref_function: str | None = None,
    ref_bag: set[str] | None = None,
    tau: float = 0.6,
    found: list[Divergence] | None = None,
) -> Divergence | None:
    """The earliest divergence in the candidate frame (``cand_events``) against the reference frame.

    First pass, in the candidate's event order: a branch whose outcome differs from the mapped
    reference branch at the same evaluation count (control flow), or a write that breaks the common
    prefix of a mapped variable's value sequence, or an unexplained value on the return slice.
    Second pass: the first write whose position-wise value differs from the mapped reference
    variable's (catches a missing final update). Then a wrong return value. ``found`` (if given)
    receives every first-pass divergence in event order: its last one is the *late* divergence of
    the ``late_span`` ablation.
    """
    cand_seqs, ref_seqs = value_sequences(cand_events), value_sequences(ref_events)
    mapping = map_variables(
        cand_seqs,
        ref_seqs,
        tau,
        first_write_kinds(cand_events, index),
        first_write_kinds(ref_events, ref_index),
    )
    bag = ref_bag if ref_bag is not None else {k for seq in ref_seqs.values() for k in seq}
    on_slice = index.return_slice(function)

    first: list[tuple[int, Divergence]] = []
    # Control flow.
    if ref_index is not None:
        c_conds, r_conds = conditions(index, function), conditions(ref_index, ref_function or function)
        cmap = map_conditions(c_conds, r_conds)
        c_out, r_out = outcomes(cand_events, c_conds), outcomes(ref_events, r_conds)
        by_line = {c.lineno: c for c in c_conds}
        for line, evals in c_out.items():
            rline = cmap.get(line)
            if rline is None:
                continue
            r_evals = r_out.get(rline, [])
            for k, (i, taken) in enumerate(evals):
                if k >= len(r_evals) or r_evals[k][1] != taken:
                    expected = r_evals[k][1] if k < len(r_evals) else None
                    first.append(
                        (
                            i,
                            Divergence(
                                line,
                                index.header(by_line[line]),
                                "control-flow",
                                {"evaluation": k, "taken": taken, "expected": expected},
                            ),
                        )
                    )
                    break
    # Values: the common prefix of mapped sequences; unexplained values on the return slice.
    ref_raw: dict[str, list[str]] = {}
    for _, _, rname, rvalue in _writes(ref_events):
        ref_raw.setdefault(rname, []).append(_key(rvalue))
    position: dict[str, list[str]] = {}
    raw_count: dict[str, int] = {}
    diverged: set[str] = set()  # variables whose first divergence is recorded
    for i, line, name, value in _writes(cand_events):
        if name in diverged:
            continue
        vkey = _key(value)
        j = raw_count.get(name, 0)
        raw_count[name] = j + 1
        seq = position.setdefault(name, [])
        if seq and seq[-1] == vkey:
            # A no-op write where the reference's write at the same position changed the value:
            # an update is missing here (e.g. ``x -= 0``, or adding a variable that is still 0).
            rw = ref_raw.get(mapping.get(name, ""), [])
            span = index.span_of(line)
            if 0 < j < len(rw) and rw[j] != rw[j - 1] and span is not None:
                first.append(
                    (i, _value(line, span, name, mapping[name], value, json.loads(rw[j]), "missing update"))
                )
                diverged.add(name)
            continue
        seq.append(vkey)
        ref_name = mapping.get(name)
        span = index.span_of(line)
        if span is None:
            continue
        if ref_name is not None:
            rseq = ref_seqs[ref_name]
            if seq != rseq[: len(seq)]:
                first.append((i, _value(line, span, name, ref_name, value, _expected_at(rseq, len(seq) - 1))))
                diverged.add(name)
        elif name in on_slice and vkey not in bag:
            first.append(
                (i, Divergence(line, span, "value", {"variable": name, "value": value, "expected": None}))
            )
            diverged.add(name)
    if found is not None:
        found.extend(replace(d, event=i) for i, d in sorted(first, key=lambda t: t[0]))
    if first:
        i, d = min(first, key=lambda t: t[0])
        return replace(d, event=i)
    # Second pass: position-wise writes of mapped variables.
    ref_writes: dict[str, list[str]] = {}
    for _, _, name, value in _writes(ref_events):
        ref_writes.setdefault(name, []).append(_key(value))
    counts: dict[str, int] = {}
    for i, line, name, value in _writes(cand_events):
        j = counts.get(name, 0)
        counts[name] = j + 1
        ref_name = mapping.get(name)
        if ref_name is None:
            continue
        rw = ref_writes.get(ref_name, [])
        if j < len(rw) and rw[j] != _key(value):
            span = index.span_of(line)
            if span is not None:
                return Divergence(
                    line,
                    span,
                    "value",
                    {
                        "variable": name,
                        "reference_variable": ref_name,
                        "value": value,
                        "expected": json.loads(rw[j]),
                        "rule": "position",
                    },
                    event=i,
                )
    # Every mapped value agreed: a wrong return value is the return statement's fault.
    ret = next((e for e in reversed(cand_events) if e[0] == "return"), None)
    if ret is not None and _key(ret[4]) != _key(expected_return):
        last_line = next((e[2] for e in reversed(cand_events) if e[0] == "line"), ret[3])
        span = index.span_of(last_line)
        if span is not None:
            return Divergence(
                last_line,
                span,
                "return",
                {"value": ret[4], "expected": expected_return},
                event=len(cand_events) - 1,
            )
    return None


def _value(
    line: int, span: Span, name: str, ref_name: str, value: Any, expected: Any, rule: str | None = None
) -> Divergence:
    """A value divergence of ``name`` (aligned with the reference's ``ref_name``)."""
    evidence = {"variable": name, "reference_variable": ref_name, "value": value, "expected": expected}
    if rule:
        evidence["rule"] = rule
    return Divergence(line, span, "value", evidence)


def _expected_at(rseq: list[str], i: int) -> Any:
    return json.loads(rseq[i]) if i < len(rseq) else None
