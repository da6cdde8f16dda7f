"""Trainer callbacks of ``egca train``: metrics file, live progress bar, TensorBoard events."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm
from transformers import TrainerCallback

_SHORT = {"syntax": "S", "constraint": "C", "logic": "L", "correct": "ok"}


class MetricsFile(TrainerCallback):
    """Appends every log (train and eval) to a JSONL file, with the step."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kw: Any) -> None:
        if logs and state.is_world_process_zero:
            with self.path.open("a", encoding="utf-8") as f:
                f.write(json.dumps({"step": state.global_step, **logs}) + "\n")


def postfix(logs: dict[str, Any]) -> dict[str, str]:
    """The progress bar's live fields from one log: reward, pass rate, mode shares, localization
    rate, the share of spans that could not be mapped to tokens (when not 0), step time."""
    fields: dict[str, str] = {}
    if "reward" in logs:
        fields["reward"] = f"{logs['reward']:.3f}"
    if "egca/pass_rate" in logs:
        fields["pass"] = f"{logs['egca/pass_rate']:.0%}"
    modes = [
        f"{short}{logs[f'egca/mode_{name}']:.0%}"
        for name, short in _SHORT.items()
        if f"egca/mode_{name}" in logs
    ]
    if modes:
        fields["modes"] = " ".join(modes)
    if "egca/localized" in logs:
        fields["localized"] = f"{logs['egca/localized']:.0%}"
    if logs.get("egca/unmapped"):  # spans found but not mapped to tokens: shown only when it happens
        fields["UNMAPPED"] = f"{logs['egca/unmapped']:.0%}"
    if "egca/abstain_rate" in logs:
        fields["abstain"] = f"{logs['egca/abstain_rate']:.0%}"
    if "eval_egca/pass_rate" in logs:
        fields["eval pass"] = f"{logs['eval_egca/pass_rate']:.0%}"
    if "step_time" in logs:
        fields["s/step"] = f"{logs['step_time']:.1f}"
    return fields


class LiveProgress(TrainerCallback):
    """One bar over the training steps whose postfix shows the latest reward, pass rate and modes.

    Use with ``disable_tqdm=True`` (it replaces the Trainer's bar, which prints every log dict).
    """

    def __init__(self) -> None:
        self.bar: Any = None
        self.fields: dict[str, str] = {}

    def on_train_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        if state.is_world_process_zero:
            self.bar = tqdm(total=state.max_steps, initial=state.global_step, desc="egca train")

    def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        if self.bar is not None:
            self.bar.update(state.global_step - self.bar.n)

    def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kw: Any) -> None:
        if self.bar is not None and logs:
            self.fields.update(postfix(logs))
            self.bar.set_postfix(self.fields, refresh=True)

    def on_train_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def tensorboard_callback(log_dir: Path) -> Any:
    """Transformers' TensorBoard callback writing to ``log_dir`` (events via tensorboardX)."""
    from transformers.integrations import TensorBoardCallback

    callback = TensorBoardCallback()
    callback.logging_dir = str(log_dir)
    return callback
