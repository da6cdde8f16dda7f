#!/usr/bin/env bash
# EGCA (or the GRPO baseline) on verl: python -m verl.trainer.main_ppo with egca's overrides.
#
#   egca verl prepare-data --dataset mbpp --split train --val-dataset humaneval --out data/egca
#   DATA=data/egca MODEL=Qwen/Qwen2.5-Coder-0.5B-Instruct bash scripts/verl_train.sh [more overrides]
#
# Environment (defaults in brackets): DATA [data/egca], MODEL, SCHEME [egca; uniform = plain GRPO],
# NORMALIZER [conserve_kl_all], MODE [egca_sync; egca_colocate_async, egca_separate_async],
# NNODES [1], GPUS [8 per node], N [8 rollouts per prompt], BATCH [64 prompts], STEPS [unset],
# SANDBOX_WORKERS [4], PY [python3]. Extra arguments are more Hydra overrides (they win). --print prints the overrides,
# one per line, and exits (tests/verl/test_launch.py composes them with verl's config).
set -euo pipefail
DATA=${DATA:-data/egca}
MODEL=${MODEL:-Qwen/Qwen2.5-Coder-0.5B-Instruct}
SCHEME=${SCHEME:-egca}
NORMALIZER=${NORMALIZER:-conserve_kl_all}
case "$NORMALIZER" in
  conserve_kl_all) AGG=seq-mean-token-sum ;;  # row i contributes Σ_t a_{i,t}·ℓ_{i,t}: the EGCA operator
  conserve) AGG=seq-mean-token-mean ;;         # mask route: response_mask narrowed to the span
  *) AGG=${AGG:-token-mean} ;;                 # engine: the mask-only variant, any aggregation
esac
N=${N:-8}
BATCH=${BATCH:-64}
OVERRIDES=(
  # --- egca: trainer mode, reward manager, estimator, loss aggregation, Ray worker setup hook
  trainer.v1.trainer_mode="${MODE:-egca_sync}"
  reward.reward_manager.name=egca
  algorithm.adv_estimator=grpo
  actor_rollout_ref.actor.loss_agg_mode="$AGG"
  +ray_kwargs.ray_init.runtime_env.worker_process_setup_hook=egca.integrations.verl.hook.setup
  +egca.scheme="$SCHEME"
  +egca.normalizer="$NORMALIZER"
  +egca.references=curated+siblings
  +egca.reward=binary
  +egca.workers="${SANDBOX_WORKERS:-4}"  # sandbox processes per reward-loop worker (reward.num_workers: 8)
  # --- data: the parquet files of `egca verl prepare-data`
  data.train_files="$DATA/train.parquet"
  data.val_files="$DATA/val.parquet"
  data.train_batch_size="$BATCH"
  data.max_prompt_length=512
  data.max_response_length=512
  data.filter_overlong_prompts=True
  algorithm.use_kl_in_reward=False
  # --- model, actor, rollout (vLLM), reference
  actor_rollout_ref.model.path="$MODEL"
  actor_rollout_ref.model.use_remove_padding=True
  actor_rollout_ref.model.enable_gradient_checkpointing=True
  actor_rollout_ref.actor.optim.lr=1e-6
  actor_rollout_ref.actor.ppo_mini_batch_size="$BATCH"
  actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=8
  actor_rollout_ref.actor.use_kl_loss=True
  actor_rollout_ref.actor.kl_loss_coef=0.001
  actor_rollout_ref.actor.kl_loss_type=low_var_kl
  actor_rollout_ref.actor.entropy_coeff=0
  actor_rollout_ref.rollout.name=vllm
  actor_rollout_ref.rollout.n="$N"
  actor_rollout_ref.rollout.tensor_model_parallel_size=1
  actor_rollout_ref.rollout.gpu_memory_utilization=0.5
  actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu=8
  actor_rollout_ref.ref.log_prob_micro_batch_size_per_gpu=8
  # --- trainer
  trainer.critic_warmup=0
  trainer.logger='["console"]'
  trainer.project_name=egca
  trainer.experiment_name="egca-$SCHEME"
  trainer.nnodes="${NNODES:-1}"
  trainer.n_gpus_per_node="${GPUS:-8}"
  trainer.save_freq=-1
  trainer.test_freq=5
  trainer.total_epochs=1
)
[ -n "${STEPS:-}" ] && OVERRIDES+=(trainer.total_training_steps="$STEPS")
if [ "${1:-}" = "--print" ]; then
  shift
  printf '%s\n' "${OVERRIDES[@]}" "$@"
  exit 0
fi
exec "${PY:-python3}" -m verl.trainer.main_ppo "${OVERRIDES[@]}" "$@"
