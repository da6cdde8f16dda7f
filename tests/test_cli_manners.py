"""CLI manners: complete help, per-benchmark flags, early errors, the user's settings win; docs match code."""

from __future__ import annotations

import dataclasses
import re
import subprocess
from pathlib import Path

import pytest

from egca.cli import main
from egca.credit.schemes import SCHEMES
from egca.execution.sandbox import Sandbox
from egca.train.run import TrainSettings, load_settings

DOCS = Path(__file__).resolve().parent.parent / "docs"


def test_train_help_lists_every_setting_with_default_and_meaning(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(["train", "--help"])
    assert e.value.code == 0
    lines = capsys.readouterr().out.splitlines()
    for f in dataclasses.fields(TrainSettings):
        (i,) = [n for n, line in enumerate(lines) if re.match(rf"  {f.name}\s+\S", line)]
        default = lines[i].split(" = ", 1)[1]
        # the printed default, given back with --set, is the field's default
        assert load_settings(None, [f"{f.name}={default}"]) == TrainSettings(), f.name
        assert lines[i + 1].startswith(" " * 6) and lines[i + 1].strip(), f"{f.name} has no meaning"


@pytest.mark.parametrize(
    "argv",
    [
        ["bench", "overhead", "--limit", "5"],
        ["bench", "sandbox", "--per-kind", "1"],
        ["bench", "localize", "--config", "x.yaml"],
        ["bench", "analysis", "--repeat", "2"],
    ],
)
def test_a_flag_of_another_benchmark_is_refused(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2 and "unrecognized arguments" in capsys.readouterr().err


def test_each_benchmark_has_its_own_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["bench", "overhead", "--help"])
    out = capsys.readouterr().out
    assert "--config" in out and "--set" in out and "--limit" not in out and "--repeat" not in out


def test_bench_overhead_keeps_the_users_yaml(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    seen: list[TrainSettings] = []

    def fake_bench(settings: TrainSettings) -> dict[str, object]:  # training twice is test_bench's job
        seen.append(settings)
        return {"runs": {}, "lines": ["ok"]}

    monkeypatch.setattr("egca.bench.overhead.bench_overhead", fake_bench)
    config = tmp_path / "run.yaml"
    config.write_text("output_dir: mine\neval_dataset: mbpp-sanitized\nmax_steps: 3\n")
    assert main(["bench", "overhead", "--config", str(config), "--set", "max_steps=2"]) == 0
    (s,) = seen
    assert (s.output_dir, s.eval_dataset, s.max_steps) == ("mine", "mbpp-sanitized", 2)
    assert s.save_final_model is False  # not in the YAML: the benchmark's own default applies
    seen.clear()
    assert main(["bench", "overhead", "--set", "save_final_model=true"]) == 0
    assert seen[0].save_final_model is True and seen[0].eval_dataset is None


def test_eval_with_missing_samples_fails_before_the_sandbox(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def no_sandbox(self: Sandbox) -> Sandbox:
        raise AssertionError("the sandbox was started")

    monkeypatch.setattr(Sandbox, "__enter__", no_sandbox)
    missing = tmp_path / "missing.jsonl"
    assert main(["eval", "--dataset", "humaneval", "--samples", str(missing)]) == 2
    assert f"cannot read samples {missing}: No such file or directory" in capsys.readouterr().err
    wrong = tmp_path / "wrong.jsonl"
    wrong.write_text('{"task_id": "Mbpp/2", "completion": ""}\n')
    assert main(["eval", "--dataset", "humaneval", "--samples", str(wrong)]) == 2
    assert "not in the dataset 'humaneval': Mbpp/2" in capsys.readouterr().err


# ------------------------------------------------------------------------------ docs against code


def _backticked(text: str) -> list[str]:
    return re.findall(r"`([^`]+)`", text)


def test_training_docs_list_exactly_the_settings() -> None:
    text = (DOCS / "training.md").read_text(encoding="utf-8")
    table = text[text.index("| setting | default | meaning |") :].split("\n\n", 1)[0]
    documented = [name for row in table.splitlines()[2:] for name in _backticked(row.split("|")[1])]
    assert sorted(documented) == sorted(f.name for f in dataclasses.fields(TrainSettings))


def test_docs_name_only_schemes_that_exist() -> None:
    training = (DOCS / "training.md").read_text(encoding="utf-8")
    listed = re.search(r"`credit_scheme` \(([^;)]*)", training)
    assert listed is not None
    assert sorted(_backticked(listed.group(1))) == sorted(SCHEMES)
    method = (DOCS / "method.md").read_text(encoding="utf-8")
    section = method[method.index("## Credit schemes") :].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    assert sorted(_backticked(r.split("|")[1])[0] for r in rows) == sorted(SCHEMES)


def _tracked_text_files() -> list[Path]:
    root = DOCS.parent
    names = subprocess.run(["git", "ls-files"], cwd=root, capture_output=True, text=True, check=True).stdout
    keep = (".py", ".md", ".toml", ".sh", ".yaml", ".txt", "Makefile", "run")
    return [root / n for n in names.splitlines() if n.endswith(keep) and (root / n).is_file()]


def test_the_repository_cites_no_document_outside_it() -> None:
    outside = re.compile(r"egca-method\.md|anchors\.md|shared/docs|\.\./shared|style\.md|models\.md")
    hits = [
        f"{p.relative_to(DOCS.parent)}:{n}"
        for p in _tracked_text_files()
        if p.name != Path(__file__).name
        for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
        if outside.search(line)
    ]
    assert hits == []
    links = [
        (p, target)
        for p in _tracked_text_files()
        if p.suffix == ".md"
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", p.read_text(encoding="utf-8"))
    ]
    assert links and [f"{p.name} -> {t}" for p, t in links if not (p.parent / t).exists()] == []
