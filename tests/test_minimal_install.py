"""``pip install egca`` without extras: the torch-free commands run with the extras' packages absent.

Each command runs in a fresh interpreter in which importing any package of an extra (torch,
transformers, trl, ...) fails as it would if it were not installed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

EXTRAS = (
    "torch",
    "transformers",
    "trl",
    "datasets",
    "accelerate",
    "peft",
    "tokenizers",
    "safetensors",
    "gguf",
    "tensorboardX",
    "yaml",
    "matplotlib",
    "huggingface_hub",
    "vllm",
)

BLOCKER = f"""
import importlib.abc, sys
class NotInstalled(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in {EXTRAS!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}} (blocked: not in a minimal install)", name=name)
        return None
sys.meta_path.insert(0, NotInstalled())
"""

CANDIDATE = "from typing import List, Optional\n\ndef longest(strings: List[str]) -> Optional[str]:\n    return min(strings, key=len) if strings else None\n"


def run(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", BLOCKER + code], cwd=cwd, capture_output=True, text=True, timeout=300
    )


def egca(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return run(f"from egca.cli import main\nsys.exit(main({args!r}))", cwd)


def test_the_blocker_blocks(tmp_path: Path) -> None:
    out = run("import torch", tmp_path)
    assert out.returncode == 1 and "blocked: not in a minimal install" in out.stderr


def test_import_egca_and_its_light_names(tmp_path: Path) -> None:
    code = (
        "import egca\n"
        "from egca import CodeReward, ExecJob, Localizer, Sandbox, Task, load_tasks, score_completions\n"
        "print(sorted(m.split('.')[0] for m in sys.modules if m.split('.')[0] in " + repr(EXTRAS) + "))\n"
    )
    out = run(code, tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
    out = run("from egca import EGCAGRPOTrainer", tmp_path)
    assert out.returncode == 1 and "egca.EGCAGRPOTrainer needs torch" in out.stderr
    assert "pip install 'egca[train]'" in out.stderr


@pytest.mark.slow
def test_torch_free_commands(tmp_path: Path) -> None:
    (tmp_path / "p.py").write_text("def add(a, b):\n    return a - b\n")
    (tmp_path / "t.py").write_text("assert add(1, 1) == 2\nassert add(2, 0) == 2\n")
    out = egca(["exec", "p.py", "--tests", "t.py", "--json"], tmp_path)
    assert out.returncode == 1, out.stderr
    assert [t["status"] for t in json.loads(out.stdout)["tests"]] == ["failed", "passed"]

    (tmp_path / "c.py").write_text(CANDIDATE)
    out = egca(["localize", "--task", "HumanEval/12", "--candidate", "c.py", "--json"], tmp_path)
    assert out.returncode == 0, out.stderr
    loc = json.loads(out.stdout)
    assert loc["mode"] == "logic" and loc["span"]["start_line"] == 4  # the wrong return

    (tmp_path / "s.jsonl").write_text(
        json.dumps(
            {"task_id": "HumanEval/12", "completion": "    return max(strings, key=len, default=None)\n"}
        )
        + "\n"
        + json.dumps({"task_id": "HumanEval/12", "completion": "    return strings[0]\n"})
        + "\n"
    )
    out = egca(["eval", "--dataset", "humaneval", "--samples", "s.jsonl", "--k", "1", "--json"], tmp_path)
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    assert summary["n_tasks"] == 1 and summary["n_samples"] == 2
    assert summary["pass_at_k"]["pass@1"] == 0.5  # one of two samples of the one task passes

    out = egca(["report", "--candidate", "c.py", "--task", "HumanEval/12", "-o", "r.html"], tmp_path)
    assert out.returncode == 0, out.stderr
    assert "needs torch" in out.stdout
    page = (tmp_path / "r.html").read_text()
    assert "longest" in page and "return min(strings" in page


def test_public_names_resolve_in_a_full_install() -> None:
    import egca
    from egca.execution.sandbox import Sandbox
    from egca.train.trainer import EGCAGRPOTrainer

    assert set(egca.__all__) == {"__version__", *egca._EXPORTS}
    for name in egca.__all__:
        assert getattr(egca, name) is not None
    assert egca.Sandbox is Sandbox and egca.EGCAGRPOTrainer is EGCAGRPOTrainer
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        egca.nope  # noqa: B018
