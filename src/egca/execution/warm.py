"""What a worker prepares once and every job reuses: pre-imported modules and compiled tests."""

from __future__ import annotations

import importlib
import os
from collections import OrderedDict
from typing import Any

from egca.execution.job import ExecJob
from egca.execution.rewrite import compile_tests

DEFAULT_PRELOAD = [
    "abc",
    "array",
    "bisect",
    "calendar",
    "cmath",
    "collections",
    "collections.abc",
    "copy",
    "dataclasses",
    "datetime",
    "decimal",
    "enum",
    "fractions",
    "functools",
    "hashlib",
    "heapq",
    "itertools",
    "json",
    "math",
    "numbers",
    "operator",
    "random",
    "re",
    "statistics",
    "string",
    "sys",
    "textwrap",
    "typing",
    "unicodedata",
]
OPTIONAL_PRELOAD: tuple[str, ...] = ()


def preload(extra: list[str]) -> None:
    """Import the usual modules once so that children start warm."""
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    for name in [*DEFAULT_PRELOAD, *OPTIONAL_PRELOAD, *extra]:
        try:
            importlib.import_module(name)
        except Exception:
            pass


class CompiledTests:
    """LRU cache of compiled test code: the programs of a GRPO group share their tests."""

    def __init__(self, size: int = 256) -> None:
        self._cache: OrderedDict[tuple[str, tuple[str, ...]], tuple[list[Any], Any]] = OrderedDict()
        self._size = size

    def get(self, job: ExecJob) -> tuple[list[Any], Any]:
        key = (job.test_prelude, tuple(t.source if t.kind == "assert" else "" for t in job.tests))
        hit = self._cache.get(key)
        if hit is not None:
            self._cache.move_to_end(key)
            return hit
        tests = [compile_tests(src) if src else None for src in key[1]]
        prelude = compile_tests(job.test_prelude, "<test prelude>") if job.test_prelude.strip() else None
        self._cache[key] = (tests, prelude)
        if len(self._cache) > self._size:
            self._cache.popitem(last=False)
        return tests, prelude
