"""The benchmark data shipped in the package, and where egca looks for data and caches."""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
from pathlib import Path

import pytest

from egca import paths
from egca.tasks import load_tasks

# Hashes of the upstream files (uncompressed where the package stores a gzip of them), as published
# with the copies the package was built from; the package must hold exactly these bytes.
UPSTREAM = {
    "mbpp/mbpp.jsonl.gz": ("0b7004a79cd62d9ec7ecdd5a6e5f0ef1210ff00b286df3c5d5b57bf38c58e19a", True),
    "mbpp/sanitized-mbpp.json.gz": ("ca95deaa9a01ef0a6f439f88bcf0dd3db3563d22f22aad6cae04ebb9a8d8c8e9", True),
    "humanevalplus/HumanEvalPlus.jsonl.gz": (
        "272720b90ac375502c8ed23cd791c2a93dfb22a911641a494da74a426c09f101",
        False,
    ),
    "humanevalplus/HumanEvalPlus-Mini.jsonl.gz": (
        "91486741f1627101021fbe50523df08eebb5b0bf5e804b633dcd5ca3c14dbd2f",
        False,
    ),
    "mbppplus/MbppPlus-v0.1.0.json.gz": (
        "f7ac9d4027a26c771c06d2e0129636a76d11b95decc7a676c6a7bb52daf2ed95",
        True,
    ),
    "mbppplus/MbppPlus-v0.2.0.jsonl.gz": (
        "3d2453535ab04d376fc6400bdbc72b1075f6f7fd9f33bec66ec6f18577481b3a",
        True,
    ),
}


@pytest.fixture
def no_data_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(paths.DATA_DIR_ENV, raising=False)


def test_packaged_files_are_the_upstream_bytes(no_data_env: None) -> None:
    folder = paths.packaged_data_dir()
    assert folder.is_relative_to(Path(paths.__file__).parent)
    stored = sorted(str(p.relative_to(folder)) for p in folder.rglob("*.gz"))
    assert stored == sorted(UPSTREAM)
    for name, (digest, compressed_here) in UPSTREAM.items():
        data = (folder / name).read_bytes()
        content = gzip.decompress(data) if compressed_here else data
        assert hashlib.sha256(content).hexdigest() == digest, name
    assert paths.verify_packaged_data() == []
    notice = (folder / "README.md").read_text(encoding="utf-8")
    for licence in ("CC-BY-4.0", "Apache-2.0", "MIT"):
        assert licence in notice
    for name, (digest, _) in UPSTREAM.items():
        assert name in notice and digest in notice


def test_verify_reports_a_changed_or_missing_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    copy = tmp_path / "data"
    shutil.copytree(paths.packaged_data_dir(), copy)
    monkeypatch.setattr(paths, "packaged_data_dir", lambda: copy)
    assert paths.verify_packaged_data() == []
    mini = copy / "humanevalplus" / "HumanEvalPlus-Mini.jsonl.gz"
    data = mini.read_bytes()
    mini.write_bytes(data[:100] + bytes([data[100] ^ 1]) + data[101:])
    (copy / "mbpp" / "mbpp.jsonl.gz").unlink()
    assert paths.verify_packaged_data() == [
        "humanevalplus/HumanEvalPlus-Mini.jsonl.gz: sha256 differs from SHA256SUMS",
        "mbpp/mbpp.jsonl.gz: missing",
    ]


def test_packaged_counts(no_data_env: None) -> None:
    # counts from the MBPP README / Hugging Face splits and the EvalPlus releases
    assert [len(load_tasks("mbpp", split=s)) for s in ("prompt", "test", "validation", "train")] == [
        10,
        500,
        90,
        374,
    ]
    assert len(load_tasks("mbpp-sanitized", split="test")) == 257
    assert len(load_tasks("humaneval-plus")) == 164
    assert len(load_tasks("mbpp-plus")) == 378


def _mbpp_rows(n: int) -> list[str]:
    with gzip.open(paths.packaged_data_dir() / "mbpp" / "mbpp.jsonl.gz", "rt", encoding="utf-8") as f:
        return [next(f) for _ in range(n)]


def test_data_dir_env_replaces_the_packaged_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "mbpp").mkdir()
    (tmp_path / "mbpp" / "mbpp.jsonl").write_text("".join(_mbpp_rows(12)), encoding="utf-8")
    monkeypatch.setenv(paths.DATA_DIR_ENV, str(tmp_path))
    assert [t.task_id for t in load_tasks("mbpp", split="test")] == ["Mbpp/11", "Mbpp/12"]
    # compressed copies are found too
    (tmp_path / "mbpp" / "mbpp.jsonl").unlink()
    (tmp_path / "mbpp" / "mbpp.jsonl.gz").write_bytes(gzip.compress("".join(_mbpp_rows(11)).encode()))
    assert [t.task_id for t in load_tasks("mbpp", split="test")] == ["Mbpp/11"]
    # a file the folder lacks is an error naming the variable, not a silent fall-back
    with pytest.raises(FileNotFoundError, match=r"mbppplus/MbppPlus-v0\.2\.0\.jsonl.*EGCA_DATA_DIR"):
        load_tasks("mbpp-plus")


def test_data_path_wins_over_the_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(paths.DATA_DIR_ENV, str(tmp_path))  # an empty folder
    own = tmp_path / "mine.jsonl"
    own.write_text("".join(_mbpp_rows(3)), encoding="utf-8")
    assert [t.task_id for t in load_tasks("mbpp", split="prompt", path=own)] == ["Mbpp/1", "Mbpp/2", "Mbpp/3"]


def test_a_shared_folder_around_is_ignored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_data_env: None
) -> None:
    # the layout older versions searched for: ./shared/data next to the working directory
    fake = tmp_path / "shared" / "data" / "mbpp"
    fake.mkdir(parents=True)
    row = json.loads(_mbpp_rows(1)[0])
    (fake / "mbpp.jsonl").write_text(json.dumps({**row, "task_id": 11}) + "\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert len(load_tasks("mbpp", split="test")) == 500


def test_cache_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(paths.CACHE_DIR_ENV, str(tmp_path))
    assert paths.cache_dir() == tmp_path
    monkeypatch.delenv(paths.CACHE_DIR_ENV)
    assert paths.cache_dir() == Path.home() / ".cache" / "egca"
