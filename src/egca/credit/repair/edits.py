"""Single-site expression edits of a program: the repair search's mutation operators.

Every edit replaces one expression node of a function body with another expression, spliced into
the program text at the node's position (the rest of the text, comments included, is kept), so
the edit's span is exactly the edited sub-expression. ``prior`` orders the search (how often an
edit of this kind is a real bug's fix); statement-level edits are in :mod:`.statements`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass

Region = tuple[int, int, int, int]  # (line, end_line, byte col, end byte col), 1-based lines


@dataclass(frozen=True)
class Edit:
    """One candidate repair: the variant program and where (and what) it changed."""

    kind: str
    region: Region  # the edited text of the original program (byte columns)
    line: int  # the line the edit's fix is credited to (the edited node's first line)
    replacement: str
    prior: float
    source: str = ""  # the variant program (filled by :func:`apply`)


_CMP = {
    ast.Lt: (ast.LtE, ast.Gt, ast.GtE, ast.NotEq, ast.Eq),
    ast.LtE: (ast.Lt, ast.GtE, ast.Gt, ast.Eq, ast.NotEq),
    ast.Gt: (ast.GtE, ast.Lt, ast.LtE, ast.NotEq, ast.Eq),
    ast.GtE: (ast.Gt, ast.LtE, ast.Lt, ast.Eq, ast.NotEq),
    ast.Eq: (ast.NotEq, ast.LtE, ast.GtE, ast.Lt, ast.Gt),
    ast.NotEq: (ast.Eq, ast.Lt, ast.Gt),
    ast.In: (ast.NotIn,),
    ast.NotIn: (ast.In,),
    ast.Is: (ast.IsNot, ast.Eq),
    ast.IsNot: (ast.Is, ast.NotEq),
}
_BIN = {
    ast.Add: (ast.Sub, ast.Mult),
    ast.Sub: (ast.Add, ast.Mult, ast.Div),
    ast.Mult: (ast.Add, ast.Div, ast.FloorDiv, ast.Pow),
    ast.Div: (ast.FloorDiv, ast.Mult),
    ast.FloorDiv: (ast.Div, ast.Mod),
    ast.Mod: (ast.FloorDiv,),
    ast.Pow: (ast.Mult,),
}
_ORDERED = (ast.Sub, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow)
# method families: a wrong method of the right family is a common slip
_METHODS: list[tuple[str, ...]] = [
    ("lower", "upper", "casefold", "title", "capitalize", "swapcase"),
    ("find", "index", "rfind", "rindex", "count"),
    ("append", "extend"),
    ("split", "rsplit"),
    ("strip", "lstrip", "rstrip"),
    ("startswith", "endswith"),
    ("isdigit", "isalpha", "isalnum", "isnumeric", "isspace", "isupper", "islower"),
    ("keys", "values", "items"),
    ("remove", "discard"),
    ("sort",),
]
_FUNCS: list[tuple[str, ...]] = [
    ("min", "max"),
    ("any", "all"),
    ("sorted", "reversed"),
    ("int", "round"),
    ("sum", "len"),
]
_ORDER_FREE = ("len", "sum", "min", "max", "set", "sorted", "abs", "int", "str", "float", "any", "all")
_UNWRAP = ("abs", "sorted", "reversed", "list", "set", "int", "str", "round")


def _family(name: str, families: list[tuple[str, ...]]) -> tuple[str, ...]:
    for fam in families:
        if name in fam:
            return tuple(n for n in fam if n != name)
    return ()


def _u(node: ast.AST) -> str:
    return ast.unparse(node)


def _p(node: ast.AST) -> str:
    """Source of ``node`` safe to embed in a larger expression."""
    text = _u(node)
    return (
        text
        if isinstance(node, (ast.Name, ast.Constant, ast.Call, ast.Subscript, ast.Attribute))
        else f"({text})"
    )


class _Scope:
    """Local names of one function (parameters and assignment targets) and its subscripts."""

    def __init__(self, fn: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        a = fn.args
        self.params = [x.arg for x in (*a.posonlyargs, *a.args, *a.kwonlyargs)]
        names = list(self.params)
        self.indexed: dict[str, set[str]] = {}  # index name -> sequences subscripted by it
        for node in ast.walk(fn):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store) and node.id not in names:
                names.append(node.id)
            if (
                isinstance(node, ast.Subscript)
                and isinstance(node.slice, ast.Name)
                and isinstance(node.value, ast.Name)
            ):
                self.indexed.setdefault(node.slice.id, set()).add(node.value.id)
        self.names = names
        self.compares = [_u(n) for n in ast.walk(fn) if isinstance(n, ast.Compare)][:4]
        loads = sorted(
            (n for n in ast.walk(fn) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)),
            key=lambda n: (n.lineno, n.col_offset),
        )
        firsts: dict[str, ast.Name] = {}
        for n in loads:
            if n.id in self.params:
                firsts.setdefault(n.id, n)
        self.first_use = {id(n) for n in firsts.values()}  # a parameter's first read
        self.strings = sorted(
            {
                n.value
                for n in ast.walk(fn)
                if isinstance(n, ast.Constant) and type(n.value) is str and len(n.value) < 20
            }
        )[:6]
        # constants of a literal-only assignment (``a, b = 0, 1``): changing one compensates more
        # often than it fixes, so these edits rank below others
        self.init_constants = {
            id(c)
            for n in ast.walk(fn)
            if isinstance(n, ast.Assign)
            for c in ast.walk(n.value)
            if isinstance(c, ast.Constant)
            and all(
                isinstance(x, (ast.Constant, ast.Tuple, ast.List, ast.UnaryOp, ast.USub, ast.expr_context))
                for x in ast.walk(n.value)
            )
        }


def _numeric_context(node: ast.expr, parent: ast.AST | None) -> float:
    """How likely an off-by-one at ``node`` is (0: not a numeric position)."""
    if isinstance(parent, ast.Call) and isinstance(parent.func, ast.Name) and parent.func.id == "range":
        return 1.0
    if isinstance(parent, ast.Slice) or (isinstance(parent, ast.Subscript) and parent.slice is node):
        return 0.9
    if isinstance(parent, ast.Compare):
        return 0.6
    if isinstance(parent, (ast.Return, ast.BinOp)):
        return 0.4
    return 0.0


def expression_edits(fn: ast.FunctionDef | ast.AsyncFunctionDef, scope: _Scope) -> Iterator[Edit]:
    """Every expression edit inside ``fn``'s body (not nested functions' bodies twice)."""
    parents: dict[ast.AST, ast.AST] = {}
    for node in ast.walk(fn):
        for child in ast.iter_child_nodes(node):
            parents[child] = node
    for stmt in fn.body:
        for node in walk_own(stmt):
            if isinstance(node, ast.expr) and not _in_fstring(node, parents):
                parent = parents.get(node)
                for kind, text, prior in _alternatives(node, parent, scope):
                    yield Edit(kind, _region(node), node.lineno, text, prior)


def walk_own(node: ast.AST) -> Iterator[ast.AST]:
    """``ast.walk`` without descending into nested function or class definitions."""
    todo = [node]
    while todo:
        cur = todo.pop(0)
        yield cur
        for child in ast.iter_child_nodes(cur):
            if not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                todo.append(child)


def _in_fstring(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    cur: ast.AST | None = parents.get(node)
    while cur is not None:
        if isinstance(cur, ast.JoinedStr):
            return True
        cur = parents.get(cur)
    return False


def _region(node: ast.AST) -> Region:
    return (node.lineno, node.end_lineno or node.lineno, node.col_offset, node.end_col_offset or 0)  # type: ignore[attr-defined]


def _alternatives(node: ast.expr, parent: ast.AST | None, scope: _Scope) -> Iterator[tuple[str, str, float]]:
    if isinstance(node, ast.Compare):
        yield from _compare(node, scope, parent)
    elif isinstance(node, ast.BoolOp):
        other = "or" if isinstance(node.op, ast.And) else "and"
        yield "bool_op", f" {other} ".join(_p(v) for v in node.values), 0.8
        if len(node.values) > 1:
            for i in range(len(node.values)):
                rest = [v for j, v in enumerate(node.values) if j != i]
                op = " and " if isinstance(node.op, ast.And) else " or "
                yield "drop_clause", op.join(_p(v) for v in rest), 0.7
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        yield "drop_not", _p(node.operand), 0.7
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        yield "drop_minus", _p(node.operand), 0.5
    elif isinstance(node, ast.BinOp):
        for new_op in _BIN.get(type(node.op), ()):
            yield "arith_op", _u(ast.BinOp(node.left, new_op(), node.right)), 0.8
        if isinstance(node.op, _ORDERED):
            yield "swap_operands", _u(ast.BinOp(node.right, node.op, node.left)), 0.5
        if isinstance(node.op, (ast.Add, ast.Sub)):  # drop one operand of a sum
            yield "drop_operand", _p(node.left), 0.4
            yield "drop_operand", _p(node.right), 0.3
        else:  # a product, quotient, power, ...: a spurious factor (``x * x`` for ``x``)
            yield "drop_operand", _p(node.left), 0.3
            yield "drop_operand", _p(node.right), 0.2
    elif isinstance(node, ast.Constant):
        scale = 0.45 if id(node) in scope.init_constants else 1.0
        for kind, text, prior in _constant(node, scope):
            yield kind, text, prior * scale
    elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
        yield from _name(node, parent, scope)
    elif isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load):
        if isinstance(node.slice, ast.Name) and node.slice.id in scope.names:
            yield "seq_to_index", node.slice.id, 0.6
        if (
            isinstance(node.slice, ast.Slice)
            and node.slice.step is None
            and (node.slice.lower or node.slice.upper)
        ):
            yield "drop_slice", _p(node.value), 0.3
    elif isinstance(node, ast.Call):
        yield from _call(node, scope)
    elif isinstance(node, (ast.List, ast.Tuple)) and isinstance(node.ctx, ast.Load):
        if 2 <= len(node.elts) <= 3 and not any(isinstance(e, ast.Starred) for e in node.elts):
            for i in range(len(node.elts) - 1):
                elts = list(node.elts)
                elts[i], elts[i + 1] = elts[i + 1], elts[i]
                yield "swap_elements", _u(type(node)(elts, ast.Load())), 0.5
        if not node.elts:
            yield "empty_container", "None", 0.2
    elif isinstance(node, ast.Dict) and not node.keys:
        yield "empty_container", "None", 0.2
    if isinstance(parent, (ast.If, ast.While, ast.IfExp)) and getattr(parent, "test", None) is node:
        yield "negate", f"not {_p(node)}", 0.5
        for cmp in scope.compares:
            if cmp != _u(node):
                yield "add_clause", f"{_p(node)} and {cmp}", 0.3
                yield "add_clause", f"{_p(node)} or {cmp}", 0.2
    ordered = isinstance(node, ast.Call) and _u(node.func) in ("range", "enumerate", "sorted")
    if isinstance(parent, ast.For) and parent.iter is node and not ordered:
        yield "missing_sort", f"sorted({_u(node)})", 0.5
        yield "reverse", f"reversed({_u(node)})", 0.3
    if isinstance(parent, ast.Return) and not isinstance(node, ast.Constant):
        yield "return_not", f"not {_p(node)}", 0.3
        yield "missing_sort", f"sorted({_u(node)})", 0.3
        yield "reverse", f"{_p(node)}[::-1]", 0.3
    ctx = _numeric_context(node, parent)
    if (
        ctx
        and not isinstance(node, (ast.Constant, ast.Slice, ast.Compare, ast.BoolOp))
        and not (isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store))
    ):
        yield "off_by_one", f"{_p(node)} + 1", ctx
        yield "off_by_one", f"{_p(node)} - 1", ctx


def _compare(node: ast.Compare, scope: _Scope, parent: ast.AST | None) -> Iterator[tuple[str, str, float]]:
    for k, op in enumerate(node.ops):
        for alt in _CMP.get(type(op), ()):
            ops = list(node.ops)
            ops[k] = alt()
            prior = 1.0 if alt in _CMP.get(type(op), ())[:2] else 0.6
            yield "compare_op", _u(ast.Compare(node.left, ops, node.comparators)), prior
    if len(node.ops) == 1:
        yield "swap_operands", _u(ast.Compare(node.comparators[0], node.ops, [node.left])), 0.3
    if not isinstance(parent, (ast.If, ast.While)):  # conditions: ``negate`` covers it
        yield "negate", f"not {_p(node)}", 0.4


def _constant(node: ast.Constant, scope: _Scope) -> Iterator[tuple[str, str, float]]:
    v = node.value
    if isinstance(v, bool):
        yield "constant", repr(not v), 0.8
        yield "constant", "None", 0.2
    elif isinstance(v, int):
        seen = {v}
        for alt, prior in ((v + 1, 1.0), (v - 1, 1.0), (0, 0.5), (1, 0.5), (-1, 0.4), (2, 0.3)):
            if alt not in seen:
                seen.add(alt)
                yield "constant", repr(alt), prior
        yield "constant", "None", 0.3
        yield "constant", "float('inf')" if v >= 0 else "float('-inf')", 0.3
        yield "constant", "float('-inf')" if v >= 0 else "float('inf')", 0.2
    elif isinstance(v, float):
        yield "constant", repr(int(v)) if v == v and abs(v) != float("inf") else "0", 0.3
        yield "constant", "0", 0.3
    elif isinstance(v, str):
        for other in scope.strings:
            if other != v:
                yield "constant", repr(other), 0.6
        if v:
            yield "constant", "''", 0.3
        if v == "":
            yield "constant", "' '", 0.3
        if len(v) == 1 and v.isdigit():
            yield "constant", repr(str((int(v) + 1) % 10)), 0.6
            yield "constant", repr(str((int(v) - 1) % 10)), 0.5
        if len(v) == 1 and v.isalpha():
            yield "constant", repr(v.swapcase()), 0.4
    elif v is None:
        for text in ("0", "''", "[]", "-1"):
            yield "constant", text, 0.4
        for text in ("True", "False", *map(repr, scope.strings), *scope.names):  # ``None`` for a value
            yield "constant", text, 0.6


def _name(node: ast.Name, parent: ast.AST | None, scope: _Scope) -> Iterator[tuple[str, str, float]]:
    if node.id not in scope.names or (isinstance(parent, ast.Call) and parent.func is node):
        return
    if node.id in ("True", "False", "None"):
        return
    for other in scope.names:
        if other != node.id:
            yield "wrong_variable", other, 0.5
    order_free = isinstance(parent, ast.Call) and _u(parent.func) in _ORDER_FREE
    if id(node) in scope.first_use and not order_free:  # the input sorted first
        yield "missing_sort", f"sorted({node.id})", 0.4
    for seq in sorted(scope.indexed.get(node.id, ())):
        if not (isinstance(parent, ast.Subscript) and parent.slice is node):
            yield "index_to_seq", f"{seq}[{node.id}]", 0.6
    if isinstance(parent, (ast.Return, ast.Assign, ast.AugAssign, ast.BinOp)):
        for other in scope.names[:6]:
            if other != node.id:
                for op in ("+", "-", "*"):
                    yield "combine", f"({node.id} {op} {other})", 0.25
        yield "sign", f"(-{node.id})", 0.2
        yield "sign", f"abs({node.id})", 0.2


def _call(node: ast.Call, scope: _Scope) -> Iterator[tuple[str, str, float]]:
    f = node.func
    if isinstance(f, ast.Attribute):
        for alt in _family(f.attr, _METHODS):
            yield (
                "method",
                _u(ast.Call(ast.Attribute(f.value, alt, ast.Load()), node.args, node.keywords)),
                0.9,
            )
        if f.attr == "sort":
            rev = [k for k in node.keywords if k.arg == "reverse"]
            kws = [k for k in node.keywords if k.arg != "reverse"]
            if not rev:
                kws.append(ast.keyword("reverse", ast.Constant(True)))
            yield "sort_order", _u(ast.Call(f, node.args, kws)), 0.7
        if f.attr in ("split", "strip", "lstrip", "rstrip") and node.args:
            yield "method_args", _u(ast.Call(f, [], node.keywords)), 0.4
        if f.attr == "pop":
            yield "method_args", _u(ast.Call(f, [] if node.args else [ast.Constant(0)], node.keywords)), 0.5
    elif isinstance(f, ast.Name):
        for alt in _family(f.id, _FUNCS):
            yield "builtin", _u(ast.Call(ast.Name(alt, ast.Load()), node.args, node.keywords)), 0.9
        if f.id in _UNWRAP and len(node.args) == 1 and not node.keywords:
            yield "unwrap", _p(node.args[0]), 0.5
        if f.id == "sorted":
            rev = [k for k in node.keywords if k.arg == "reverse"]
            kws = [k for k in node.keywords if k.arg != "reverse"]
            if not rev:
                kws.append(ast.keyword("reverse", ast.Constant(True)))
            yield "sort_order", _u(ast.Call(f, node.args, kws)), 0.7
        if f.id == "range" and len(node.args) == 1:
            yield "range_start", _u(ast.Call(f, [ast.Constant(1), node.args[0]], [])), 0.6
        if f.id == "range" and len(node.args) == 2:
            yield "range_start", _u(ast.Call(f, [node.args[1]], [])), 0.3
    args = node.args
    if 2 <= len(args) <= 4 and not any(isinstance(a, ast.Starred) for a in args):
        for i in range(len(args) - 1):
            swapped = list(args)
            swapped[i], swapped[i + 1] = swapped[i + 1], swapped[i]
            yield "swap_args", _u(ast.Call(f, swapped, node.keywords)), 0.6


def splice(lines: list[bytes], region: Region, text: str) -> str:
    """The program ``lines`` (UTF-8, no newlines) with ``region`` replaced by ``text``."""
    line, end_line, col, end_col = region
    head = lines[line - 1][:col]
    tail = lines[end_line - 1][end_col:]
    new = head + text.encode("utf-8") + tail
    return b"\n".join([*lines[: line - 1], new, *lines[end_line:]]).decode("utf-8") + "\n"


def functions(tree: ast.Module) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    """Every function of the program, outermost first."""
    return [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]


def scope_of(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> _Scope:
    return _Scope(fn)
