"""The testbed's cache: task files, the verified corpus and the pretrained policy, each built once.

The cache (``$EGCA_CACHE_DIR/testbed`` or ``~/.cache/egca/testbed``) holds the tasks
(``tasks-<key>/train.jsonl``, ``heldout.jsonl``), the corpus (``corpus-<key>.jsonl``) and the model
(``policy-<key>/``, a plain Hugging Face folder with its tokenizer and ``egca-testbed.json``), each
keyed by a hash of what it is made from (configurations; the corpus file for the policy).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from egca.execution import Sandbox
from egca.testbed.corpus import CorpusConfig, build_corpus, read_corpus, write_corpus
from egca.testbed.family import SPLITS, TestbedConfig, write_tasks
from egca.testbed.policy import METADATA, PolicyConfig, pretrain


@dataclass(frozen=True)
class Testbed:
    """Where a prepared testbed lives: its task files, corpus and policy folder."""

    train_tasks: Path
    heldout_tasks: Path
    corpus: Path
    policy: Path

    def metadata(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.policy / METADATA).read_text(encoding="utf-8"))
        return data


def cache_root() -> Path:
    root = os.environ.get("EGCA_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "egca")
    return Path(root) / "testbed"


def _hash(*parts: str) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p.encode("utf-8"))
        h.update(b"\0")
    return h.hexdigest()[:16]


def prepare_testbed(
    testbed: TestbedConfig | None = None,
    corpus: CorpusConfig | None = None,
    policy: PolicyConfig | None = None,
    cache: str | os.PathLike[str] | None = None,
    progress: bool = True,
) -> Testbed:
    """Tasks, corpus and pretrained policy for these configurations, from the cache or built now."""
    testbed, corpus, policy = testbed or TestbedConfig(), corpus or CorpusConfig(), policy or PolicyConfig()
    root = Path(cache) if cache is not None else cache_root()
    root.mkdir(parents=True, exist_ok=True)
    tasks = prepare_task_files(testbed, root)
    corpus_path = root / f"corpus-{_hash(testbed.key(), json.dumps(asdict(corpus), sort_keys=True))}.jsonl"
    if not corpus_path.is_file():
        with Sandbox() as sandbox:
            built = build_corpus(testbed, corpus, sandbox)
        tmp = corpus_path.with_suffix(".tmp")
        write_corpus(built, tmp)
        tmp.replace(corpus_path)
    corpus_sha = hashlib.sha256(corpus_path.read_bytes()).hexdigest()
    policy_dir = root / f"policy-{_hash(json.dumps(asdict(policy), sort_keys=True), corpus_sha)}"
    if not (policy_dir / METADATA).is_file():
        data = read_corpus(corpus_path)
        _atomic_dir(policy_dir, lambda tmp: pretrain(data, policy, tmp, progress=progress))
    return Testbed(tasks["train"], tasks["heldout"], corpus_path, policy_dir)


def prepare_task_files(
    testbed: TestbedConfig | None = None, cache: str | os.PathLike[str] | None = None
) -> dict[str, Path]:
    """The task files (``train``, ``heldout``) of ``testbed``, from the cache or written now."""
    testbed = testbed or TestbedConfig()
    root = Path(cache) if cache is not None else cache_root()
    folder = root / f"tasks-{_hash(testbed.key())}"
    if not (folder / "heldout.jsonl").is_file():
        root.mkdir(parents=True, exist_ok=True)
        _atomic_dir(folder, lambda tmp: write_tasks(testbed, tmp))
    return {split: folder / f"{split}.jsonl" for split in SPLITS}


def _atomic_dir(final: Path, build: Any) -> None:
    """Build into a sibling temporary folder, then rename it (a kill leaves no half folder)."""
    tmp = final.with_name(final.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    build(tmp)
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)
