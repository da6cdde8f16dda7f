"""Spectrum-based fault localization from line coverage, and line facts of a tracer run.

Pure functions over data the sandbox already returns: per-test line coverage
(``ExecJob(coverage=True)`` with one test per job) and tracer events (``ExecJob(trace=...)``).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Sequence
from typing import Any


def ochiai(spectrum: Sequence[tuple[bool, Collection[int]]]) -> dict[int, float]:
    """Ochiai suspiciousness of every covered line: ``ef / sqrt(F * (ef + ep))``.

    ``spectrum``: one ``(passed, covered lines)`` pair per test. ``ef`` / ``ep``: failing / passing
    tests covering the line, ``F``: failing tests. Without a failing test every score is 0.
    """
    failed = sum(1 for passed, _ in spectrum if not passed)
    ef: dict[int, int] = {}
    ep: dict[int, int] = {}
    for passed, lines in spectrum:
        counts = ep if passed else ef
        for line in set(lines):
            counts[line] = counts.get(line, 0) + 1
    scores: dict[int, float] = {}
    for line in set(ef) | set(ep):
        f, p = ef.get(line, 0), ep.get(line, 0)
        scores[line] = f / math.sqrt(failed * (f + p)) if failed and f else 0.0
    return scores


def top_lines(scores: dict[int, float]) -> list[int]:
    """The lines of highest positive score (ties all kept), ascending; [] when none is positive."""
    best = max(scores.values(), default=0.0)
    if best <= 0.0:
        return []
    return sorted(line for line, s in scores.items() if math.isclose(s, best, rel_tol=1e-12))


def executed_lines(events: Iterable[Sequence[Any]]) -> list[int]:
    """The distinct lines of ``line`` events of a tracer run, in first-execution order."""
    seen: dict[int, None] = {}
    for e in events:
        if e and e[0] == "line":
            seen.setdefault(int(e[2]), None)
    return list(seen)


def last_executed_line(events: Sequence[Sequence[Any]]) -> int | None:
    """The last line executed before the traced call returned or raised (None: no line ran)."""
    for e in reversed(events):
        if e and e[0] == "line":
            return int(e[2])
    return None
