"""The realistic localization suites: one JSON object per failing candidate with its verified fix.

Tiers live in ``egca/bench/suites/<tier>.jsonl`` (``handwritten``, ``rollouts``); the mutant tier is
generated on the fly (:mod:`egca.bench.mutants`). Every line is a :class:`SuiteCase`; the format is
described in ``egca/bench/suites/README.md``. :func:`load_suite` validates every field and names the
file, line and field of the first problem.
"""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SUITES_DIR = Path(__file__).resolve().parent / "suites"
TIERS: tuple[str, ...] = ("handwritten", "rollouts")
"""The file-backed tiers (``mutants`` is generated)."""

LABELS: tuple[str, ...] = ("single", "multi", "algorithm")
BUG_KINDS: tuple[str, ...] = (
    "off_by_one",
    "wrong_comparison",
    "wrong_initial_value",
    "wrong_variable",
    "missing_edge_case",
    "misplaced_statement",
    "wrong_return",
    "wrong_string_method",
    "wrong_operator",
    "swapped_arguments",
    "missing_sort",
    "misread_spec",
    "wrong_constant",
    "missing_statement",
    "other",
    "multi",
    "algorithm",
)
DATASETS: tuple[str, ...] = ("humaneval", "mbpp")
PLUS_DATASET = {"humaneval": "humaneval-plus", "mbpp": "mbpp-plus"}


def statement_of(tree: ast.AST, line: int) -> tuple[int, int] | None:
    """(first, last) line of the innermost statement at ``line`` (a compound statement: its header)."""
    best: tuple[int, int] | None = None
    for node in ast.walk(tree):
        if not isinstance(node, ast.stmt):
            continue
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.stmt):
            end = body[0].lineno - 1
        else:
            end = node.end_lineno or node.lineno
        if node.lineno <= line <= end and (best is None or node.lineno >= best[0]):
            best = (node.lineno, max(node.lineno, end))
    return best


class SuiteError(ValueError):
    """A suite file that does not follow the format (message names file, line and field)."""


@dataclass(frozen=True)
class SuiteCase:
    """One failing candidate of a localization suite and the lines of its minimal fix."""

    id: str
    dataset: str
    task_id: str
    source: str
    candidate: str
    fixed: str | None
    fix_diff: str
    fix_lines: tuple[int, ...]
    label: str
    bug_kind: str
    verified: dict[str, Any]
    notes: str = ""
    sampling: dict[str, Any] | None = None
    completion: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "dataset": self.dataset,
            "task_id": self.task_id,
            "source": self.source,
            "sampling": self.sampling,
            "completion": self.completion,
            "candidate": self.candidate,
            "fixed": self.fixed,
            "fix_diff": self.fix_diff,
            "fix_lines": list(self.fix_lines),
            "label": self.label,
            "bug_kind": self.bug_kind,
            "verified": self.verified,
            "notes": self.notes,
            **self.extra,
        }


_STR_FIELDS = ("id", "dataset", "task_id", "source", "candidate", "fix_diff", "label", "bug_kind")


def parse_case(obj: Any) -> SuiteCase:
    """A :class:`SuiteCase` from one decoded JSON line; raises ``ValueError`` naming the bad field."""
    if not isinstance(obj, dict):
        raise ValueError("expected a JSON object")
    for name in _STR_FIELDS:
        if not isinstance(obj.get(name), str):
            raise ValueError(f"field {name!r}: expected a string")
    if obj["dataset"] not in DATASETS:
        raise ValueError(f"field 'dataset': {obj['dataset']!r} is not one of {', '.join(DATASETS)}")
    if obj["label"] not in LABELS:
        raise ValueError(f"field 'label': {obj['label']!r} is not one of {', '.join(LABELS)}")
    if obj["bug_kind"] not in BUG_KINDS:
        raise ValueError(f"field 'bug_kind': {obj['bug_kind']!r} is not a known kind")
    fixed = obj.get("fixed")
    if fixed is None and obj["label"] != "algorithm":
        raise ValueError("field 'fixed': null only for label 'algorithm'")
    if fixed is not None and not isinstance(fixed, str):
        raise ValueError("field 'fixed': expected a string or null")
    lines = obj.get("fix_lines")
    n = len(obj["candidate"].splitlines())
    if not isinstance(lines, list) or not all(isinstance(x, int) and not isinstance(x, bool) for x in lines):
        raise ValueError("field 'fix_lines': expected a list of integers")
    if any(not 1 <= x <= n for x in lines):
        raise ValueError(f"field 'fix_lines': {lines} not within the candidate's lines 1..{n}")
    if obj["label"] != "algorithm" and not lines:
        raise ValueError("field 'fix_lines': empty for a case with a fix")
    verified = obj.get("verified")
    if not isinstance(verified, dict) or verified.get("candidate_fails") is not True:
        raise ValueError("field 'verified': expected an object with candidate_fails true")
    if fixed is not None and verified.get("fixed_base") is not True:
        raise ValueError("field 'verified': fixed_base must be true for a case with a fix")
    for name in ("sampling",):
        if obj.get(name) is not None and not isinstance(obj[name], dict):
            raise ValueError(f"field {name!r}: expected an object or null")
    if obj.get("completion") is not None and not isinstance(obj["completion"], str):
        raise ValueError("field 'completion': expected a string or null")
    try:
        ast.parse(obj["candidate"])
    except SyntaxError as e:
        raise ValueError(f"field 'candidate': does not parse ({e.msg}, line {e.lineno})") from e
    known = {*_STR_FIELDS, "fixed", "fix_lines", "verified", "notes", "sampling", "completion"}
    return SuiteCase(
        id=obj["id"],
        dataset=obj["dataset"],
        task_id=obj["task_id"],
        source=obj["source"],
        candidate=obj["candidate"],
        fixed=fixed,
        fix_diff=obj["fix_diff"],
        fix_lines=tuple(lines),
        label=obj["label"],
        bug_kind=obj["bug_kind"],
        verified=verified,
        notes=str(obj.get("notes") or ""),
        sampling=obj.get("sampling"),
        completion=obj.get("completion"),
        extra={k: v for k, v in obj.items() if k not in known},
    )


def suite_path(tier: str) -> Path:
    """The packaged file of ``tier``."""
    if tier not in TIERS:
        raise SuiteError(f"unknown suite tier {tier!r} (file-backed tiers: {', '.join(TIERS)})")
    return SUITES_DIR / f"{tier}.jsonl"


def load_suite(path: str | Path) -> list[SuiteCase]:
    """Every case of a suite file, validated; ids must be unique."""
    path = Path(path)
    if not path.is_file():
        raise SuiteError(f"suite file {path} does not exist")
    cases: list[SuiteCase] = []
    seen: set[str] = set()
    with path.open(encoding="utf-8") as f:
        for no, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                case = parse_case(json.loads(line))
            except (ValueError, json.JSONDecodeError) as e:
                raise SuiteError(f"{path}:{no}: {e}") from e
            if case.id in seen:
                raise SuiteError(f"{path}:{no}: field 'id': duplicate id {case.id!r}")
            seen.add(case.id)
            cases.append(case)
    if not cases:
        raise SuiteError(f"suite file {path} holds no case")
    return cases


def load_tier(tier: str) -> list[SuiteCase]:
    """The cases of a packaged tier; a clear error when its file is not there (yet)."""
    path = suite_path(tier)
    if not path.is_file():
        raise SuiteError(
            f"the {tier!r} tier is not in this installation ({path} is missing); "
            f"available: {', '.join(t for t in TIERS if suite_path(t).is_file()) or 'none'}"
        )
    return load_suite(path)
