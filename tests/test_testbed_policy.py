"""The testbed's policy and ``egca bench learning`` end to end, at toy sizes."""

from __future__ import annotations

import json

import pytest

from egca.bench.learning import bench_learning, bench_settings
from egca.testbed.corpus import CorpusConfig
from egca.testbed.family import TestbedConfig
from egca.testbed.policy import METADATA, PolicyConfig
from egca.testbed.prepare import prepare_testbed

TOY_TESTBED = TestbedConfig(train_per_combo=1, heldout_per_combo=1, n_plus=3)
TOY_POLICY = PolicyConfig(
    vocab_size=400,
    hidden_size=32,
    num_layers=1,
    num_heads=2,
    intermediate_size=64,
    steps=3,
    batch_size=4,
    warmup_steps=1,
)


@pytest.mark.slow
def test_pretrain_then_bench_learning_one_grpo_step(tmp_path):
    from transformers import AutoTokenizer

    prepared = prepare_testbed(
        TOY_TESTBED, CorpusConfig(n_correct=1, n_wrong=1), TOY_POLICY, cache=tmp_path, progress=False
    )
    meta = prepared.metadata()
    # one step of loss on 4 examples each: 3 logged losses; the model has the configured size
    # (embeddings tied: 400*32 + one layer of 4*32*32 attention + 3*32*64 MLP + 3 norms of 32)
    assert (
        meta["config"]["steps"] == 3 and meta["parameters"] == 400 * 32 + 4 * 32 * 32 + 3 * 32 * 64 + 3 * 32
    )
    assert meta["corpus"]["correct"] == 60
    tok = AutoTokenizer.from_pretrained(prepared.policy)
    text = "def f(nums: list) -> int:\n    return sum(1 for x in nums if x % 2 == 0)\n"
    enc = tok(text, return_offsets_mapping=True, add_special_tokens=False)
    assert "".join(text[a:b] for a, b in enc["offset_mapping"]) == text  # offsets tile the text
    stamp = (prepared.policy / METADATA).stat().st_mtime_ns
    again = prepare_testbed(
        TOY_TESTBED, CorpusConfig(n_correct=1, n_wrong=1), TOY_POLICY, cache=tmp_path, progress=False
    )
    assert again == prepared and (prepared.policy / METADATA).stat().st_mtime_ns == stamp  # cached

    sets = [
        f"model={prepared.policy}",
        "dataset=jsonl",
        f"data_path={prepared.train_tasks}",
        "limit=4",
        "eval_dataset=jsonl",
        f"eval_data_path={prepared.heldout_tasks}",
        "eval_limit=3",
        "num_generations=2",
        "per_device_train_batch_size=4",
        "max_completion_length=24",
        "workers=2",
    ]
    settings = bench_settings(None, sets, steps=1, out=str(tmp_path / "bench"))
    result = bench_learning(settings, schemes=("uniform", "egca", "soft"), seeds=1)
    records = result["records"]
    assert [(r["scheme"], r["seed"]) for r in records] == [("uniform", 0), ("egca", 0), ("soft", 0)]
    for r in records:
        assert len(r["curve"]) == 1 and 0.0 <= r["curve"][0] <= 1.0
        assert r["before"] == records[0]["before"] and 0.0 <= r["after"] <= 1.0
    assert records[0]["analysis_share"] is None and records[1]["logic_share_train"] is not None
    run = tmp_path / "bench" / "runs" / "egca-seed0"
    assert (run / "final" / "config.json").is_file() and (run / "heldout" / "results.jsonl").is_file()
    assert json.loads((tmp_path / "bench" / "bench.json").read_text())["summary"]["schemes"].keys() == {
        "uniform",
        "egca",
        "soft",
    }
    soft = json.loads((tmp_path / "bench" / "runs" / "soft-seed0" / "config.json").read_text())
    assert soft["credit_normalizer"] == "conserve_kl_all"  # the mask route cannot express soft weights
    # resumable: a second start reuses the finished runs
    stamp = (run / "record.json").stat().st_mtime_ns
    assert bench_learning(settings, schemes=("uniform", "egca", "soft"), seeds=1)["records"] == records
    assert (run / "record.json").stat().st_mtime_ns == stamp
    other = bench_settings(None, sets, steps=2, out=str(tmp_path / "bench"))
    with pytest.raises(ValueError, match="max_steps"):
        bench_learning(other, schemes=("uniform",), seeds=1)
