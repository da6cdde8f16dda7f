"""The HTML credit report, checked in a real headless browser."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from egca.cli import main
from egca.credit.localize import Localizer
from egca.report.html import render
from egca.report.rollouts import rollout_record
from egca.tasks.task import Task, TestCase

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
REF = "def f(xs):\n    total = 0\n    for x in xs:\n        total += x\n    return total\n"
TASK = Task("T/9", "", "f", REF, (TestCase(0, source="assert f([1, 2, 3]) == 6"),))


def chromium_dom(path) -> str:
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
    ]
    out = subprocess.run(
        [CHROMIUM, *flags, f"--user-data-dir={path.parent / 'profile'}", "--dump-dom", path.as_uri()],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return out.stdout


@pytest.fixture()
def records(sandbox):
    loc = Localizer(sandbox)
    bad = REF.replace("total += x", "total += x * 2")
    return [
        rollout_record(TASK.task_id, bad, loc.localize(TASK, bad), advantage=-0.75),
        rollout_record(TASK.task_id, REF, loc.localize(TASK, REF), advantage=0.5),
    ]


def test_records_carry_conserving_token_advantages(records):
    bad, good = records
    assert abs(sum(bad["advantages"]) + 0.75) < 1e-9 and abs(sum(good["advantages"]) - 0.5) < 1e-9
    nonzero = "".join(t for t, a in zip(bad["tokens"], bad["advantages"]) if a != 0)
    assert nonzero == "total += x * 2"
    assert bad["mode"] == "logic" and good["mode"] == "correct"


def test_page_escapes_and_highlights(records):
    page = render([{**records[0], "program": records[0]["program"] + "# <script>alert(1)</script>\n"}])
    assert "<script>alert" not in page and "&lt;script&gt;" in page
    assert '<mark class="span">total += x * 2</mark>' in page


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (.ci/run installs Debian's chromium)")
def test_report_renders_in_headless_chromium(records, tmp_path):
    page = tmp_path / "report.html"
    page.write_text(render(records), encoding="utf-8")
    dom = chromium_dom(page)
    assert dom.count('class="rollout"') == 2
    assert '<mark class="span">total += x * 2</mark>' in dom
    assert dom.count('class="tok"') == len(records[0]["tokens"]) + len(records[1]["tokens"])
    assert "failing call (probe)" in dom and "([1, 2, 3],)" in dom


def test_cli_report_from_rollouts_file(records, tmp_path, capsys):
    import json

    src = tmp_path / "rollouts.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in records))
    out = tmp_path / "r.html"
    assert main(["report", str(src), "-o", str(out)]) == 0
    assert out.read_text().count('class="rollout"') == 2
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{nope\n")
    assert main(["report", str(bad), "-o", str(out)]) == 2
    assert "bad.jsonl:1" in capsys.readouterr().err
