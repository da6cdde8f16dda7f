"""How a task becomes a model input: a chat message (instruct models) or the raw prompt (base models)."""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING, Literal

from egca.tasks.task import Task

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

PromptStyle = Literal["auto", "chat", "completion"]
PROMPT_STYLES: tuple[str, ...] = ("auto", "chat", "completion")

CODE_TEMPLATE = (
    "Complete the following Python function:\n"
    "```python\n"
    "{prompt}\n"
    "```\n"
    "Reply with the complete function, including its signature and any imports it needs, "
    "in a single ```python code block."
)
"""User message for a prompt that is code (HumanEval: a signature and a docstring)."""

TEXT_TEMPLATE = (
    "{prompt}\n\n"
    "Write a complete Python function that solves this task. "
    "Reply with the function, including any imports it needs, in a single ```python code block."
)
"""User message for a prompt in natural language (MBPP)."""


def is_code_prompt(prompt: str) -> bool:
    """True when ``prompt`` is Python source that defines a function (HumanEval-like)."""
    try:
        tree = ast.parse(prompt)
    except (SyntaxError, ValueError):
        return False
    return any(isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) for node in ast.walk(tree))


def user_message(prompt: str) -> str:
    """The chat user message for ``prompt``: ``CODE_TEMPLATE`` for code, else ``TEXT_TEMPLATE``.

    Trailing whitespace of the prompt is removed (the fence or the instruction follows it).
    """
    template = CODE_TEMPLATE if is_code_prompt(prompt) else TEXT_TEMPLATE
    return template.format(prompt=prompt.rstrip())


def has_chat_template(tokenizer: PreTrainedTokenizerBase) -> bool:
    return bool(getattr(tokenizer, "chat_template", None))


def resolve_style(tokenizer: PreTrainedTokenizerBase, style: str) -> Literal["chat", "completion"]:
    """``"auto"`` becomes ``"chat"`` when the tokenizer has a chat template, else ``"completion"``."""
    if style == "auto":
        return "chat" if has_chat_template(tokenizer) else "completion"
    if style == "chat":
        if not has_chat_template(tokenizer):
            raise ValueError("prompt style 'chat' needs a tokenizer with a chat template; use 'completion'")
        return "chat"
    if style == "completion":
        return "completion"
    raise ValueError(f"unknown prompt style {style!r} (expected one of {', '.join(PROMPT_STYLES)})")


def build_prompt(task: Task, tokenizer: PreTrainedTokenizerBase, style: str = "auto") -> str:
    """The text given to the model for ``task``.

    - ``"completion"``: ``task.prompt`` unchanged; the model continues it (base models), so the
      program to run is ``task.prompt + completion``.
    - ``"chat"``: the tokenizer's chat template applied to a single user message (no system
      message) ``user_message(task.prompt)``, with the generation prompt appended
      (``add_generation_prompt=True``); the answer holds the whole function in a ```python block.
    - ``"auto"``: ``"chat"`` when the tokenizer has a chat template, else ``"completion"``.

    The chat text may already start with the BOS token; tokenize it without adding special tokens
    again (``generate_completions`` does this).
    """
    if resolve_style(tokenizer, style) == "completion":
        return task.prompt
    messages = [{"role": "user", "content": user_message(task.prompt)}]
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    if not isinstance(text, str):  # pragma: no cover - tokenize=False returns text
        raise TypeError(f"apply_chat_template returned {type(text).__name__}, expected str")
    return text
