"""verl batches of real token ids for the verl tests."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from egca.eval.prompts import user_message
from egca.integrations.verl.data import task_rows
from egca.tasks.task import Task
from verl import DataProto


def prompt_ids(tok: Any, task: Task) -> list[int]:
    messages = [{"role": "user", "content": user_message(task.prompt)}]
    return list(
        tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=False)
    )


def response_ids(tok: Any, text: str) -> list[int]:
    """What a rollout engine returns: the completion's tokens and the EOS token."""
    return [*tok.encode(text, add_special_tokens=False), tok.eos_token_id]


def reward_input(tok: Any, task: Task, ids: list[int], width: int = 96) -> DataProto:
    """One sample as verl's reward loop hands it to ``run_single``: left-padded prompt, right-padded response."""
    prompt = prompt_ids(tok, task)
    P = len(prompt) + 3
    prompts = torch.full((1, P), tok.pad_token_id)
    prompts[0, P - len(prompt) :] = torch.tensor(prompt)
    responses = torch.full((1, width), tok.pad_token_id)
    responses[0, : len(ids)] = torch.tensor(ids)
    attention = torch.zeros(1, P + width, dtype=torch.int64)
    attention[0, P - len(prompt) : P + len(ids)] = 1
    row = task_rows([task])[0]
    return DataProto.from_dict(
        tensors={"prompts": prompts, "responses": responses, "attention_mask": attention},
        non_tensors={
            k: np.array([row[k]], dtype=object) for k in ("extra_info", "data_source", "reward_model")
        },
    )
