"""Pretrained models obtainable offline: the registry, and preparing them into Hugging Face folders."""

from egca.models.prepare import ChecksumError, DownloadError, PrepareError, prepare
from egca.models.registry import (
    DEFAULT_MODEL,
    MODELS,
    ModelNotFoundError,
    ModelSpec,
    cache_dir,
    check_model_path,
    get_spec,
    model_path,
)
from egca.models.resolve import resolve_model

__all__ = [
    "DEFAULT_MODEL",
    "MODELS",
    "ChecksumError",
    "DownloadError",
    "ModelNotFoundError",
    "ModelSpec",
    "PrepareError",
    "cache_dir",
    "check_model_path",
    "get_spec",
    "model_path",
    "prepare",
    "resolve_model",
]
