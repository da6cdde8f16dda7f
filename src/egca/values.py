"""Plain values: comparisons the program's objects cannot override, and a safe wire format.

``plain(x)`` rebuilds a value from exact builtin types using unbound builtin methods only
(``list.__getitem__``, ``dict.items``, ...), so an object with an ``__eq__`` that always returns
``True`` or a patched ``__iter__`` cannot change the outcome of a comparison. Instances of other
classes become :class:`Opaque` records (type identity plus a bounded snapshot of ``__dict__``).

``to_wire``/``from_wire`` turn plain values into JSON-compatible data and back without ``pickle``
(the parent never unpickles anything a sandboxed program could have produced).
"""

from __future__ import annotations

import array
import collections
import math
import sys
from collections.abc import Callable
from typing import Any

MAX_DEPTH = 64
_HEAPTYPE, _IMMUTABLETYPE = 1 << 9, 1 << 8

_ATOMS: frozenset[type] = frozenset(
    {type(None), bool, int, float, complex, str, bytes, range, type(Ellipsis), type(NotImplemented), slice}
)

# Dunder methods through which an object could steer a comparison or arithmetic in test code.
DANGEROUS_DUNDERS = frozenset(
    [
        "__eq__",
        "__ne__",
        "__lt__",
        "__le__",
        "__gt__",
        "__ge__",
        "__bool__",
        "__len__",
        "__hash__",
        "__contains__",
        "__iter__",
        "__next__",
        "__getitem__",
        "__getattr__",
        "__getattribute__",
        "__class__",
        "__instancecheck__",
        "__int__",
        "__float__",
        "__complex__",
        "__index__",
        "__round__",
        "__trunc__",
        "__floor__",
        "__ceil__",
        "__abs__",
        "__neg__",
        "__pos__",
        "__invert__",
        "__add__",
        "__radd__",
        "__sub__",
        "__rsub__",
        "__mul__",
        "__rmul__",
        "__truediv__",
        "__rtruediv__",
        "__floordiv__",
        "__rfloordiv__",
        "__mod__",
        "__rmod__",
        "__pow__",
        "__rpow__",
        "__divmod__",
        "__rdivmod__",
        "__and__",
        "__rand__",
        "__or__",
        "__ror__",
        "__xor__",
        "__rxor__",
        "__lshift__",
        "__rlshift__",
        "__rshift__",
        "__rrshift__",
        "__matmul__",
        "__rmatmul__",
        "__str__",
        "__format__",
    ]
)


class Opaque:
    """An instance of a non-builtin class, compared by type identity and attribute snapshot."""

    __slots__ = ("fields", "name", "truth", "type_id")

    def __init__(self, type_id: int, name: str, fields: Any, truth: bool | None = None) -> None:
        self.type_id = type_id
        self.name = name
        self.fields = fields
        self.truth = truth  # its truth value, where known (a non-plain result across the boundary)

    def __eq__(self, other: object) -> bool:
        return type(other) is Opaque and self.type_id == other.type_id and self.fields == other.fields

    def __hash__(self) -> int:
        return hash((self.type_id, self.name))

    def __repr__(self) -> str:
        return f"<{self.name} object>"


def _numpy() -> Any:
    return sys.modules.get("numpy")


