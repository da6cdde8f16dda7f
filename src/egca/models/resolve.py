"""A model name, folder or hub id -> a local Hugging Face model folder (preparing registry models)."""

from __future__ import annotations

import os
import re
from pathlib import Path

from egca.models.prepare import prepare
from egca.models.registry import MODELS, TESTBED_MODEL, ModelNotFoundError, model_path
from egca.testbed import prepare as testbed


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
        return testbed.prepare_testbed(progress=progress).policy
    if text in MODELS:
        found = model_path(text, cache)
        if found is not None:
            return found
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
