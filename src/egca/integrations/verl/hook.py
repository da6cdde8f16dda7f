"""The Ray worker setup hook: registers the ``egca`` reward manager and the ``egca_*`` v1 trainers.

verl resolves ``trainer.v1.trainer_mode`` and ``reward.reward_manager.name`` inside Ray actors (the
task runner, the reward-loop workers), so the registrations must happen in every worker process::

    +ray_kwargs.ray_init.runtime_env.worker_process_setup_hook=egca.integrations.verl.hook.setup

Importing this module registers both (verl's registries are filled at import time).
"""

from __future__ import annotations

from egca.integrations.verl import reward, trainer

__all__ = ["registered", "setup"]


def registered() -> dict[str, type]:
    """The names this hook registers, and their classes."""
    return {
        "reward_manager:egca": reward.EGCARewardManager,
        "trainer:egca_sync": trainer.EGCATrainerSync,
        "trainer:egca_colocate_async": trainer.EGCATrainerColocateAsync,
        "trainer:egca_separate_async": trainer.EGCATrainerSeparateAsync,
    }


def setup() -> None:
    """Ray's ``worker_process_setup_hook``: the registrations happened when this module was imported."""
    registered()
