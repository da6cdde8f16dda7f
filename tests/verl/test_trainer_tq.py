"""The egca_sync trainer's ``_compute_advantage`` against a real TransferQueue on a local Ray cluster.

The batch is what verl's agent loop writes (``AgentLoopOutput.as_dict`` and the prompt's fields, keys
``{uid}_{session}_0``), scored by the egca reward manager; the trainer is built by its own
``__init__`` from verl's composed ``ppo_trainer`` config. The expectation is the TRL path: the
executions and :func:`analyze_group` of each whole group, then the shared operator, on the sequence
advantages of verl's GRPO estimator (checked against GRPO by hand).
"""

from __future__ import annotations

import pytest

from tests.verl.common import SKIP_REASON

pytest.importorskip("verl.trainer.ppo.v1", reason=SKIP_REASON)

import os
import uuid

import pytest
import ray
import torch
import transfer_queue as tq
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf, open_dict
from verl.experimental.agent_loop.agent_loop import AgentLoopMetrics, AgentLoopOutput
from verl.trainer.ppo.padding_utils import upsample_batch_to_divisible_size
from verl.trainer.ppo.v1 import get_trainer_cls
from verl.utils.tensordict_utils import list_of_dict_to_tensordict

import egca.integrations.verl.hook  # noqa: F401 (registers the egca trainers)
import verl
from egca.credit.operator import token_advantages
from egca.integrations.verl.credit import step_seed
from egca.integrations.verl.data import task_rows
from egca.integrations.verl.reward import EGCARewardManager
from egca.integrations.verl.trainer import EGCATrainerSync
from tests.tiny import tiny_tokenizer_fixture  # noqa: F401 (pytest fixture)
from tests.verl.common import COMPLETIONS, NO_REF, REF, TASK, fenced, grpo_advantages, trl_path_credits
from tests.verl.helpers import prompt_ids, response_ids

pytestmark = pytest.mark.slow

HALF = fenced(REF.replace("if x > 0", "if x != 0"))  # passes one test of two
GROUPS = [  # (task, completions): with a passing sibling; reference-free; no passing response
    (TASK, COMPLETIONS),
    (NO_REF, COMPLETIONS),
    (TASK, [COMPLETIONS[1], COMPLETIONS[2], COMPLETIONS[3], HALF]),
]
N = 4
STEP = 3


HOOK = "egca.integrations.verl.hook.setup"


@pytest.fixture(scope="module")
def queue():
    """Ray with 4 logical CPUs (TransferQueue's actors do not start on a 2-core default), egca's
    worker setup hook, and TQ."""
    ray.init(
        num_cpus=4,
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={"worker_process_setup_hook": HOOK},
    )
    tq.init(
        OmegaConf.create(
            {
                "backend": {
                    "storage_backend": "SimpleStorage",
                    "SimpleStorage": {"total_storage_size": 1000, "num_data_storage_units": 1},
                }
            }
        )
    )
    yield
    tq.close()
    ray.shutdown()


def config(**egca):
    folder = os.path.join(os.path.dirname(verl.__file__), "trainer", "config")
    with initialize_config_dir(config_dir=folder, version_base=None):
        cfg = compose(
            config_name="ppo_trainer",
            overrides=[
                "algorithm.adv_estimator=grpo",
                f"actor_rollout_ref.rollout.n={N}",
                "actor_rollout_ref.actor.loss_agg_mode=seq-mean-token-sum",
                "trainer.v1.trainer_mode=egca_sync",
                "actor_rollout_ref.model.path=unused",
                f"data.train_batch_size={len(GROUPS)}",
                f"actor_rollout_ref.actor.ppo_mini_batch_size={len(GROUPS)}",
                *(f"+egca.{k}={v}" for k, v in egca.items()),
            ],
        )
    return cfg


def agent_loop_batch(tok, reward: EGCARewardManager):
    """Keys and fields as ``AgentLoopWorkerTQ._agent_loop_postprocess`` writes them."""
    keys, rows, ids = [], [], []
    for task, texts in GROUPS:
        uid = str(uuid.uuid4())
        prompt = task_rows([task])[0]
        for session, text in enumerate(texts):
            r = response_ids(tok, text)
            scored = reward.score(task, r)  # what run_single returns for this response
            out = AgentLoopOutput(
                prompt_ids=prompt_ids(tok, task),
                response_ids=r,
                response_mask=[1] * len(r),
                reward_score=scored["reward_score"],
                metrics=AgentLoopMetrics(),
                extra_fields={"reward_extra_info": scored["reward_extra_info"]},
            )
            field = out.as_dict()
            field.update(
                uid=uid,
                session_id=session,
                extra_info=prompt["extra_info"],
                data_source=prompt["data_source"],
                reward_model=prompt["reward_model"],
            )
            keys.append(f"{uid}_{session}_0")
            rows.append(field)
            ids.append(r)
    return keys, rows, ids


def test_the_setup_hook_registers_in_ray_workers(queue) -> None:
    def lookup() -> tuple[str, str, list[str]]:  # pickled by value: the worker imports no test module
        import sys

        from verl.experimental.reward_loop.reward_manager import get_reward_manager_cls
        from verl.trainer.ppo.v1 import get_trainer_cls

        tests = [m for m in sys.modules if m == "tests" or m.startswith("tests.")]
        return get_trainer_cls("egca_separate_async").__name__, get_reward_manager_cls("egca").__name__, tests

    assert ray.get(ray.remote(lookup).remote()) == ("EGCATrainerSeparateAsync", "EGCARewardManager", [])


def padded(nested: torch.Tensor, value: float = 0.0) -> torch.Tensor:
    return nested.to_padded_tensor(value)


def test_compute_advantage_through_transfer_queue(queue, sandbox, tiny_tokenizer) -> None:
    tok = tiny_tokenizer
    cfg = config(reward="fraction", seed=5)
    reward = EGCARewardManager(cfg, tok, sandbox=sandbox)
    keys, rows, ids = agent_loop_batch(tok, reward)
    td = list_of_dict_to_tensordict(rows)
    batch = tq.kv_batch_put(keys=keys, partition_id="train", fields=td)
    original_mask = td["response_mask"]
    lengths = [len(i) for i in ids]
    width = max(lengths)
    mask = torch.tensor([[1] * n + [0] * (width - n) for n in lengths])

    trainer = get_trainer_cls("egca_sync")(cfg)
    assert isinstance(trainer, EGCATrainerSync)
    trainer.tokenizer = tok
    trainer.global_steps = STEP

    def run(
        scheme: str, normalizer: str, agg: str, meta=batch, **kw: float
    ) -> tuple[torch.Tensor, torch.Tensor, dict]:
        with open_dict(trainer.config):
            trainer.config.egca.scheme = scheme
            trainer.config.egca.normalizer = normalizer
            trainer.config.egca.scheme_kwargs = dict(kw)
            trainer.config.actor_rollout_ref.actor.loss_agg_mode = agg
        trainer._egca_settings = None
        tq.kv_batch_put(
            keys=keys, partition_id="train", fields=td.select("response_mask")
        )  # undo a mask route
        metrics: dict = {}
        trainer._compute_advantage(meta, metrics)
        got = tq.kv_batch_get(
            keys=meta.keys, partition_id="train", select_fields=["advantages", "response_mask"]
        )
        return padded(got["advantages"]), padded(got["response_mask"]), metrics

    # plain GRPO (the uniform baseline): verl's estimator, checked against GRPO by hand
    base, base_mask, metrics = run("uniform", "conserve_kl_all", "seq-mean-token-sum")
    rewards = [
        reward.score(task, ids[g * N + i])["reward_score"]
        for g, (task, _) in enumerate(GROUPS)
        for i in range(N)
    ]
    assert rewards == [1.0, 0.0, 0.5, 0.0] * 2 + [0.0, 0.5, 0.0, 0.5]
    A = base[:, 0]
    assert torch.allclose(A, grpo_advantages(rewards, N), atol=1e-6)
    assert torch.equal(base, A[:, None] * mask) and torch.equal(base_mask, mask)
    assert not any(k.startswith("egca/") for k in metrics)

    # the TRL path: each whole group executed by CodeReward and analysed by analyze_group
    credits: list = []
    for task, texts in GROUPS:
        credits += trl_path_credits(sandbox, task, texts, ids[len(credits) : len(credits) + len(texts)], tok)

    def expected(scheme: str, normalizer: str, **kw: float):
        return token_advantages(A, mask, credits, scheme, normalizer, seed=step_seed(5, STEP), **kw)

    adv, m, metrics = run("egca", "conserve_kl_all", "seq-mean-token-sum")
    trl = expected("egca", "conserve_kl_all")
    assert torch.equal(adv, trl.per_token) and torch.equal(m, mask)  # bit-identical a_{i,t}
    assert metrics["egca/regrouped"] == pytest.approx(8 / 12)  # the two groups with a passing response
    assert metrics["egca/mode_logic"] == pytest.approx(7 / 12)
    assert metrics["egca/localized"] > 0 and "timing_s/egca_analysis" in metrics
    # the reference-free group's failing response is localized only thanks to its passing sibling (the
    # response that passes one test of two has a positive advantage: spread uniformly)
    assert trl.statuses[4:8] == ["uniform", "localized", "fallback:positive_advantage", "localized"]
    assert torch.count_nonzero(adv[5]) < lengths[5] / 2
    # the sum of a response's token advantages is its sequence advantage (conservation)
    assert torch.allclose(adv.sum(dim=1), A, atol=1e-6)

    adv, m, _ = run("egca", "conserve", "seq-mean-token-mean")  # the mask route
    trl = expected("egca", "conserve")
    assert torch.equal(adv, A[:, None] * mask) and torch.equal(m.bool(), trl.loss_mask)

    adv, m, _ = run("soft", "conserve_kl_all", "seq-mean-token-sum", alpha=0.25)
    assert torch.equal(adv, expected("soft", "conserve_kl_all", alpha=0.25).per_token)

    adv, m, _ = run("random_span", "engine", "token-mean")
    assert torch.equal(m.bool(), expected("random_span", "engine").loss_mask)

    # verl's synthetic padding rows (``_balance_batch``: a multiple of the data-parallel size) copy the
    # first row's fields, credit record included: they stay out of the loss and of the metrics
    padded_batch = upsample_batch_to_divisible_size(batch, 16, tok.eos_token_id)
    assert len(padded_batch) == 16 and padded_batch.tags[-1]["is_padding"]
    adv, m, metrics = run("egca", "conserve_kl_all", "seq-mean-token-sum", meta=padded_batch)
    assert torch.equal(adv[:12], expected("egca", "conserve_kl_all").per_token)
    assert not adv[12:].any() and not m[12:].any()
    assert metrics["egca/mode_logic"] == pytest.approx(7 / 12) and metrics["egca/regrouped"] == pytest.approx(
        8 / 12
    )

    with pytest.raises(ValueError, match="conserve_kl_all"):
        run("soft", "conserve", "seq-mean-token-mean", alpha=0.25)
    with pytest.raises(ValueError, match="loss_agg_mode=seq-mean-token-sum"):
        run("egca", "conserve_kl_all", "token-mean")
    assert original_mask.is_nested
