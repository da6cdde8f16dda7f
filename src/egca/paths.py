"""Where egca reads benchmark data and writes its caches.

Data: a dataset file given explicitly (``--data-path``, ``load_tasks(path=...)``) wins; else the
folder ``$EGCA_DATA_DIR``; else the data shipped inside the package (``egca/data``, read through
:mod:`importlib.resources`). A data folder has the layout ``mbpp/``, ``humanevalplus/``,
``mbppplus/``; each file may be stored as is or gzip-compressed (``NAME.gz``).

Cache (expected outputs of EvalPlus inputs, time floors, prepared models): ``$EGCA_CACHE_DIR``, else
``~/.cache/egca``. Nothing is ever written inside the installed package.
"""

from __future__ import annotations

import hashlib
import os
from importlib import resources
from pathlib import Path

DATA_DIR_ENV = "EGCA_DATA_DIR"
"""Environment variable naming a benchmark data folder that replaces the packaged data."""

CACHE_DIR_ENV = "EGCA_CACHE_DIR"
"""Environment variable naming egca's cache folder (default ``~/.cache/egca``)."""

CHECKSUMS = "SHA256SUMS"
"""The packaged data's manifest: ``sha256sum`` lines, paths relative to the data folder."""


def packaged_data_dir() -> Path:
    """The data folder inside the installed package."""
    folder = resources.files("egca").joinpath("data")
    if not isinstance(folder, Path):  # e.g. a zip import: files have no path of their own
        raise FileNotFoundError(
            f"egca's packaged data is not on the file system ({folder}); set {DATA_DIR_ENV} to a data folder"
        )
    return folder


def default_data_dir() -> Path:
    """``$EGCA_DATA_DIR`` when set (it must be a folder), else :func:`packaged_data_dir`."""
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        path = Path(env).expanduser()
        if not path.is_dir():
            raise FileNotFoundError(f"{DATA_DIR_ENV}={env!r} is not a directory")
        return path
    return packaged_data_dir()


def data_file(relative: str) -> Path:
    """The file ``relative`` (e.g. ``mbpp/mbpp.jsonl``) in the data folder, as is or as ``.gz``."""
    folder = default_data_dir()
    for name in (relative, relative + ".gz"):
        path = folder / name
        if path.is_file():
            return path
    where = f"{DATA_DIR_ENV}={folder}" if os.environ.get(DATA_DIR_ENV) else f"the packaged data ({folder})"
    raise FileNotFoundError(f"benchmark file {relative}(.gz) not found in {where}")


def cache_dir() -> Path:
    """``$EGCA_CACHE_DIR``, or ``~/.cache/egca``."""
    root = os.environ.get(CACHE_DIR_ENV) or os.path.join(os.path.expanduser("~"), ".cache", "egca")
    return Path(root)


def verify_packaged_data() -> list[str]:
    """Problems with the packaged data (missing files, wrong sha256), empty when all is well."""
    try:
        folder = packaged_data_dir()
        lines = (folder / CHECKSUMS).read_text(encoding="utf-8").splitlines()
    except OSError as e:
        return [f"cannot read the packaged data manifest: {e}"]
    problems: list[str] = [] if any(map(str.strip, lines)) else [f"{CHECKSUMS} lists no files"]
    for line in filter(str.strip, lines):
        digest, name = line.split(maxsplit=1)
        path = folder / name.lstrip("*")
        if not path.is_file():
            problems.append(f"{name}: missing")
        elif hashlib.sha256(path.read_bytes()).hexdigest() != digest:
            problems.append(f"{name}: sha256 differs from {CHECKSUMS}")
    return problems
