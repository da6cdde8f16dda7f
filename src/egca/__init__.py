"""egca: Execution-Grounded Credit Assignment for RL of code language models.

Data flow, one subpackage per stage::

    tasks -> execution -> (trace -> credit) -> train / eval -> report

The names a user needs are importable from here (``from egca import EGCAConfig, EGCAGRPOTrainer,
CodeReward, Sandbox, load_tasks``). They load on first use, so ``import egca`` itself imports
nothing else, and the torch-free ones (tasks, sandbox, localizer, rewards) work without torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    # tasks
    "Task": "egca.tasks.task",
    "TestCase": "egca.tasks.task",
    "load_tasks": "egca.tasks.registry",
    # execution
    "ExecJob": "egca.execution.job",
    "Limits": "egca.execution.job",
    "Sandbox": "egca.execution.sandbox",
    "score_completions": "egca.execution.reward",
    # credit
    "Localizer": "egca.credit.localize",
    "analyze_group": "egca.credit.assign",
    "token_advantages": "egca.credit.operator",  # needs torch
    "SCHEMES": "egca.credit.schemes",  # needs torch
    # training (TRL)
    "CodeReward": "egca.train.reward",
    "tasks_dataset": "egca.train.data",  # needs datasets when called
    "EGCAConfig": "egca.train.trainer",  # needs egca[train]
    "EGCAGRPOTrainer": "egca.train.trainer",  # needs egca[train]
    "TrainSettings": "egca.train.run",
    "train": "egca.train.run",  # needs egca[train] when called
}

__all__ = [
    "SCHEMES",
    "CodeReward",
    "EGCAConfig",
    "EGCAGRPOTrainer",
    "ExecJob",
    "Limits",
    "Localizer",
    "Sandbox",
    "Task",
    "TestCase",
    "TrainSettings",
    "__version__",
    "analyze_group",
    "load_tasks",
    "score_completions",
    "tasks_dataset",
    "token_advantages",
    "train",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'egca' has no attribute {name!r}")
    try:
        value = getattr(importlib.import_module(module), name)
    except ModuleNotFoundError as e:
        if e.name is None or e.name.split(".")[0] == "egca":
            raise
        extra = "train" if module.startswith("egca.train") else "model"
        raise ModuleNotFoundError(
            f"egca.{name} needs {e.name}, which is not installed (pip install 'egca[{extra}]')", name=e.name
        ) from e
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:
    from egca.credit.assign import analyze_group
    from egca.credit.localize import Localizer
    from egca.credit.operator import token_advantages
    from egca.credit.schemes import SCHEMES
    from egca.execution.job import ExecJob, Limits
    from egca.execution.reward import score_completions
    from egca.execution.sandbox import Sandbox
    from egca.tasks.registry import load_tasks
    from egca.tasks.task import Task, TestCase
    from egca.train.data import tasks_dataset
    from egca.train.reward import CodeReward
    from egca.train.run import TrainSettings, train
    from egca.train.trainer import EGCAConfig, EGCAGRPOTrainer