def plain(x: Any, _depth: int = 0) -> Any:
    """Rebuild ``x`` from exact builtin types without calling any of its own methods."""
    t = type(x)
    if t in _ATOMS or t is Opaque:
        return x
    if _depth > MAX_DEPTH:
        return Opaque(id(t), "<too deep>", None)
    d = _depth + 1
    if t is list:
        return [plain(list.__getitem__(x, i), d) for i in range(list.__len__(x))]
    if t is tuple:
        return tuple(plain(tuple.__getitem__(x, i), d) for i in range(tuple.__len__(x)))
    if t is dict:
        return {plain(k, d): plain(v, d) for k, v in dict.items(x)}
    if t is set:
        return {plain(v, d) for v in set.__iter__(x)}
    if t is frozenset:
        return frozenset(plain(v, d) for v in frozenset.__iter__(x))
    np = _numpy()
    if np is not None:
        if t is np.ndarray:
            return plain(np.ndarray.tolist(x), d)
        if isinstance(x, np.generic) and type.__getattribute__(t, "__module__") == "numpy":
            return plain(np.generic.item(x), d)
    # Subclasses of builtins: read the builtin part through the base type's own methods.
    if issubclass(t, bool):
        return bool(int.__int__(x))
    if issubclass(t, int):
        return int.__index__(x)
    if issubclass(t, float):
        return float.__float__(x)
    if issubclass(t, complex):
        return complex(float.__float__(complex.real.__get__(x)), float.__float__(complex.imag.__get__(x)))
    if issubclass(t, str):
        return str.__str__(x)
    if issubclass(t, bytes):
        return bytes.__bytes__(x) if hasattr(bytes, "__bytes__") else bytes(memoryview(x))
    if issubclass(t, tuple):
        return tuple(plain(tuple.__getitem__(x, i), d) for i in range(tuple.__len__(x)))
    if issubclass(t, list):
        return [plain(list.__getitem__(x, i), d) for i in range(list.__len__(x))]
    if issubclass(t, dict):
        return {plain(k, d): plain(v, d) for k, v in dict.items(x)}
    if issubclass(t, frozenset):
        return frozenset(plain(v, d) for v in frozenset.__iter__(x))
    if issubclass(t, set):
        return {plain(v, d) for v in set.__iter__(x)}
    if t is bytearray:
        return bytes(memoryview(x))
    if t is collections.deque:
        return Opaque(id(t), "deque", tuple(plain(v, d) for v in collections.deque.__iter__(x)))
    if t is array.array:
        return Opaque(id(t), "array", (x.typecode, tuple(array.array.tolist(x))))
    if is_immutable_type(t):
        return x  # a C type nobody can patch: its own == and bool are trustworthy
    try:
        name = type.__getattribute__(t, "__qualname__")
    except AttributeError:
        name = "object"
    return Opaque(id(t), str(name), _fields(x, t, d))


def is_immutable_type(t: type) -> bool:
    """A static or immutable type (C types): its methods cannot be replaced at run time."""
    flags = type.__getattribute__(t, "__flags__")
    return not flags & _HEAPTYPE or bool(flags & _IMMUTABLETYPE)


def _fields(x: Any, t: type, depth: int) -> Any:
    """A bounded snapshot of an instance's ``__dict__`` and ``__slots__`` values."""
    items: list[tuple[str, str]] = []
    try:
        raw = object.__getattribute__(x, "__dict__")
    except AttributeError:
        raw = None
    if type(raw) is dict:
        items += [(str(k), repr(plain(v, depth))) for k, v in dict.items(raw)]
    for base in type.__getattribute__(t, "__mro__"):
        slots = type.__getattribute__(base, "__dict__").get("__slots__", ())
        for name in (slots,) if type(slots) is str else slots:
            if type(name) is str and name not in ("__dict__", "__weakref__"):
                try:
                    items.append((name, repr(plain(object.__getattribute__(x, name), depth))))
                except AttributeError:
                    continue
    return tuple(sorted(items)) if items else None


def safe_eq(a: Any, b: Any) -> bool:
    """Python ``==`` on the plain forms of ``a`` and ``b``."""
    return bool(plain(a) == plain(b))


def untrusted_type(x: Any, trusted: frozenset[int] = frozenset(), _depth: int = 0) -> str | None:
    """Name of the first class inside ``x`` whose instances could steer test code, else None.

    A class is suspect when it (or a base outside ``trusted``, the ids of classes that existed
    before the program ran) defines one of :data:`DANGEROUS_DUNDERS`. Plain builtins never are.
    """
    t = type(x)
    if t in _ATOMS or _depth > MAX_DEPTH:
        return None
    d = _depth + 1
    if t in (list, tuple) or (id(t) in trusted and issubclass(t, (list, tuple))):
        seq = list.__iter__(x) if issubclass(t, list) else tuple.__iter__(x)
        for v in seq:
            bad = untrusted_type(v, trusted, d)
            if bad:
                return bad
        return None
    if t is dict or (id(t) in trusted and issubclass(t, dict)):
        for k, v in dict.items(x):
            bad = untrusted_type(k, trusted, d) or untrusted_type(v, trusted, d)
            if bad:
                return bad
        return None
    if t is collections.deque:
        for v in collections.deque.__iter__(x):
            bad = untrusted_type(v, trusted, d)
            if bad:
                return bad
        return None
    if t in (set, frozenset):
        for v in set.__iter__(x) if t is set else frozenset.__iter__(x):
            bad = untrusted_type(v, trusted, d)
            if bad:
                return bad
        return None
    if id(t) in trusted:
        return None
    for base in type.__getattribute__(t, "__mro__"):
        if id(base) in trusted or base is object:
            break
        names = type.__getattribute__(base, "__dict__")
        if any(n in DANGEROUS_DUNDERS for n in names):
            return str(type.__getattribute__(t, "__qualname__"))
    if issubclass(t, (list, tuple, dict, set, frozenset)):
        return untrusted_type(plain(x), trusted, d)
    return None


