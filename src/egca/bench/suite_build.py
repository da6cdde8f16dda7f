"""Build a suite file from a TOML source of (task, correct program, bug) entries, verifying each case.

``python -m egca.bench.suite_build SOURCE.toml OUT.jsonl`` (the handwritten tier:
``src/egca/bench/suites/handwritten.toml``). Each ``[[case]]`` of the source has::

    task = "HumanEval/12"        # or "Mbpp/17": the dataset follows from the prefix
    variant = "a"                # optional, default "a" (case id: handwritten/<task>/<variant>)
    kind = "off_by_one"          # a bug kind of egca.bench.suite.BUG_KINDS
    correct = '''...'''          # a correct program written from the prompt
    old = "..."                  # the bug: ``old`` replaced by ``new`` (``old`` occurs exactly once)
    new = "..."                  # ... or ``buggy = '''...'''``, the whole buggy program
    notes = "..."                # optional

The builder runs the correct program on the base and (where the task has them) EvalPlus tests
— it must pass both — and the buggy one, which must fail at least one; the fix diff and fix lines
come from :mod:`difflib`, never from hand. A case that does not verify stops the build with its id.
"""

from __future__ import annotations

import argparse
import ast
import difflib
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from egca.bench.suite import BUG_KINDS, PLUS_DATASET, SuiteCase, parse_case, statement_of
from egca.execution import ExecJob, Sandbox
from egca.execution.references import prepare_tasks
from egca.tasks import Task, load_tasks

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - the builder needs Python 3.11's tomllib; the suite itself does not
    tomllib = None


@dataclass(frozen=True)
class Entry:
    """One source entry: the correct program and the buggy one derived from it."""

    task_id: str
    variant: str
    kind: str
    correct: str
    buggy: str
    notes: str

    @property
    def dataset(self) -> str:
        return "humaneval" if self.task_id.startswith("HumanEval/") else "mbpp"

    @property
    def id(self) -> str:
        return f"handwritten/{self.task_id}/{self.variant}"


def _text(s: str) -> str:
    """A program from a TOML literal: without the leading newline, ending with one newline."""
    return s.lstrip("\n").rstrip() + "\n"


def read_source(path: str | Path) -> list[Entry]:
    """The entries of a TOML source file (bugs applied, kinds checked)."""
    if tomllib is None:  # pragma: no cover
        raise RuntimeError("building a suite needs Python >= 3.11 (tomllib)")
    data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    entries: list[Entry] = []
    for i, raw in enumerate(data.get("case", []), 1):
        where = f"{path}: case {i} ({raw.get('task', '?')})"
        task, kind, correct = raw.get("task"), raw.get("kind"), raw.get("correct")
        if not isinstance(task, str) or not task.startswith(("HumanEval/", "Mbpp/")):
            raise ValueError(f"{where}: 'task' must be 'HumanEval/N' or 'Mbpp/N'")
        if kind not in BUG_KINDS:
            raise ValueError(f"{where}: unknown kind {kind!r}")
        if not isinstance(correct, str):
            raise ValueError(f"{where}: 'correct' must be a string")
        correct = _text(correct)
        if "buggy" in raw:
            buggy = _text(raw["buggy"])
        else:
            old, new = raw.get("old"), raw.get("new")
            if not isinstance(old, str) or not isinstance(new, str):
                raise ValueError(f"{where}: give 'buggy' or both 'old' and 'new'")
            if correct.count(old) != 1:
                raise ValueError(f"{where}: 'old' occurs {correct.count(old)} times in 'correct' (need 1)")
            buggy = correct.replace(old, new)
        if buggy == correct:
            raise ValueError(f"{where}: the bug changes nothing")
        variant = str(raw.get("variant", "a"))
        entries.append(Entry(task, variant, kind, correct, buggy, str(raw.get("notes", ""))))
    ids = [e.id for e in entries]
    dup = {x for x in ids if ids.count(x) > 1}
    if dup:
        raise ValueError(f"{path}: duplicate case ids {sorted(dup)}")
    return entries


def fix_diff(candidate: str, fixed: str) -> str:
    """The unified diff candidate -> fixed (no context lines)."""
    return "".join(
        difflib.unified_diff(
            candidate.splitlines(keepends=True), fixed.splitlines(keepends=True), "candidate", "fixed", n=0
        )
    )


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def fix_lines(candidate: str, fixed: str) -> list[int]:
    """Candidate lines (1-based) the fix changes or deletes; for a pure insertion the candidate
    statement line right after the insertion point, or the one before at the end of a block."""
    cand, fix = candidate.splitlines(), fixed.splitlines()
    ops = difflib.SequenceMatcher(None, cand, fix, autojunk=False).get_opcodes()
    # a moved statement shows as a deletion plus an insertion of the same text: blame the deletion
    deleted = {tuple(x.strip() for x in cand[i1:i2]) for op, i1, i2, _, _ in ops if op == "delete"}
    out: set[int] = set()
    for op, i1, i2, j1, j2 in ops:
        if op in ("replace", "delete"):
            out.update(range(i1 + 1, i2 + 1))
        elif op == "insert" and tuple(x.strip() for x in fix[j1:j2]) not in deleted:
            inserted = [x for x in fix[j1:j2] if x.strip()]
            after = i1
            while after < len(cand) and (not cand[after].strip() or cand[after].lstrip().startswith("#")):
                after += 1
            if after < len(cand) and (not inserted or _indent(cand[after]) >= _indent(inserted[0])):
                out.add(after + 1)
            else:
                before = i1
                while before > 1 and not cand[before - 1].strip():
                    before -= 1
                out.add(max(1, before))
    return sorted(out)


