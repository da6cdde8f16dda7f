"""Sample completions from a local Hugging Face model (vLLM when installed, transformers otherwise)."""

from __future__ import annotations

import importlib.util
import re
import sys
import time
import warnings
from typing import Any

from egca.models.registry import ModelNotFoundError, check_model_path

__all__ = ["BACKENDS", "ModelNotFoundError", "check_model_path", "generate_completions", "resolve_backend"]

BACKENDS: tuple[str, ...] = ("auto", "vllm", "transformers")


def resolve_backend(backend: str) -> str:
    """``"auto"`` becomes ``"vllm"`` when vLLM is importable, else ``"transformers"``.

    Only checks that the package exists: vLLM itself is imported when generating.
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r} (expected one of {', '.join(BACKENDS)})")
    has_vllm = importlib.util.find_spec("vllm") is not None
    if backend == "auto":
        return "vllm" if has_vllm else "transformers"
    if backend == "vllm" and not has_vllm:
        raise ValueError("backend 'vllm' requested but vLLM is not installed (use 'transformers')")
    return backend


def generate_completions(
    model_path: str,
    prompts: list[str],
    n: int,
    temperature: float,
    top_p: float,
    max_new_tokens: int,
    batch_size: int,
    seed: int,
    backend: str = "auto",
    progress: bool = True,
    stop_after_code: bool = False,
) -> list[list[str]]:
    """``n`` completions for each prompt (``result[i][j]``: sample ``j`` of prompt ``i``).

    ``temperature == 0`` is greedy decoding: with ``n > 1`` all samples would be identical, so a
    warning is given and each prompt is decoded once, then repeated ``n`` times. Otherwise samples
    are drawn with ``temperature`` and nucleus ``top_p`` (no top-k, no repetition penalty: the
    model's own generation defaults are not applied), reproducibly for a given ``seed`` and
    ``batch_size`` (``transformers.set_seed`` seeds Python, NumPy and torch globally). Generation
    stops at EOS (the tokenizer's and the checkpoint's) or after ``max_new_tokens``; only the new
    tokens are decoded, without special tokens. Prompts are tokenized without adding special tokens
    when they already start with the BOS token (chat templates), with them otherwise.

    ``batch_size`` is the number of sequences per ``generate`` call (transformers backend).

    ``stop_after_code`` (transformers backend): a sequence also stops once its text holds a closed
    Markdown code block with a ``def`` in it (:func:`closes_code_block`), so the prose a chat model
    writes after its code is not generated. The tokens up to that point are sampled exactly as
    without it; only the tail is cut.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1 (n={n})")
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0 (temperature={temperature})")
    if not 0 < top_p <= 1:
        raise ValueError(f"top_p must be in (0, 1] (top_p={top_p})")
    if max_new_tokens < 1 or batch_size < 1:
        raise ValueError(f"max_new_tokens and batch_size must be >= 1 ({max_new_tokens=}, {batch_size=})")
    path = check_model_path(model_path)
    backend = resolve_backend(backend)
    if not prompts:
        return []
    n_gen = n
    if temperature == 0 and n > 1:
        warnings.warn(
            f"greedy decoding (temperature=0) with n={n}: all samples of a prompt are identical; "
            "decoding once and repeating it",
            stacklevel=2,
        )
        n_gen = 1
    args = (str(path), prompts, n_gen, temperature, top_p, max_new_tokens, seed)
    if backend == "vllm":
        outs = _generate_vllm(*args, progress=progress)
    else:
        outs = _generate_transformers(
            *args, batch_size=batch_size, progress=progress, stop_after_code=stop_after_code
        )
    return [o * n if n_gen == 1 else o for o in outs]


def _encode(tokenizer: Any, prompt: str) -> list[int]:
    """Token ids of ``prompt``; BOS is not added twice when the text already starts with it."""
    bos = tokenizer.bos_token
    add_special = not (bos and prompt.startswith(bos))
    ids: list[int] = tokenizer(prompt, add_special_tokens=add_special)["input_ids"]
    return ids


def _generate_transformers(
    path: str,
    prompts: list[str],
    n: int,
    temperature: float,
    top_p: float,
    max_new_tokens: int,
    seed: int,
    *,
    batch_size: int,
    progress: bool,
    stop_after_code: bool = False,
) -> list[list[str]]:
    import torch
    from tqdm.auto import tqdm
    from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig, set_seed
    from transformers.utils import logging as hf_logging

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    show = progress and sys.stderr.isatty()
    hf_bars = hf_logging.is_progress_bar_enabled()
    if not show:  # also silence transformers' "Loading weights" bar while loading
        hf_logging.disable_progress_bar()
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        model: Any = AutoModelForCausalLM.from_pretrained(path, local_files_only=True, dtype=dtype)
    finally:
        if hf_bars:
            hf_logging.enable_progress_bar()
    model.to(device).eval()
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0

    # Stop at every EOS the checkpoint declares and at the tokenizer's; drop the checkpoint's
    # sampling defaults (top_k, repetition_penalty, ...) so that only the requested ones apply.
    eos: list[int] = []
    for ids in (model.generation_config.eos_token_id, tokenizer.eos_token_id):
        for i in ids if isinstance(ids, list) else [ids]:
            if i is not None and i not in eos:
                eos.append(int(i))
    model.generation_config = GenerationConfig(
        bos_token_id=model.generation_config.bos_token_id,
        eos_token_id=eos or None,
        pad_token_id=pad_id,
    )
    sampling: dict[str, Any] = {"do_sample": False}
    if temperature > 0:
        sampling = {"do_sample": True, "temperature": temperature, "top_p": top_p, "top_k": 0}

    encoded = [_encode(tokenizer, p) for p in prompts]
    if empty := [i for i, ids in enumerate(encoded) if not ids]:
        raise ValueError(f"prompts {empty[:5]} are empty (no tokens)")
    rows = [(i, ids) for i, ids in enumerate(encoded) for _ in range(n)]
    outs: list[list[str]] = [[] for _ in prompts]
    set_seed(seed)
    bar = tqdm(total=len(rows), desc="generating", unit="sample", disable=not show)
    plain = PlainProgress(len(rows)) if progress and not show else None
    with torch.inference_mode(), bar:
        for start in range(0, len(rows), batch_size):
            batch = rows[start : start + batch_size]
            width = max(len(ids) for _, ids in batch)  # left padding: new tokens start at `width`
            input_ids = [[pad_id] * (width - len(ids)) + ids for _, ids in batch]
            mask = [[0] * (width - len(ids)) + [1] * len(ids) for _, ids in batch]
            gen = model.generate(
                input_ids=torch.tensor(input_ids, device=device),
                attention_mask=torch.tensor(mask, device=device),
                max_new_tokens=max_new_tokens,
                stopping_criteria=[_CodeBlockStop(tokenizer, width)] if stop_after_code else None,
                **sampling,
            )
            texts = tokenizer.batch_decode(gen[:, width:], skip_special_tokens=True)
            for (i, _), text in zip(batch, texts, strict=True):
                outs[i].append(text)
            bar.update(len(batch))
            if plain is not None:
                plain.update(start + len(batch))
    return outs


_CLOSED_BLOCK = re.compile(r"^[ \t]*```[^\n`]*\n(?P<body>.*?)^[ \t]*```", re.DOTALL | re.MULTILINE)


def closes_code_block(text: str) -> bool:
    """True when ``text`` holds a closed Markdown code block (fenced with three backticks) whose
    body defines a function."""
    return any("def " in m.group("body") for m in _CLOSED_BLOCK.finditer(text))


class _CodeBlockStop:
    """A per-sequence stopping criterion: the new text (from column ``start``) closes a code block."""

    def __init__(self, tokenizer: Any, start: int) -> None:
        self.tokenizer = tokenizer
        self.start = start

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        import torch

        texts = self.tokenizer.batch_decode(input_ids[:, self.start :], skip_special_tokens=True)
        return torch.tensor([closes_code_block(t) for t in texts], dtype=torch.bool, device=input_ids.device)


class PlainProgress:
    """Progress as plain lines on stderr, for logs of background runs (stderr not a terminal).

    ``update(done)`` prints ``generating: done/total samples, elapsed, rate`` at most every
    ``every_s`` seconds, and always when ``done`` reaches ``total``; it returns True when it printed.
    """

    def __init__(self, total: int, every_s: float = 60.0, file: Any = None) -> None:
        self.total = total
        self.every_s = every_s
        self.file = file
        self.t0 = time.perf_counter()
        self._last = self.t0

    def update(self, done: int) -> bool:
        now = time.perf_counter()
        if done < self.total and now - self._last < self.every_s:
            return False
        self._last = now
        elapsed = now - self.t0
        rate = done / elapsed if elapsed > 0 else 0.0
        print(
            f"generating: {done}/{self.total} samples, {elapsed:.0f} s, {rate:.2f} samples/s",
            file=self.file or sys.stderr,
            flush=True,
        )
        return True


def _generate_vllm(
    path: str,
    prompts: list[str],
    n: int,
    temperature: float,
    top_p: float,
    max_new_tokens: int,
    seed: int,
    *,
    progress: bool,
) -> list[list[str]]:
    # Not covered by the test suite: vLLM is not installed where the tests run.
    from vllm import LLM, SamplingParams

    llm = LLM(model=path, seed=seed)
    params = SamplingParams(n=n, temperature=temperature, top_p=top_p, max_tokens=max_new_tokens, seed=seed)
    tokenizer = llm.get_tokenizer()
    inputs: Any = [{"prompt_token_ids": _encode(tokenizer, p)} for p in prompts]
    results = llm.generate(inputs, params, use_tqdm=progress)
    return [[c.text for c in r.outputs] for r in results]
