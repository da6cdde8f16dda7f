"""The localization suite format: one labelled failing program per JSON line.

A case holds a ``candidate`` program (failing its task's tests), the minimally ``fixed`` program,
the unified diff between them (``fix_diff``) and the candidate lines the fix touches
(``fix_lines``). :func:`fix_diff` and :func:`fix_lines` compute the last two from the texts, so a
label is reproducible and auditable; :func:`validate_case` checks a row against the format.
"""

from __future__ import annotations

import ast
import difflib
import json
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

# the vocabularies are the harness's (egca.bench.suite), so a row one accepts the other reads
from egca.bench.suite import BUG_KINDS, DATASETS, LABELS

NO_EOL = "\\ No newline at end of file\n"
_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


class SuiteFormatError(ValueError):
    """A suite row that does not follow the format; the message names the row and the field."""


@dataclass
class SuiteCase:
    """One row of a suite file (see ``src/egca/bench/suites/README.md`` for each field)."""

    id: str
    dataset: str
    task_id: str
    source: str
    sampling: dict[str, Any] | None
    completion: str | None
    candidate: str
    fixed: str | None
    fix_diff: str
    fix_lines: list[int]
    label: str
    bug_kind: str
    verified: dict[str, bool | None]
    notes: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        extra = d.pop("extra")
        d.update(extra)
        return d


FIELDS: tuple[str, ...] = tuple(f for f in SuiteCase.__dataclass_fields__ if f != "extra")


def _diff_lines(text: str) -> list[str]:
    """``text`` split for a diff: every line ends with a newline, except a last line without one,
    which is followed by the ``\\ No newline at end of file`` marker line (as ``diff`` prints it)."""
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] = lines[-1] + "\n" + NO_EOL
    return lines


def fix_diff(candidate: str, fixed: str | None) -> str:
    """The unified diff (no context lines) from ``candidate`` to ``fixed``; "" when ``fixed`` is None."""
    if fixed is None:
        return ""
    return "".join(
        difflib.unified_diff(_diff_lines(candidate), _diff_lines(fixed), "candidate", "fixed", n=0)
    )


def apply_diff(candidate: str, diff: str) -> str:
    """Apply a zero-context unified diff made by :func:`fix_diff` to ``candidate`` (strictly: a
    removed line must match the candidate's line, else ``SuiteFormatError``)."""
    old = candidate.splitlines(keepends=True)
    out: list[str] = []
    pos = 0  # next candidate line (0-based) not yet copied
    lines = diff.splitlines(keepends=True)
    i = 0
    while i < len(lines) and not lines[i].startswith("@@"):
        i += 1
    while i < len(lines):
        m = _HUNK.match(lines[i])
        if not m:
            raise SuiteFormatError(f"fix_diff: expected a hunk header, got {lines[i]!r}")
        start, count = int(m.group(1)), int(m.group(2) if m.group(2) is not None else 1)
        first = start - 1 if count else start  # an empty old range names the line before it
        if first < pos or first > len(old):
            raise SuiteFormatError(f"fix_diff: hunk {lines[i].strip()!r} out of order or range")
        out.extend(old[pos:first])
        pos = first
        i += 1
        while i < len(lines) and not lines[i].startswith("@@"):
            tag, body = lines[i][:1], lines[i][1:]
            if i + 1 < len(lines) and lines[i + 1] == NO_EOL:
                body = body[:-1] if body.endswith("\n") else body
                i += 1
            if tag == "-":
                if pos >= len(old) or old[pos] != body:
                    raise SuiteFormatError(f"fix_diff: removed line {pos + 1} does not match the candidate")
                pos += 1
            elif tag == "+":
                out.append(body)
            else:
                raise SuiteFormatError(f"fix_diff: unexpected line {lines[i]!r}")
            i += 1
    out.extend(old[pos:])
    return "".join(out)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" \t"))


def fix_lines(candidate: str, fixed: str | None) -> list[int]:
    """The 1-based candidate lines a fix changes or deletes.

    An insertion names the candidate line right after the insertion point (the next non-blank
    line), or, when the insertion ends a block (nothing follows, or what follows is indented less
    than the inserted text), the non-blank line before it. A moved statement (inserted lines that
    the fix deletes elsewhere) names only its line in the candidate.
    """
    if fixed is None:
        return []
    old, new = candidate.splitlines(), fixed.splitlines()
    out: set[int] = set()
    sm = difflib.SequenceMatcher(a=old, b=new, autojunk=False)
    opcodes = sm.get_opcodes()
    deleted = {
        ln.strip() for tag, i1, i2, _, _ in opcodes if tag == "delete" for ln in old[i1:i2] if ln.strip()
    }
    for tag, i1, i2, j1, j2 in opcodes:
        if tag in ("replace", "delete"):
            out.update(range(i1 + 1, i2 + 1))
        elif tag == "insert":
            inserted = [ln for ln in new[j1:j2] if ln.strip()]
            if inserted and all(ln.strip() in deleted for ln in inserted):
                continue  # the destination of a moved statement
            depth = min((_indent(ln) for ln in inserted), default=0)
            after = next((k for k in range(i1, len(old)) if old[k].strip()), None)
            before = next((k for k in range(i1 - 1, -1, -1) if old[k].strip()), None)
            if after is not None and (_indent(old[after]) >= depth or before is None):
                out.add(after + 1)
            elif before is not None:
                out.add(before + 1)
    return sorted(out)


