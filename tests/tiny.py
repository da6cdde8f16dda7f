"""Tiny offline tokenizer and models for tests (no network, a second or so, deterministic).

Fixtures (``tiny_tokenizer``, ``tiny_model_path``) are defined under other Python names so that
importing them does not clash with test parameters (ruff F811); import them explicitly where used::

    from tests.tiny import tiny_model_path_fixture  # noqa: F401 (pytest fixture)

    def test_x(tiny_model_path: str) -> None: ...
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pytest

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerFast

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

Arch = Literal["qwen2", "llama"]
ARCHS: tuple[Arch, ...] = ("qwen2", "llama")

ENDOFTEXT = "<|endoftext|>"
IM_START = "<|im_start|>"
IM_END = "<|im_end|>"
SPECIAL_TOKENS = (ENDOFTEXT, IM_START, IM_END)
VOCAB_SIZE = 768

CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
"""ChatML: ``<|im_start|>{role}\\n{content}<|im_end|>\\n`` per message, then
``<|im_start|>assistant\\n`` when a generation prompt is asked for."""

CORPUS = '''
def add(a, b):
    """Return the sum of a and b."""
    return a + b


def has_close_elements(numbers: list[float], threshold: float) -> bool:
    """Check if in given list of numbers, are any two numbers closer to each other than
    given threshold.
    >>> has_close_elements([1.0, 2.0, 3.0], 0.5)
    False
    """
    for idx, elem in enumerate(numbers):
        for idx2, elem2 in enumerate(numbers):
            if idx != idx2:
                distance = abs(elem - elem2)
                if distance < threshold:
                    return True
    return False


def fib(n: int) -> int:
    """Return the n-th Fibonacci number."""
    if n < 2:
        return n
    a, b = 0, 1
    for _ in range(n - 1):
        a, b = b, a + b
    return b


def is_palindrome(text: str) -> bool:
    return text == text[::-1]


def count_words(sentence):
    counts = {}
    for word in sentence.split():
        counts[word] = counts.get(word, 0) + 1
    return counts


class Stack:
    def __init__(self):
        self.items = []

    def push(self, item):
        self.items.append(item)

    def pop(self):
        if not self.items:
            raise IndexError("pop from empty stack")
        return self.items.pop()


import math
from typing import List


def max_element(l: list):
    m = l[0]
    for e in l:
        if e > m:
            m = e
    return m


def filter_by_prefix(strings: List[str], prefix: str) -> List[str]:
    return [x for x in strings if x.startswith(prefix)]


def sqrt_sum(values):
    total = 0.0
    for value in values:
        total += math.sqrt(value)
    return total


assert add(2, 3) == 5
assert fib(10) == 55
assert is_palindrome("racecar") is True
assert max_element([1, 2, 3]) == 3
assert filter_by_prefix(["abc", "bcd"], "a") == ["abc"]

Write a function to find the shared elements from the given two lists.
Write a python function to identify non-prime numbers.
Write a function to find the n largest integers from a given list of numbers, returned in
descending order. Your code should pass these tests.
Complete the following Python function and reply with the complete function in a single
code block, including its signature and any imports it needs.
The quick brown fox jumps over the lazy dog. A test passes when the program returns the
expected value for every input; it fails when an assertion is false or an exception is raised.
Each sample is checked against the tests of its task, and the fraction of correct samples
gives an estimate of the probability that the model solves the task.
'''


def train_tokenizer(tmp_dir: str | os.PathLike[str]) -> PreTrainedTokenizerFast:
    """A byte-level BPE (``VOCAB_SIZE`` tokens) trained on ``CORPUS``, saved into ``tmp_dir``.

    Special tokens ``<|endoftext|>`` (pad, id 0), ``<|im_start|>`` (1), ``<|im_end|>`` (2, eos);
    no BOS; ChatML ``chat_template``. Offsets are not trimmed: the spans of a text's tokens tile it.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        min_frequency=1,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator([CORPUS] * 2, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token=IM_END,
        pad_token=ENDOFTEXT,
        additional_special_tokens=[IM_START],
        chat_template=CHAT_TEMPLATE,
    )
    fast.save_pretrained(tmp_dir)
    return fast


def make_tiny_model(tmp_dir: str | os.PathLike[str], arch: Arch = "qwen2", seed: int = 0) -> str:
    """A 2-layer random ``arch`` model (hidden 64) and the tiny tokenizer, saved with
    ``save_pretrained`` into ``tmp_dir/tiny-{arch}``; returns that folder."""
    import torch
    from transformers import AutoModelForCausalLM, LlamaConfig, Qwen2Config

    out = Path(tmp_dir) / f"tiny-{arch}"
    tokenizer = train_tokenizer(out)
    common: dict[str, Any] = dict(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        tie_word_embeddings=False,
        initializer_range=0.2,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=None,
    )
    configs = {"qwen2": Qwen2Config, "llama": LlamaConfig}
    if arch not in configs:
        raise ValueError(f"unknown arch {arch!r} (expected one of {', '.join(configs)})")
    config = configs[arch](**common)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(out)
    return str(out)


@pytest.fixture(scope="session", name="tiny_tokenizer")
def tiny_tokenizer_fixture(tmp_path_factory: pytest.TempPathFactory) -> PreTrainedTokenizerFast:
    """The tiny tokenizer (``train_tokenizer``), once per session."""
    return train_tokenizer(tmp_path_factory.mktemp("tiny-tokenizer"))


@pytest.fixture(scope="session", params=ARCHS, name="tiny_model_path")
def tiny_model_path_fixture(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """Path of a saved tiny model, once per architecture in ``ARCHS``."""
    return make_tiny_model(tmp_path_factory.mktemp("tiny-model"), request.param)
