#!/usr/bin/env bash
# Benchmark 5: one command on one GPU, a few minutes. Training img/s at 800x1066 (the MLPerf
# image size) with float16 autocast, the bundled model versus stock torchvision, then the COCO
# evaluation benchmark on this machine's CPUs. Results go to $OUT (default benchmarks/gpu/out).
#   benchmarks/gpu/run.sh                 # on a GPU machine, from the repository root
#   GPU_BENCH_TINY=1 benchmarks/gpu/run.sh  # the same script on CPU at a tiny size (a syntax run)
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-.venv/bin/python}
OUT=${OUT:-benchmarks/gpu/out}
mkdir -p "$OUT"
if [ -n "${GPU_BENCH_TINY:-}" ]; then
    TRAIN=(--device cpu --size 64 --batch 1 --steps 1 --warmup 0 --runs 1 --threads 1)
    EVAL=(--images 20 --detections 10 --runs 1 --cache "$OUT/cache")
else
    TRAIN=(--device cuda --amp --size 800 --batch 4 --steps 20 --warmup 5 --runs 3 --threads 4)
    EVAL=(--images 5000 --runs 3 --cache "$OUT/cache")
fi
{
    echo "# GPU benchmark $(date -u +%Y-%m-%dT%H:%MZ)"
    "$PY" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda,
        "gpu", torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none")'
    command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
    echo "## training step"
    "$PY" benchmarks/train_step.py "${TRAIN[@]}" --json "$OUT/train_step.json"
    echo "## COCO evaluation (CPUs)"
    "$PY" benchmarks/eval_coco.py "${EVAL[@]}" --json "$OUT/eval_coco.json"
} 2>&1 | tee "$OUT/results.md"
