"""verl's own ``RLHFDataset`` reads the parquet of ``egca verl prepare-data``; the task survives the trip."""

from __future__ import annotations

import pytest

from tests.verl.common import SKIP_REASON

pytest.importorskip("verl.trainer.ppo.v1", reason=SKIP_REASON)

from omegaconf import OmegaConf
from verl.utils.dataset.rl_dataset import RLHFDataset

from egca.eval.prompts import user_message
from egca.integrations.verl.data import task_of, write_parquet
from tests.tiny import tiny_tokenizer_fixture  # noqa: F401 (pytest fixture)
from tests.verl.common import NO_REF, TASK


def test_rlhf_dataset_reads_the_rows(tmp_path, tiny_tokenizer) -> None:
    path = write_parquet([TASK, NO_REF], tmp_path / "train.parquet", source="unit")
    config = OmegaConf.create(
        {"max_prompt_length": 256, "cache_dir": str(tmp_path / "cache"), "filter_overlong_prompts": True}
    )
    dataset = RLHFDataset(data_files=[str(path)], tokenizer=tiny_tokenizer, config=config)
    assert len(dataset) == 2
    for i, task in enumerate([TASK, NO_REF]):
        item = dataset[i]
        assert item["data_source"] == "egca/unit"
        assert item["raw_prompt"] == [{"role": "user", "content": user_message(task.prompt)}]
        assert item["reward_model"]["ground_truth"] == task.task_id
        assert item["index"] == i
        assert task_of(item["extra_info"]) == task  # what the reward manager reads back
