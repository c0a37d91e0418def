#!/usr/bin/env bash
# One call on a lent GPU machine: adds the carried data chunk (training/gpu_chunks.py) to /tmp/gpu_data,
# starts the piano run in /tmp/gpu_run (or resumes it: the machine keeps /tmp while it stays warm), trains
# for TRAIN_S seconds, stops it with SIGINT (the run checkpoints) and copies model, log and checkpoint to $OUT.
# MINUTES (on a resumed run) ends it by itself instead, with its LR annealed to fit and a last validation.
# BF16=1 starts the run with `train --bf16` (1.26x a step on the VM's Zen 5 CPU; not yet timed on a GPU).
# It continues the shipped piano (wavenet_rt/models/default.safetensors), or the model file INIT names (the
# velocity-level line: INIT=training/piano-level/model.safetensors, whose --velocity-level the run keeps), by
# the shipped model's last stage's recipe (RECIPE.md):
# lone voices, own samples at OWN_SAMPLES (0.5; 0 for none), inputs turned down during attacks by up to
# ATTACK_GAIN dB (15; 0 for none).
# Usage there: CHUNK=.gpudata/chunk1.tar.xz TRAIN_S=200 [MINUTES=8] [BF16=1] [OWN_SAMPLES=0.5] [ATTACK_GAIN=15] [INIT=...] \
#   bash training/gpu_train.sh
set -u
export PYTHONUNBUFFERED=1
DATA=/tmp/gpu_data RUN=/tmp/gpu_run
OUT=${OUT:-/tmp/gpu_out}; mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.used,memory.total --format=csv,noheader
# the package needs its extension to import: built once per machine (CPU engine only: training needs no kernel)
if ! python3 -c "import wavenet_rt" 2>/dev/null; then
    WAVENET_RT_CUDA=OFF python3 -m pip install -q --no-build-isolation --no-deps -e . >/tmp/build.log 2>&1 \
        || { tail -40 /tmp/build.log; exit 1; }
fi
[ -n "${CHUNK:-}" ] && python3 training/gpu_chunks.py merge "$CHUNK" "$DATA"
if [ -f "$RUN/checkpoint.pt" ]; then
    timeout -s INT "$TRAIN_S" python3 -m wavenet_rt.train --out "$RUN" --resume --no-progress ${MINUTES:+--minutes "$MINUTES"}
else
    timeout -s INT "$TRAIN_S" python3 -m wavenet_rt.train --data "$DATA" --out "$RUN" --config small \
        --excitation periods --voices 4 --init "${INIT:-wavenet_rt/models/default.safetensors}" \
        --solo-share 1.0 --own-samples "${OWN_SAMPLES:-0.5}" --attack-gain "${ATTACK_GAIN:-15}" \
        --batch "${BATCH:-64}" --window 8000 --steps "${STEPS:-6000}" --lr 5e-4 --warmup 200 \
        --valid-every 250 --checkpoint-every 250 --no-progress $([ "${BF16:-0}" = 1 ] && echo --bf16)
fi
echo "train exit $?"
cp "$RUN"/model.safetensors "$RUN"/log.csv "$RUN"/config.json "$RUN"/checkpoint.pt "$OUT"/ 2>&1
awk -F, 'NR==1 || NR%100==0 || $5!=""' "$RUN/log.csv" | tail -25
nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader
