"""The documented launch (scripts/verl_train.sh) composes with verl's own config into an EGCA run."""

from __future__ import annotations

import pytest

from tests.verl.common import SKIP_REASON

pytest.importorskip("verl.trainer.ppo.v1", reason=SKIP_REASON)

import importlib
import os
import subprocess
from pathlib import Path

from hydra import compose, initialize_config_dir
from verl.trainer.ppo.reward import resolve_reward_manager_cls
from verl.trainer.ppo.utils import need_critic, need_reference_policy
from verl.trainer.ppo.v1 import get_trainer_cls
from verl.utils.config import validate_config

import egca.integrations.verl.hook  # noqa: F401 (what the setup hook does in each Ray worker)
import verl
from egca.integrations.verl.credit import VerlCreditSettings
from egca.integrations.verl.reward import EGCARewardManager

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "verl_train.sh"


def overrides(*extra: str, **env: str) -> list[str]:
    out = subprocess.run(
        ["bash", str(SCRIPT), "--print", *extra],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.splitlines()


def composed(lines: list[str]):
    folder = os.path.join(os.path.dirname(verl.__file__), "trainer", "config")
    with initialize_config_dir(config_dir=folder, version_base=None):
        return compose(config_name="ppo_trainer", overrides=lines)


def test_the_launch_overrides_select_egca() -> None:
    cfg = composed(overrides(DATA="/d", MODEL="/m", NNODES="2", GPUS="4", STEPS="3"))
    assert cfg.trainer.v1.trainer_mode == "egca_sync" and cfg.trainer.use_v1
    assert cfg.reward.reward_manager.name == "egca" and cfg.reward.reward_manager.source == "register"
    assert cfg.algorithm.adv_estimator == "grpo"
    assert cfg.actor_rollout_ref.actor.loss_agg_mode == "seq-mean-token-sum"
    hook = cfg.ray_kwargs.ray_init.runtime_env.worker_process_setup_hook
    module, _, name = hook.rpartition(".")
    assert callable(getattr(importlib.import_module(module), name))
    assert (cfg.data.train_files, cfg.actor_rollout_ref.model.path) == ("/d/train.parquet", "/m")
    assert (cfg.trainer.nnodes, cfg.trainer.n_gpus_per_node, cfg.trainer.total_training_steps) == (2, 4, 3)
    assert cfg.actor_rollout_ref.rollout.name == "vllm"
    # what verl's main() checks before it starts Ray
    validate_config(config=cfg, use_reference_policy=need_reference_policy(cfg), use_critic=need_critic(cfg))
    assert resolve_reward_manager_cls(cfg) is EGCARewardManager
    trainer = get_trainer_cls(cfg.trainer.v1.trainer_mode)(cfg)
    assert trainer.egca_settings == VerlCreditSettings(scheme="egca", normalizer="conserve_kl_all", workers=4)


def test_normalizer_and_mode_choices() -> None:
    cfg = composed(overrides(NORMALIZER="conserve", MODE="egca_separate_async"))
    assert cfg.actor_rollout_ref.actor.loss_agg_mode == "seq-mean-token-mean"
    assert get_trainer_cls(cfg.trainer.v1.trainer_mode).__name__ == "EGCATrainerSeparateAsync"
    VerlCreditSettings.from_config(cfg).check_loss_agg_mode(cfg.actor_rollout_ref.actor.loss_agg_mode)
    cfg = composed(overrides("egca.normalizer=conserve"))  # the aggregation stays seq-mean-token-sum
    with pytest.raises(ValueError, match="loss_agg_mode=seq-mean-token-mean"):
        get_trainer_cls("egca_sync")(cfg)  # refused when the trainer is built, before any worker
    # the GRPO baseline of the same launch, and a later override that wins
    cfg = composed(overrides("+egca.seed=4", SCHEME="uniform"))
    assert (cfg.egca.scheme, cfg.egca.seed) == ("uniform", 4)