def label_of(candidate: str, lines: Sequence[int]) -> str:
    """``single`` when every fix line lies in one statement, else ``multi``."""
    tree = ast.parse(candidate)
    return "single" if len({statement_of(tree, x) or (x, x) for x in lines}) == 1 else "multi"


def reference_similarity(program: str, task: Task) -> float:
    """difflib ratio of ``program``'s lines to the reference's (independence check; 1.0 = copied)."""
    canon = str(task.metadata.get("canonical_solution") or task.reference)
    a = [x.strip() for x in program.splitlines() if x.strip()]
    b = [x.strip() for x in canon.splitlines() if x.strip()]
    return round(difflib.SequenceMatcher(None, a, b, autojunk=False).ratio(), 3)


def _tasks(entries: list[Entry], sandbox: Sandbox) -> dict[tuple[str, str], Task]:
    """(dataset, task id) -> task for the base and plus datasets of the entries (plus: outputs filled)."""
    wanted = {(e.dataset, e.task_id) for e in entries}
    out: dict[tuple[str, str], Task] = {}
    for base in sorted({d for d, _ in wanted}):
        ids = {t for d, t in wanted if d == base}
        split = {"split": "all"} if base == "mbpp" else {}
        out.update({(base, t.task_id): t for t in load_tasks(base, **split) if t.task_id in ids})  # type: ignore[arg-type]
        plus = [t for t in load_tasks(PLUS_DATASET[base]) if t.task_id in ids]
        out.update({(PLUS_DATASET[base], t.task_id): t for t in prepare_tasks(plus, sandbox)})
    return out


def plus_compatible(base: Task, plus: Task, program: str) -> bool:
    """Whether the EvalPlus task calls the same function with an arity ``program`` accepts (MBPP+
    renamed some functions and dropped redundant length arguments: another specification)."""
    if plus.entry_point != base.entry_point:
        return False
    fn = next(
        (
            n
            for n in ast.walk(ast.parse(program))
            if isinstance(n, ast.FunctionDef) and n.name == base.entry_point
        ),
        None,
    )
    if fn is None or fn.args.vararg is not None:
        return fn is not None
    total = len(fn.args.posonlyargs) + len(fn.args.args)
    required = total - len(fn.args.defaults)
    return all(required <= len(t.args) <= total for t in plus.tests if t.kind == "call")


def build(entries: list[Entry], sandbox: Sandbox) -> tuple[list[SuiteCase], list[str]]:
    """Verified cases for ``entries`` and the problems of the ones that did not verify."""
    tasks = _tasks(entries, sandbox)
    jobs: list[ExecJob] = []
    plan: list[tuple[Entry, Task, Task | None]] = []
    problems: list[str] = []
    for e in entries:
        base = tasks.get((e.dataset, e.task_id))
        if base is None:
            problems.append(f"{e.id}: task not found in {e.dataset}")
            continue
        plus = tasks.get((PLUS_DATASET[e.dataset], e.task_id))
        if plus is not None and not plus_compatible(base, plus, e.correct):
            plus = None
        plan.append((e, base, plus))
        for program in (e.correct, e.buggy):
            jobs.append(ExecJob.for_task(base, program))
            if plus is not None:
                jobs.append(ExecJob.for_task(plus, program))
    results = iter(sandbox.run_many(jobs))
    cases: list[SuiteCase] = []
    for e, base, plus in plan:
        ok_base = next(results).passed
        ok_plus = next(results).passed if plus is not None else None
        bug_base = next(results).passed
        bug_plus = next(results).passed if plus is not None else None
        if not ok_base or ok_plus is False:
            problems.append(f"{e.id}: the correct program fails (base {ok_base}, plus {ok_plus})")
            continue
        if bug_base and bug_plus is not False:
            problems.append(f"{e.id}: the buggy program passes every test")
            continue
        lines = fix_lines(e.buggy, e.correct)
        extra = [] if bug_base is False else ["fails the plus tests only"]
        if plus is None and (PLUS_DATASET[e.dataset], e.task_id) in tasks:
            extra.append("no plus check: the EvalPlus task has another signature")
        notes = "; ".join([e.notes, *extra] if e.notes else extra)
        obj: dict[str, Any] = {
            "id": e.id,
            "dataset": e.dataset,
            "task_id": e.task_id,
            "source": "handwritten",
            "sampling": None,
            "completion": None,
            "candidate": e.buggy,
            "fixed": e.correct,
            "fix_diff": fix_diff(e.buggy, e.correct),
            "fix_lines": lines,
            "label": label_of(e.buggy, lines),
            "bug_kind": e.kind,
            "verified": {
                "candidate_fails": True,
                "fixed_base": True,
                "fixed_plus": ok_plus,
                "candidate_fails_base": not bug_base,
            },
            "notes": notes,
            "reference_similarity": reference_similarity(e.correct, base),
        }
        cases.append(parse_case(obj))
    return cases, problems


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m egca.bench.suite_build", description=__doc__.splitlines()[0])
    ap.add_argument("source", help="TOML source of cases")
    ap.add_argument("out", help="the suite file to write (JSON Lines)")
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--keep-going", action="store_true", help="write the cases that verify, list the rest")
    args = ap.parse_args(argv)
    entries = read_source(args.source)
    with Sandbox(workers=args.workers) as sandbox:
        cases, problems = build(entries, sandbox)
    for p in problems:
        print(f"NOT VERIFIED {p}", file=sys.stderr)
    if problems and not args.keep_going:
        return 1
    with open(args.out, "w", encoding="utf-8") as f:
        for c in cases:
            f.write(json.dumps(c.to_dict()) + "\n")
    kinds: dict[str, int] = {}
    for c in cases:
        kinds[c.bug_kind] = kinds.get(c.bug_kind, 0) + 1
    print(f"{len(cases)} cases written to {args.out}; per kind: {dict(sorted(kinds.items()))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
