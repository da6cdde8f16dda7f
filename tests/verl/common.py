"""Shared data of the verl tests: one task, a GRPO group of chat completions, the TRL path's analysis."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import torch

from egca.credit.assign import analyze_group
from egca.credit.localize import Localizer
from egca.tasks.task import Task
from egca.train.reward import CodeReward
from tests.scripted import REF, TASK, fenced

SKIP_REASON = "verl is not installed here: tests/verl run in the verl environment (make test-verl)"

NO_REF = replace(TASK, task_id="T/2", reference="")  # reference-free: only a passing sibling can localize


COMPLETIONS = [
    fenced(REF),
    fenced(REF.replace("total += x", "total += x * x")),
    fenced(REF.replace("if x > 0", "if x >= -1")),
    fenced("def f(xs)\n    return 0\n"),
]
"""correct, two logic errors (the update, the condition), a syntax error."""


def encode(tok: Any, texts: list[str]) -> list[list[int]]:
    ids = [tok.encode(c, add_special_tokens=False) for c in texts]
    assert all(tok.decode(i, skip_special_tokens=True) == c for i, c in zip(ids, texts))
    return ids


def right_padded(ids: list[list[int]], width: int | None = None) -> torch.Tensor:
    T = width or max(len(i) for i in ids)
    mask = torch.zeros(len(ids), T, dtype=torch.int64)
    for r, i in enumerate(ids):
        mask[r, : len(i)] = 1
    return mask


def trl_path_credits(sandbox: Any, task: Task, texts: list[str], ids: list[list[int]], tok: Any) -> list[Any]:
    """What ``EGCAGRPOTrainer._assign_credit`` computes for one group: ``CodeReward`` executions
    (recorded calls), then :func:`analyze_group` on the whole group (curated+siblings)."""
    reward = CodeReward([task], sandbox=sandbox)
    reward(prompts=[None] * len(texts), completions=texts, task_id=[task.task_id] * len(texts))
    out = analyze_group(Localizer(sandbox), task, texts, ids, tok, [s.result for s in reward.last])
    return [a.credit for a in out]


def grpo_advantages(rewards: list[float], group: int, eps: float = 1e-6) -> torch.Tensor:
    """GRPO's sequence advantages by hand: (r - mean) / (std + eps) per group (unbiased std)."""
    r = torch.tensor(rewards, dtype=torch.float32).view(-1, group)
    mean, std = r.mean(dim=1, keepdim=True), r.std(dim=1, keepdim=True)
    return ((r - mean) / (std + eps)).flatten()