# Builtin classes that cross the process boundary by name (``remove_datatype(t, int)``).
WIRE_TYPES: dict[str, type] = {
    t.__name__: t
    for t in (bool, int, float, complex, str, bytes, bytearray, list, tuple, dict, set, frozenset, type(None))
}


def _num(v: float) -> Any:
    if math.isfinite(v):
        return v
    return {"t": "float", "v": repr(v)}


def to_wire(v: Any, _depth: int = 0) -> Any:
    """JSON-compatible encoding of a plain value (apply :func:`plain` first)."""
    t = type(v)
    if v is None or t in (bool, str):
        return v
    if t is int:
        return v if abs(v) < 2**53 else {"t": "int", "v": hex(v)}  # hex: no int_max_str_digits limit
    if t is float:
        return _num(v)
    if _depth > MAX_DEPTH:
        return {"t": "opaque", "v": "<too deep>"}
    d = _depth + 1
    if t is list:
        return [to_wire(e, d) for e in v]
    if t is tuple:
        return {"t": "tuple", "v": [to_wire(e, d) for e in v]}
    if t is dict:
        return {"t": "dict", "v": [[to_wire(k, d), to_wire(e, d)] for k, e in v.items()]}
    if t in (set, frozenset):
        items = [to_wire(e, d) for e in v]
        return {"t": t.__name__, "v": items}
    if t is complex:
        return {"t": "complex", "v": [_num(v.real), _num(v.imag)]}
    if t is bytes:
        return {"t": "bytes", "v": v.hex()}
    if t is Opaque:
        return {"t": "opaque", "v": v.name}
    return {"t": "opaque", "v": t.__name__}


def from_wire(w: Any, resolve: Callable[[Any], Any] | None = None) -> Any:
    """Inverse of :func:`to_wire`. Opaque values decode to an :class:`Opaque` record; ``resolve``
    turns a ``handle`` (an object kept on the other side of the process boundary) into its object."""
    if w is None or type(w) in (bool, int, float, str):
        return w
    if type(w) is list:
        return [from_wire(e, resolve) for e in w]
    if type(w) is not dict or "t" not in w:
        raise ValueError(f"not a wire value: {w!r}"[:200])
    tag, v = w["t"], w.get("v")
    if v is None:
        raise ValueError(f"wire value without payload: {w!r}"[:200])
    if tag == "int":
        return int(v, 16) if "x" in v else int(v)
    if tag == "float":
        return float(v)
    if tag == "tuple":
        return tuple(from_wire(e, resolve) for e in v)
    if tag == "dict":
        return {from_wire(k, resolve): from_wire(e, resolve) for k, e in v}
    if tag == "set":  # through a frozenset, as a set literal is built: same iteration order
        return set().union(frozenset(from_wire(e, resolve) for e in v))
    if tag == "frozenset":
        return frozenset(from_wire(e, resolve) for e in v)
    if tag == "complex":
        return complex(from_wire(v[0], resolve), from_wire(v[1], resolve))
    if tag == "bytes":
        return bytes.fromhex(v)
    if tag == "opaque":
        return Opaque(0, str(v), None)
    if tag == "handle" and resolve is not None:
        return resolve(v)
    if tag == "type" and v in WIRE_TYPES:
        return WIRE_TYPES[v]
    if tag == "summary":  # a bounded snapshot of a large value (egca.trace.tracer.snapshot)
        return Opaque(0, f"<{v.get('type', 'value')} of {v.get('len', '?')} items>", v.get("hash"))
    raise ValueError(f"unknown wire tag {tag!r}")


def short_repr(v: Any, limit: int = 200) -> str:
    """A bounded repr of a plain value for messages."""
    try:
        r = repr(v)
    except Exception:  # a broken repr is still reportable
        r = f"<{type(v).__name__}>"
    return r if len(r) <= limit else r[: limit - 3] + "..."
