"""Generation with tiny random models on CPU, prompt building, and the tiny test helpers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from transformers import PreTrainedTokenizerFast

from egca.eval.generate import ModelNotFoundError, check_model_path, generate_completions, resolve_backend
from egca.eval.prompts import CODE_TEMPLATE, TEXT_TEMPLATE, build_prompt, is_code_prompt, resolve_style
from egca.tasks.task import Task
from tests.tiny import (  # noqa: F401 (pytest fixtures)
    IM_END,
    make_tiny_model,
    tiny_model_path_fixture,
    tiny_tokenizer_fixture,
    train_tokenizer,
)

os.environ["HF_HUB_OFFLINE"] = "1"

PROMPTS = [
    "def add(a, b):\n",
    "Write a function to find the shared elements from the given two lists.",
    "class Stack:\n    def push(self, item):\n        self.items",
]
HUMANEVAL_PROMPT = 'def fib(n: int) -> int:\n    """Return the n-th Fibonacci number."""\n'
MBPP_PROMPT = "Write a python function to identify non-prime numbers."


def _gen(path: str, **kw: object) -> list[list[str]]:
    args: dict[str, object] = dict(
        n=1, temperature=0.0, top_p=1.0, max_new_tokens=12, batch_size=4, seed=0, progress=False
    )
    args.update(kw)
    return generate_completions(path, PROMPTS, **args)  # type: ignore[arg-type]


def _task(prompt: str) -> Task:
    return Task(task_id="t/0", prompt=prompt, entry_point="f", reference="", tests=())


# --- generation -----------------------------------------------------------------------------------


def test_n_completions_per_prompt(tiny_model_path: str) -> None:
    out = _gen(tiny_model_path, n=3, temperature=1.0, top_p=0.95)
    assert len(out) == len(PROMPTS)
    assert all(len(o) == 3 and all(isinstance(c, str) for c in o) for o in out)
    assert any(c for o in out for c in o)  # a random model over 768 tokens rarely emits EOS at once


def test_greedy_is_deterministic(tiny_model_path: str) -> None:
    assert _gen(tiny_model_path) == _gen(tiny_model_path)


def test_greedy_with_n_warns_and_repeats(tiny_model_path: str) -> None:
    with pytest.warns(UserWarning, match="greedy"):
        out = _gen(tiny_model_path, n=3)
    assert out == [o * 3 for o in _gen(tiny_model_path)]


def test_sampling_is_reproducible_with_a_seed(tiny_model_path: str) -> None:
    kw: dict[str, object] = dict(n=2, temperature=1.0, top_p=0.95, seed=123)
    first = _gen(tiny_model_path, **kw)
    assert _gen(tiny_model_path, **kw) == first
    assert _gen(tiny_model_path, **{**kw, "seed": 124}) != first
    assert first != _gen(tiny_model_path)  # sampled, not greedy


def test_greedy_does_not_depend_on_batch_size(tiny_model_path: str) -> None:
    # Exact equality holds here: padded positions are masked and position ids follow the attention
    # mask, the model runs in fp32, and the random weights (initializer_range 0.2) leave wide gaps
    # between the top logits, so the tiny numerical differences of other shapes never flip an argmax.
    # (With bf16 on GPU, left padding can change greedy outputs of real models slightly.)
    assert _gen(tiny_model_path, batch_size=1) == _gen(tiny_model_path, batch_size=3)


def test_stops_at_the_checkpoints_eos_ids(tmp_path: Path) -> None:
    """A model that always emits token A or B (both declared EOS): exactly one new token."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    src = make_tiny_model(tmp_path, "qwen2")
    tok = AutoTokenizer.from_pretrained(src)
    model = AutoModelForCausalLM.from_pretrained(src)
    (a,), (b,) = tok.encode("def"), tok.encode(" return")  # one token each
    with torch.no_grad():
        # last hidden state = (s, 0, ..., 0) with s != 0, so the argmax is A (s > 0) or B (s < 0)
        model.model.norm.weight.zero_()
        model.model.norm.weight[0] = 1.0
        model.lm_head.weight.zero_()
        model.lm_head.weight[a, 0] = 10.0
        model.lm_head.weight[b, 0] = -10.0
    model.generation_config.eos_token_id = [a, b]
    dst = tmp_path / "eos"
    model.save_pretrained(dst)
    tok.save_pretrained(dst)
    out = _gen(str(dst), max_new_tokens=8)
    assert all(o[0] in {"def", " return"} for o in out), out
    assert json.loads((dst / "generation_config.json").read_text())["eos_token_id"] == [a, b]


def test_chat_prompts_generate(tiny_model_path: str, tiny_tokenizer: PreTrainedTokenizerFast) -> None:
    prompts = [build_prompt(_task(p), tiny_tokenizer, "chat") for p in (HUMANEVAL_PROMPT, MBPP_PROMPT)]
    out = generate_completions(
        tiny_model_path, prompts, n=1, temperature=0, top_p=1, max_new_tokens=6, batch_size=2, seed=0
    )
    assert len(out) == 2 and all(len(o) == 1 for o in out)
    assert all(IM_END not in o[0] for o in out)


# --- errors ---------------------------------------------------------------------------------------


def test_missing_model_errors(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(ModelNotFoundError, match=r"does not exist: .*nope"):
        _gen(str(missing))
    (tmp_path / "file").write_text("x")
    with pytest.raises(ModelNotFoundError, match="not a folder"):
        check_model_path(tmp_path / "file")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelNotFoundError, match=r"no config\.json"):
        _gen(str(tmp_path / "empty"))
    assert issubclass(ModelNotFoundError, ValueError)


