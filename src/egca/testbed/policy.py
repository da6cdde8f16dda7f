"""The testbed's policy: a byte-level BPE tokenizer and a small Llama trained from scratch on the
corpus (prompt → completion, loss on the completion and its end token).

Deterministic for a given configuration, corpus, library versions and thread count.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from egca.testbed.corpus import Corpus

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerFast

EOS = "<|endoftext|>"
METADATA = "egca-testbed.json"


@dataclass(frozen=True)
class PolicyConfig:
    """Model size and pretraining schedule (the defaults are the testbed's fixed design)."""

    vocab_size: int = 1024
    hidden_size: int = 128
    num_layers: int = 4
    num_heads: int = 4
    intermediate_size: int = 384
    max_length: int = 512
    steps: int = 600
    batch_size: int = 16
    learning_rate: float = 2e-3
    warmup_steps: int = 25
    weight_decay: float = 0.01
    seed: int = 0


def train_tokenizer(texts: list[str], vocab_size: int) -> PreTrainedTokenizerFast:
    """A byte-level BPE with ``<|endoftext|>`` as end, pad and only special token; offsets tile the text."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=[EOS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=EOS, pad_token=EOS)


def encode(tokenizer: Any, prompt: str, completion: str, max_length: int) -> tuple[list[int], list[int]]:
    """Input ids and labels: the prompt tokenized alone (as generation sees it), then the
    completion and the end token; labels are -100 on the prompt."""
    p = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    c = tokenizer(completion, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    ids = (p + c)[:max_length]
    labels = ([-100] * len(p) + c)[:max_length]
    return ids, labels


def pretrain(
    corpus: Corpus, config: PolicyConfig, out: str | os.PathLike[str], progress: bool = True
) -> Path:
    """Train the tokenizer and the model on ``corpus``; save both (and the metadata) into ``out``."""
    import torch
    from transformers import AutoModelForCausalLM, LlamaConfig

    out = Path(out)
    t0 = time.perf_counter()
    texts = [s.prompt + s.completion for s in corpus.solutions]
    tokenizer = train_tokenizer(texts, config.vocab_size)
    examples = [encode(tokenizer, s.prompt, s.completion, config.max_length) for s in corpus.solutions]
    model_config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=config.hidden_size,
        intermediate_size=config.intermediate_size,
        num_hidden_layers=config.num_layers,
        num_attention_heads=config.num_heads,
        num_key_value_heads=config.num_heads,
        max_position_embeddings=config.max_length,
        tie_word_embeddings=True,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=None,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        model = AutoModelForCausalLM.from_config(model_config, dtype=torch.float32)
        losses = _fit(model, examples, config, progress)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.bos_token_id = None
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    n_params = sum(p.numel() for p in model.parameters())
    meta = {
        "config": asdict(config),
        "parameters": n_params,
        "corpus": corpus.counts(),
        "tokens_per_example": sum(len(ids) for ids, _ in examples) / max(1, len(examples)),
        "loss_first": losses[0] if losses else None,
        "loss_last": sum(losses[-20:]) / max(1, len(losses[-20:])),
        "seconds": round(time.perf_counter() - t0, 1),
        "torch_threads": torch.get_num_threads(),
    }
    (out / METADATA).write_text(json.dumps(meta, indent=2), encoding="utf-8")
    return out


def _fit(
    model: Any, examples: list[tuple[list[int], list[int]]], config: PolicyConfig, progress: bool
) -> list[float]:
    """Plain AdamW with linear warm-up and cosine decay over shuffled epochs; the per-step losses."""
    import torch

    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
    )

    def lr_at(step: int) -> float:
        if step < config.warmup_steps:
            return (step + 1) / config.warmup_steps
        frac = (step - config.warmup_steps) / max(1, config.steps - config.warmup_steps)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, frac)))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_at)
    generator = torch.Generator().manual_seed(config.seed)
    pad = model.config.pad_token_id
    order: list[int] = []
    losses: list[float] = []
    model.train()
    t0 = time.perf_counter()
    for step in range(config.steps):
        if len(order) < config.batch_size:
            order += torch.randperm(len(examples), generator=generator).tolist()
        batch, order = [examples[i] for i in order[: config.batch_size]], order[config.batch_size :]
        width = max(len(ids) for ids, _ in batch)
        ids = torch.full((len(batch), width), pad, dtype=torch.long)
        labels = torch.full((len(batch), width), -100, dtype=torch.long)
        attention = torch.zeros((len(batch), width), dtype=torch.long)
        for row, (x, y) in enumerate(batch):
            ids[row, : len(x)] = torch.tensor(x)
            labels[row, : len(y)] = torch.tensor(y)
            attention[row, : len(x)] = 1
        loss = model(input_ids=ids, attention_mask=attention, labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(round(loss.item(), 4))
        if progress and (step % 50 == 0 or step == config.steps - 1):
            elapsed = time.perf_counter() - t0
            print(
                f"testbed pretraining: step {step + 1}/{config.steps} loss {losses[-1]:.3f} ({elapsed:.0f} s)",
                file=sys.stderr,
                flush=True,
            )
    model.eval()
    return losses