def statement_of_line(source: str) -> dict[int, tuple[int, int]]:
    """Each line's statement, as the (first, last) line of the innermost statement that holds it.

    A compound statement counts as its header only (``if cond:`` without its body); lines outside
    any statement (blank lines, comments between statements) are absent. ``source`` must parse.
    """
    tree = ast.parse(source)
    found: dict[int, tuple[int, int]] = {}
    for node in ast.walk(tree):
        if not isinstance(node, ast.stmt):
            continue
        first = node.lineno
        last = node.end_lineno or first
        for name in ("body", "orelse", "finalbody", "handlers", "cases"):
            parts = getattr(node, name, None)
            if parts and isinstance(parts, list) and hasattr(parts[0], "lineno"):
                last = min(last, parts[0].lineno - 1)
        decorators = getattr(node, "decorator_list", [])
        if decorators:
            first = min(d.lineno for d in decorators)
        for ln in range(first, max(first, last) + 1):
            prev = found.get(ln)
            if prev is None or prev[1] - prev[0] >= max(first, last) - first:
                found[ln] = (first, max(first, last))
    return found


def is_single_location(candidate: str, lines: Sequence[int]) -> bool:
    """True when every line in ``lines`` lies in one statement of ``candidate``."""
    if not lines:
        return False
    stmts = statement_of_line(candidate)
    return len({stmts.get(ln, (ln, ln)) for ln in lines}) == 1


def _check(cond: bool, where: str, msg: str) -> None:
    if not cond:
        raise SuiteFormatError(f"{where}: {msg}")


def validate_case(row: dict[str, Any], where: str = "row") -> SuiteCase:
    """Check ``row`` against the format and return it as a :class:`SuiteCase`.

    Checks the types, the label and bug kind vocabularies, that ``fix_diff`` turns ``candidate``
    into ``fixed``, that ``fix_lines`` are the lines :func:`fix_lines` computes (all within the
    candidate) and that the label agrees with them: ``single`` = one statement, ``multi`` = more
    than one, ``algorithm`` = no fix.
    """
    _check(isinstance(row, dict), where, "not a JSON object")
    for name in FIELDS:
        _check(name in row, where, f"missing field {name!r}")
    where = f"{where} ({row['id']})"
    for name in ("id", "dataset", "task_id", "source", "candidate", "fix_diff", "label", "bug_kind", "notes"):
        _check(isinstance(row[name], str), where, f"{name} must be a string")
    _check(row["dataset"] in DATASETS, where, f"dataset {row['dataset']!r} not one of {DATASETS}")
    _check(row["label"] in LABELS, where, f"label {row['label']!r} not one of {LABELS}")
    _check(row["bug_kind"] in BUG_KINDS, where, f"bug_kind {row['bug_kind']!r} unknown")
    for name in ("completion", "fixed"):
        _check(row[name] is None or isinstance(row[name], str), where, f"{name} must be a string or null")
    _check(
        row["sampling"] is None or isinstance(row["sampling"], dict),
        where,
        "sampling must be an object or null",
    )
    lines = row["fix_lines"]
    _check(
        isinstance(lines, list) and all(type(x) is int for x in lines),
        where,
        "fix_lines must be a list of int",
    )
    n = len(row["candidate"].splitlines())
    _check(all(1 <= x <= n for x in lines), where, f"fix_lines {lines} outside the candidate's {n} lines")
    _check(lines == sorted(set(lines)), where, "fix_lines must be sorted and distinct")
    ver = row["verified"]
    _check(isinstance(ver, dict), where, "verified must be an object")
    _check(ver.get("candidate_fails") is True, where, "verified.candidate_fails must be true")
    fixed = row["fixed"]
    if row["label"] == "algorithm":
        _check(fixed is None and row["fix_diff"] == "" and lines == [], where, "an algorithm case has no fix")
        _check(row["bug_kind"] == "algorithm", where, "an algorithm case has bug_kind 'algorithm'")
    else:
        _check(
            fixed is not None and fixed != row["candidate"],
            where,
            "a fixable case needs a different fixed program",
        )
        _check(apply_diff(row["candidate"], row["fix_diff"]) == fixed, where, "fix_diff does not give fixed")
        _check(lines == fix_lines(row["candidate"], fixed), where, "fix_lines differ from the diff's lines")
        _check(ver.get("fixed_base") is True, where, "verified.fixed_base must be true")
        _check(ver.get("fixed_plus") in (True, None), where, "verified.fixed_plus must be true or null")
        single = is_single_location(row["candidate"], lines)
        _check(single == (row["label"] == "single"), where, f"label {row['label']!r} but single={single}")
        _check(
            (row["bug_kind"] == "multi") == (row["label"] == "multi"),
            where,
            "bug_kind 'multi' iff label multi",
        )
    known = {k: row[k] for k in FIELDS}
    extra = {k: v for k, v in row.items() if k not in known}
    return SuiteCase(**known, extra=extra)


def load_suite(path: str | Path) -> list[SuiteCase]:
    """Read and validate a suite file; ids must be unique."""
    cases: list[SuiteCase] = []
    ids: set[str] = set()
    p = Path(path)
    for lineno, line in enumerate(p.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{p}:{lineno}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise SuiteFormatError(f"{where}: invalid JSON: {e.msg}") from e
        case = validate_case(row, where)
        _check(case.id not in ids, where, f"duplicate id {case.id!r}")
        ids.add(case.id)
        cases.append(case)
    return cases


def write_suite(path: str | Path, cases: Sequence[SuiteCase]) -> Path:
    """Write ``cases`` one JSON object per line (keys in format order)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text("".join(json.dumps(c.to_dict(), ensure_ascii=False) + "\n" for c in cases), encoding="utf-8")
    return p