def test_missing_model_fails_before_heavy_imports(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from egca.eval.generate import ModelNotFoundError, generate_completions\n"
        "try:\n"
        f"    generate_completions({str(tmp_path / 'nope')!r}, ['x'], 1, 0.0, 1.0, 4, 1, 0)\n"
        "except ModelNotFoundError:\n"
        "    pass\n"
        "assert 'torch' not in sys.modules and 'transformers' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_bad_arguments(tiny_model_path: str) -> None:
    for kw in ({"n": 0}, {"top_p": 0.0}, {"temperature": -1.0}, {"batch_size": 0}, {"backend": "x"}):
        with pytest.raises(ValueError):
            _gen(tiny_model_path, **kw)
    assert resolve_backend("transformers") == "transformers"
    assert generate_completions(tiny_model_path, [], 1, 0.0, 1.0, 4, 1, 0) == []


def test_auto_backend_without_vllm() -> None:
    try:
        import vllm  # noqa: F401
    except ImportError:
        assert resolve_backend("auto") == "transformers"
        with pytest.raises(ValueError, match="vLLM is not installed"):
            resolve_backend("vllm")
    else:  # pragma: no cover
        assert resolve_backend("auto") == "vllm"


# --- prompts --------------------------------------------------------------------------------------


def test_completion_style_is_the_raw_prompt(tiny_tokenizer: PreTrainedTokenizerFast) -> None:
    assert build_prompt(_task(HUMANEVAL_PROMPT), tiny_tokenizer, "completion") == HUMANEVAL_PROMPT


def test_chat_style_for_code_and_text(tiny_tokenizer: PreTrainedTokenizerFast) -> None:
    code = build_prompt(_task(HUMANEVAL_PROMPT), tiny_tokenizer, "chat")
    user = CODE_TEMPLATE.format(prompt=HUMANEVAL_PROMPT.rstrip())
    assert code == f"<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n"
    assert "Complete the following Python function:\n```python\ndef fib(" in code
    text = build_prompt(_task(MBPP_PROMPT), tiny_tokenizer, "chat")
    assert TEXT_TEMPLATE.format(prompt=MBPP_PROMPT) in text
    assert "system" not in code + text
    assert build_prompt(_task(MBPP_PROMPT), tiny_tokenizer, "auto") == text


def test_auto_style_without_chat_template(tmp_path: Path) -> None:
    tok = train_tokenizer(tmp_path)
    tok.chat_template = None
    assert resolve_style(tok, "auto") == "completion"
    assert build_prompt(_task(MBPP_PROMPT), tok, "auto") == MBPP_PROMPT
    with pytest.raises(ValueError, match="chat template"):
        build_prompt(_task(MBPP_PROMPT), tok, "chat")
    with pytest.raises(ValueError, match="unknown prompt style"):
        build_prompt(_task(MBPP_PROMPT), tok, "fancy")


def test_is_code_prompt() -> None:
    assert is_code_prompt(HUMANEVAL_PROMPT)
    assert is_code_prompt("import math\n\ndef f(x):\n    pass\n")
    assert not is_code_prompt(MBPP_PROMPT)
    assert not is_code_prompt('"""\nWrite a function.\nassert f(1) == 2\n"""\n')  # MBPP+: a docstring


# --- tiny helpers ---------------------------------------------------------------------------------


def test_tiny_tokenizer(tmp_path: Path) -> None:
    tok = train_tokenizer(tmp_path / "a")
    assert 512 <= len(tok) <= 1024
    assert tok.get_vocab() == train_tokenizer(tmp_path / "b").get_vocab()
    assert (tok.eos_token, tok.pad_token) == ("<|im_end|>", "<|endoftext|>")
    assert "<|im_start|>" in tok.all_special_tokens
    text = "def f(x):\n    return x + 1  # café"
    enc = tok(text, return_offsets_mapping=True)
    assert tok.decode(enc["input_ids"]) == text
    spans = enc["offset_mapping"]
    assert spans[0][0] == 0 and spans[-1][1] == len(text)
    assert all(s <= e for s, e in spans)


def test_tiny_models_are_deterministic(tmp_path: Path) -> None:
    from safetensors.torch import load_file

    a = load_file(Path(make_tiny_model(tmp_path / "a", "llama")) / "model.safetensors")
    b = load_file(Path(make_tiny_model(tmp_path / "b", "llama")) / "model.safetensors")
    assert a.keys() == b.keys() and all((a[k] == b[k]).all() for k in a)


def test_closes_code_block() -> None:
    from egca.eval.generate import closes_code_block

    assert closes_code_block("Sure:\n```python\ndef f():\n    return 1\n```")
    assert closes_code_block("```\ndef f(): pass\n```\nmore text")
    assert not closes_code_block("```python\ndef f():\n    return 1\n")  # still open
    assert not closes_code_block("```python\nx = 1\n```\n")  # no function in it
    assert not closes_code_block("def f():\n    return 1\n")  # no block at all
    assert closes_code_block("```text\nusage\n```\n```python\ndef g(): pass\n```")  # the second block


def test_stop_after_code_keeps_the_sampled_tokens(tiny_model_path: str) -> None:
    # The random tiny model never closes a code block: stopping after code changes nothing.
    kw: dict[str, object] = dict(n=2, temperature=1.0, top_p=0.95, seed=7)
    assert _gen(tiny_model_path, stop_after_code=True, **kw) == _gen(tiny_model_path, **kw)
