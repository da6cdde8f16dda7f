"""Pretrained models obtainable offline: the registry, and preparing them into Hugging Face folders."""

from egca.models.prepare import ChecksumError, DownloadError, PrepareError, prepare
from egca.models.registry import (
    DEFAULT_MODEL,
    MODELS,
    ModelSpec,
    cache_dir,
    get_spec,
    model_path,
    resolve_model,
)

__all__ = [
    "DEFAULT_MODEL",
    "MODELS",
    "ChecksumError",
    "DownloadError",
    "ModelSpec",
    "PrepareError",
    "cache_dir",
    "get_spec",
    "model_path",
    "prepare",
    "resolve_model",
]
