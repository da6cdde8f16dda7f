"""The built wheel works anywhere it is installed: a fresh virtual environment far from the checkout.

The wheel is built from a copy of the tracked files and installed into a new venv under the system's
temporary directory. That venv has egca's base dependencies only (the installed distributions of
their closure, linked in, so nothing is downloaded) and no torch: the commands below run on what
``pip install egca`` gives. They run from a working directory outside the checkout, without
``EGCA_DATA_DIR``, with the cache in a temporary folder.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import venv
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement

import egca

CHECKOUT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def _closure(requirements: list[str]) -> list[metadata.Distribution]:
    """The installed distributions of ``requirements`` and of what they require, extras left out."""
    seen: dict[str, metadata.Distribution] = {}
    todo = list(requirements)
    while todo:
        req = Requirement(todo.pop())
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        dist = metadata.distribution(req.name)
        key = dist.metadata["Name"].lower()
        if key not in seen:
            seen[key] = dist
            todo.extend(dist.requires or [])
    return list(seen.values())


def _link_distributions(dists: list[metadata.Distribution], target: Path) -> None:
    """Symlink each distribution's top-level files and folders (code, dist-info) into ``target``."""
    target.mkdir()
    for dist in dists:
        for top in {f.parts[0] for f in dist.files or () if f.parts[0] != ".."}:
            src = Path(str(dist.locate_file(top)))
            if src.exists() and not (target / top).exists() and top != "__pycache__":
                (target / top).symlink_to(src)


def _tracked_copy(dest: Path) -> Path:
    files = subprocess.run(
        ["git", "ls-files", "-z"], cwd=CHECKOUT, capture_output=True, check=True
    ).stdout.split(b"\0")
    for name in filter(None, files):
        src = CHECKOUT / name.decode()
        if src.is_file():
            (dest / name.decode()).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name.decode())
    return dest


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("wheel")
    assert not root.resolve().is_relative_to(CHECKOUT)
    source = _tracked_copy(root / "source")
    build = ["wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(root / "dist"), str(source)]
    subprocess.run([sys.executable, "-m", "pip", *build], check=True)
    (wheel,) = (root / "dist").glob("egca-*.whl")
    env_dir = root / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    site = Path(
        subprocess.run(
            [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    base = [r for r in metadata.requires("egca") or [] if "extra ==" not in r]
    _link_distributions(_closure(base), root / "base-site-packages")
    (site / "base-deps.pth").write_text(str(root / "base-site-packages") + "\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-index", str(wheel)],
        check=True,
    )
    work = root / "work"
    work.mkdir()
    return {"python": python, "egca": env_dir / "bin" / "egca", "site": site, "work": work, "wheel": wheel}


def _run(installed: dict[str, Path], *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EGCA_", "PYTHON"))}
    env["EGCA_CACHE_DIR"] = str(installed["work"].parent / "cache")
    return subprocess.run(
        [str(a) for a in args], cwd=installed["work"], env=env, capture_output=True, text=True, timeout=600
    )


def test_wheel_holds_the_data_and_stays_small(installed: dict[str, Path]) -> None:
    assert installed["wheel"].stat().st_size < 4 * 2**20
    out = _run(
        installed,
        installed["python"],
        "-c",
        "import egca, egca.paths as p; print(egca.__file__); print(p.verify_packaged_data())",
    )
    where, problems = out.stdout.splitlines()
    assert Path(where).is_relative_to(installed["site"]) and problems == "[]"
    out = _run(installed, installed["python"], "-c", "import torch")
    assert out.returncode != 0 and "No module named 'torch'" in out.stderr  # a minimal install


def test_installed_commands(installed: dict[str, Path]) -> None:
    package = installed["site"] / "egca"
    before = sorted(p for p in package.rglob("*") if "__pycache__" not in p.parts)
    egca_cmd = installed["egca"]

    out = _run(installed, egca_cmd, "eval", "--dataset", "mbpp", "--split", "test", "--references", "--json")
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    # MBPP test split: 500 tasks; the reference of task 341 fails its own asserts on CPython 3.8+
    # (set iteration order), the other two known-bad references (596, 642) are outside the split
    assert summary["n_tasks"] == 500 and summary["pass_at_k"]["pass@1"] == pytest.approx(499 / 500)

    out = _run(installed, egca_cmd, "eval", "--dataset", "humaneval", "--references")
    assert out.returncode == 0, out.stderr
    assert "164 samples over 164 tasks  pass@1 = 100.00%" in out.stdout

    (installed["work"] / "c.py").write_text(
        "from typing import List, Optional\n\n"
        "def longest(strings: List[str]) -> Optional[str]:\n"
        "    return min(strings, key=len) if strings else None\n"
    )
    out = _run(installed, egca_cmd, "localize", "--task", "HumanEval/12", "--candidate", "c.py", "--json")
    assert out.returncode == 0, out.stderr
    loc = json.loads(out.stdout)
    assert loc["mode"] == "logic" and loc["span"]["start_line"] == 4 and not loc["fallback"]

    out = _run(installed, egca_cmd, "models", "list", "--json")
    assert out.returncode == 0, out.stderr
    assert {m["name"] for m in json.loads(out.stdout)} == {
        "smollm2-135m-instruct",
        "qwen2.5-coder-0.5b-instruct",
    }

    # derived outputs went to the cache, nothing into the installed package
    assert sorted(p for p in package.rglob("*") if "__pycache__" not in p.parts) == before
    assert egca.__version__ in installed["wheel"].name
