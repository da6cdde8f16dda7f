#!/usr/bin/env bash
# A short real verl run on one GPU: 3 steps of GRPO (SCHEME=uniform) and 3 of EGCA, same seed, on
# Qwen2.5-Coder-0.5B-Instruct with vLLM rollouts, 8 MBPP prompts × 4 responses per step, FSDP actor,
# validation on 8 HumanEval tasks. Prints egca's per-step metrics of each run from verl's console log.
#
#   bash scripts/verl_gpu_check.sh            # creates .venv-verl-gpu (needs the package index)
#   VERL_PY=/path/to/python bash scripts/verl_gpu_check.sh   # a Python with verl[vllm]==0.9.1 and egca[verl]
#
# Needs: one CUDA GPU (~24 GB is plenty), the model (MODEL: a local folder, default egca's prepared
# copy, `egca models prepare qwen2.5-coder-0.5b-instruct`, or a hub id with network), egca's benchmark
# data. Not run in CI; not yet run on a GPU (see docs/notes.md).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-${TMPDIR:-/tmp}/egca-verl-gpu-check}
mkdir -p "$OUT"
MODEL=${MODEL:-$HOME/.cache/egca/models/qwen2.5-coder-0.5b-instruct}
PY=${VERL_PY:-}
if [ -z "$PY" ]; then
  python3 -m venv .venv-verl-gpu
  .venv-verl-gpu/bin/pip install -q 'verl[vllm]==0.9.1'
  .venv-verl-gpu/bin/pip install -q -e '.[verl]'
  PY=.venv-verl-gpu/bin/python
fi
"$PY" - <<'PY'
import torch, verl, vllm, egca.integrations.verl.hook  # noqa: F401
print(f"verl {verl.__version__}, vllm {vllm.__version__}, torch {torch.__version__}, "
      f"CUDA {torch.cuda.is_available()} ({torch.cuda.get_device_name(0) if torch.cuda.is_available() else '-'})")
PY
"$PY" -m egca.cli verl prepare-data --dataset mbpp --split train --limit 32 \
  --val-dataset humaneval --val-limit 8 --out "$OUT/data"
export HF_HUB_OFFLINE=${HF_HUB_OFFLINE:-1} TRANSFORMERS_OFFLINE=${TRANSFORMERS_OFFLINE:-1}
for scheme in uniform egca; do
  SCHEME=$scheme DATA="$OUT/data" MODEL="$MODEL" PY="$PY" GPUS=1 N=4 BATCH=8 STEPS="${STEPS:-3}" \
    SANDBOX_WORKERS=2 timeout "${RUN_TIMEOUT:-1500}" bash scripts/verl_train.sh \
    actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=4 \
    actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu=4 \
    actor_rollout_ref.ref.log_prob_micro_batch_size_per_gpu=4 \
    actor_rollout_ref.rollout.gpu_memory_utilization=0.4 \
    data.max_response_length=384 reward.num_workers=2 trainer.test_freq=3 \
    trainer.experiment_name="gpu-check-$scheme" 2>&1 | tee "$OUT/$scheme.log"
done
for scheme in uniform egca; do
  echo "== $scheme"
  grep -o "step:[0-9]*\|critic/score/mean:[-0-9.e]*\|egca/[a-z_]*:[-0-9.e]*\|timing_s/egca_analysis:[-0-9.e]*\|timing_s/step:[-0-9.e]*\|val-core/[^ ]*acc/mean@1:[-0-9.e]*" \
    "$OUT/$scheme.log" | tr '\n' ' ' | sed 's/ step:/\nstep:/g'
  echo
done
