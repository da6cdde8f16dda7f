"""The localization suite format: diffs, fix lines, labels, and the shipped rollout suite."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from egca.bench.rollout_suite import apply_edits
from egca.bench.suite_format import (
    SuiteFormatError,
    apply_diff,
    fix_diff,
    fix_lines,
    is_single_location,
    load_suite,
    validate_case,
)

PROGRAM = """def total(xs):
    s = 1
    for x in xs:
        if x > 0:
            s += x
    return s
"""


def test_fix_diff_is_a_zero_context_unified_diff_that_applies_back() -> None:
    fixed = PROGRAM.replace("s = 1", "s = 0")
    diff = fix_diff(PROGRAM, fixed)
    assert diff == "--- candidate\n+++ fixed\n@@ -2 +2 @@\n-    s = 1\n+    s = 0\n"
    assert apply_diff(PROGRAM, diff) == fixed
    assert fix_diff(PROGRAM, None) == ""


def test_diff_round_trips_a_last_line_without_newline() -> None:
    cand = PROGRAM.rstrip("\n")
    fixed = cand.replace("return s", "return s * 2")
    diff = fix_diff(cand, fixed)
    assert "\\ No newline at end of file" in diff
    assert apply_diff(cand, diff) == fixed
    # adding the missing newline is a change too, and round-trips
    assert apply_diff(cand, fix_diff(cand, cand + "\n")) == cand + "\n"


def test_apply_diff_rejects_a_diff_of_another_program() -> None:
    diff = fix_diff(PROGRAM, PROGRAM.replace("s = 1", "s = 0"))
    with pytest.raises(SuiteFormatError, match="does not match"):
        apply_diff(PROGRAM.replace("s = 1", "s = 5"), diff)


@pytest.mark.parametrize(
    ("edits", "expected_lines", "single"),
    [
        ([[2, "replace", "    s = 0"]], [2], True),  # a changed line
        ([[4, "replace", "        if x >= 0:"]], [4], True),  # a compound statement's header
        ([[5, "delete"]], [5], True),
        # a guard inserted before line 2: the statement after the insertion point
        ([[2, "before", "    if not xs:\n        return 0"]], [2], True),
        # an insertion that ends the loop body: the statement before it
        ([[5, "after", "        s += 1"]], [5], True),
        # a moved statement: its line in the candidate
        ([[6, "delete"], [5, "after", "            return s"]], [6], True),
        ([[2, "replace", "    s = 0"], [6, "replace", "    return -s"]], [2, 6], False),
        ([[3, "replace", "    for x in sorted(xs):"], [5, "replace", "            s -= x"]], [3, 5], False),
    ],
)
def test_fix_lines_and_single_location(edits: list, expected_lines: list[int], single: bool) -> None:
    fixed = apply_edits(PROGRAM, edits)
    assert fix_lines(PROGRAM, fixed) == expected_lines
    assert is_single_location(PROGRAM, expected_lines) is single


def test_a_statement_over_several_lines_is_one_location() -> None:
    cand = "def f(a, b):\n    return (a +\n            b)\n"
    assert is_single_location(cand, [2, 3])
    assert not is_single_location(cand, [1, 2])


def test_apply_edits_keeps_numbering_of_the_original_and_the_missing_final_newline() -> None:
    cand = "a = 1\nb = 2\nc = 3"
    out = apply_edits(cand, [[3, "replace", "c = 4"], [1, "before", "z = 0"], [2, "delete"]])
    assert out == "z = 0\na = 1\nc = 4"
    with pytest.raises(ValueError, match="outside"):
        apply_edits(cand, [[4, "replace", "x"]])
    with pytest.raises(ValueError, match="twice"):
        apply_edits(cand, [[1, "delete"], [1, "replace", "x"]])


def _row(**over: object) -> dict:
    fixed = PROGRAM.replace("s = 1", "s = 0")
    row = {
        "id": "t/1",
        "dataset": "mbpp",
        "task_id": "Mbpp/1",
        "source": "handwritten",
        "sampling": None,
        "completion": None,
        "candidate": PROGRAM,
        "fixed": fixed,
        "fix_diff": fix_diff(PROGRAM, fixed),
        "fix_lines": [2],
        "label": "single",
        "bug_kind": "wrong_initial_value",
        "verified": {"candidate_fails": True, "fixed_base": True, "fixed_plus": None},
        "notes": "",
    }
    row.update(over)
    return row


def test_validate_accepts_a_good_row_and_names_each_broken_field() -> None:
    assert validate_case(_row()).fix_lines == [2]
    bad = [
        (_row(fix_lines=[3]), "fix_lines differ"),
        (_row(fix_lines=[9]), "outside"),
        (_row(label="multi", bug_kind="multi"), "single=True"),
        (_row(bug_kind="typo"), "bug_kind"),
        (_row(fix_diff=fix_diff(PROGRAM, PROGRAM.replace("s = 1", "s = 2"))), "does not give fixed"),
        (_row(fixed=None), "different fixed"),
        (_row(label="algorithm", bug_kind="algorithm"), "no fix"),
        (_row(verified={"candidate_fails": True, "fixed_base": False, "fixed_plus": None}), "fixed_base"),
        ({k: v for k, v in _row().items() if k != "notes"}, "missing field 'notes'"),
    ]
    for row, message in bad:
        with pytest.raises(SuiteFormatError, match=message):
            validate_case(row)


def test_load_suite_rejects_duplicate_ids(tmp_path: Path) -> None:
    p = tmp_path / "s.jsonl"
    p.write_text(json.dumps(_row()) + "\n" + json.dumps(_row()) + "\n")
    with pytest.raises(SuiteFormatError, match="duplicate id"):
        load_suite(p)


def _rollout(task_id: str, completion: str, index: int = 0) -> dict:
    return {
        "source": "qwen2.5-coder-0.5b-instruct",
        "dataset": "mbpp",
        "split": "test",
        "task_id": task_id,
        "chunk": 0,
        "index": index,
        "sampling": {
            "temperature": 0.8,
            "top_p": 0.95,
            "max_new_tokens": 512,
            "seed": 1,
            "prompt_style": "chat",
        },
        "completion": completion,
    }


@pytest.mark.slow
def test_candidates_build_and_verify_on_real_tasks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from egca.bench.suite_tools import main

    wrong = "Here you go:\n```python\ndef square_perimeter(a):\n    p = 2 * a\n    return p\n```\nDone."
    rollouts = [
        _rollout("Mbpp/17", wrong),
        _rollout("Mbpp/17", wrong, 1),  # the same program again: kept once
        _rollout("Mbpp/17", "```python\ndef square_perimeter(a):\n    return 4 * a\n```", 2),  # passes
        _rollout("Mbpp/17", "```python\ndef square_perimeter(a):\n    return a.x\n```", 3),  # raises
    ]
    raw = tmp_path / "raw.jsonl"
    raw.write_text("".join(json.dumps(r) + "\n" for r in rollouts))
    cands = tmp_path / "cands.jsonl"
    assert main(["candidates", str(raw), "--out", str(cands), "--workers", "1"]) == 0
    kept = [json.loads(ln) for ln in cands.read_text().splitlines()]
    assert [r["id"] for r in kept] == ["rollouts/qwen2.5-coder-0.5b-instruct/Mbpp/17/0"]
    assert kept[0]["candidate"] == "def square_perimeter(a):\n    p = 2 * a\n    return p\n"
    labels = tmp_path / "labels.jsonl"
    good = {
        "id": kept[0]["id"],
        "edits": [[2, "replace", "    p = 4 * a"]],
        "label": "single",
        "bug_kind": "wrong_constant",
    }
    labels.write_text(json.dumps(good) + "\n")
    suite = tmp_path / "suite.jsonl"
    assert main(["build", str(cands), str(labels), "--out", str(suite), "--workers", "1", "--strict"]) == 0
    (case,) = load_suite(suite)
    assert case.fix_lines == [2] and case.fixed == "def square_perimeter(a):\n    p = 4 * a\n    return p\n"
    assert case.verified == {"candidate_fails": True, "fixed_base": True, "fixed_plus": True}
    assert main(["verify", str(suite), "--workers", "1"]) == 0
    # a fix that does not pass the tests is rejected, and --strict makes that an error
    bad = {**good, "edits": [[2, "replace", "    p = 3 * a"]]}
    labels.write_text(json.dumps(bad) + "\n")
    assert main(["build", str(cands), str(labels), "--out", str(suite), "--workers", "1", "--strict"]) == 1
    assert "REJECTED" in capsys.readouterr().err and load_suite(suite) == []
