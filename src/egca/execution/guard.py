"""Snapshots of the harness's dictionaries (modules, classes, builtins) in the candidate's process.

Used on the candidate side only: the call server restores them before each request and each reply
(so that a program which patched ``json`` or ``builtins`` still gets its honest answers across), and
the in-process fallback verifies and restores them before *and after* each test.
"""

from __future__ import annotations

import builtins
import copy
import gc
import math
import operator
import sys
from collections.abc import Callable
from typing import Any

from egca import values
from egca.execution import checks, oracles

_MISSING = object()
_is = operator.is_


def _dict_version_reader() -> Callable[[dict[str, Any]], int] | None:
    """A reader of CPython's private dict version tag, if it works on this interpreter.

    Reading memory does not write to the dict, so checking a guarded dictionary in a forked child
    costs no copy-on-write page faults (iterating it would touch every key and value). The reader
    is only used after a self-test shows that the tag changes when the dict changes.
    """
    if sys.implementation.name != "cpython":
        return None
    import ctypes

    def read(d: dict[str, Any]) -> int:
        return int(ctypes.c_uint64.from_address(id(d) + 24).value)

    probe: dict[str, Any] = {"a": 1}
    try:
        v0 = read(probe)
        probe["b"] = 2
        v1 = read(probe)
        del probe["a"]
        v2 = read(probe)
    except (ValueError, OSError):
        return None
    return read if v0 != v1 != v2 else None


class Guard:
    """Snapshots of dictionaries and classes, restored on request.

    The check reads each dict's version tag when the interpreter allows it, otherwise it compares
    keys and values by identity in C (``map(operator.is_, ...)``); neither calls an ``__eq__`` a
    program may have planted.
    """

    def __init__(self, dicts: list[dict[str, Any]], classes: list[type]) -> None:
        self._dicts = [(d, dict(d)) for d in dicts]
        self._classes = [(c, dict(vars(c))) for c in classes]
        self._keys = [(tuple(snap), tuple(snap.values())) for _, snap in self._dicts]
        self._ckeys = [(tuple(snap), tuple(snap.values())) for _, snap in self._classes]
        self._version = _dict_version_reader()
        # The real dict behind each class's mappingproxy (for the version tag).
        self._cdicts = [gc.get_referents(vars(c))[0] for c in classes]
        self._versions = self._read_versions()

    def _read_versions(self) -> list[int] | None:
        if self._version is None:
            return None
        return [self._version(d) for d, _ in self._dicts] + [self._version(d) for d in self._cdicts]

    @staticmethod
    def _same(live: Any, keys: tuple[Any, ...], vals: tuple[Any, ...]) -> bool:
        return (
            len(live) == len(keys) and all(map(_is, live.keys(), keys)) and all(map(_is, live.values(), vals))
        )

    def restore(self) -> bool:
        """Undo any change to the guarded dictionaries and classes; return True if one changed."""
        if self._versions is not None and self._read_versions() == self._versions:
            return False
        changed = False
        for (live, snap), (keys, vals) in zip(self._dicts, self._keys):
            if self._same(live, keys, vals):
                continue
            changed = True
            live.clear()  # also restores the insertion order the identity check relies on
            live.update(snap)
        for (cls, csnap), (keys, vals) in zip(self._classes, self._ckeys):
            current = vars(cls)
            if self._same(current, keys, vals):
                continue
            changed = True
            for k in [k for k in current if k not in csnap]:
                type.__delattr__(cls, k)
            for k, v in csnap.items():
                if current.get(k, _MISSING) is not v and k not in ("__dict__", "__weakref__"):
                    type.__setattr__(cls, k, v)
        self._versions = self._read_versions()
        return changed


def default_guard(own_modules: tuple[str, ...], extra: tuple[dict[str, Any], ...] = ()) -> Guard:
    """Guard the builtins, the modules the harness relies on, ``own_modules`` and its classes."""
    own = [sys.modules[n] for n in own_modules if n in sys.modules]
    modules = [builtins, math, operator, copy, values, oracles, checks, sys.modules[__name__], *own]
    classes = [checks.Checker, checks.CheckFailed, checks.UntrustedResult, values.Opaque]
    return Guard([m.__dict__ for m in modules] + list(extra), classes)
