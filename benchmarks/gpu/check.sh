#!/usr/bin/env bash
# The GPU check: one prepared script for the first GPU machine available, under 8 minutes on one GPU.
#
#   benchmarks/gpu/check.sh OUTDIR            # on a GPU machine, from anywhere
#   benchmarks/gpu/check.sh --dry-run OUTDIR  # every part on the CPU at tiny sizes (CI runs this)
#
# Parts, each in its own process with its own time limit, each writing OUTDIR/<part>.json as soon
# as it has results (a part killed at its limit keeps what it wrote), summary.md rewritten after
# every part: prepare (SYNTHETIC data sets), env (device, versions, fp16 matmul rate), nccl (the
# trainer's cpu:gloo,cuda:nccl group on one rank), train (python -m mlperf_maskrcnn train, 60
# iterations with an evaluation), matrix (peak memory and img/s per batch shape, objects,
# channels_last, cudnn.benchmark), cap15 and cap38 (what fits under a V100-16GB's and an
# A100-40GB's memory), speed (ours vs stock torchvision, hot-loop variants, FLOPs per image, MFU),
# eval (forward, paste and encoding per image; post-processing before/after). Logs in OUTDIR/logs.
#
# Python: $PYTHON, else python3 (a dry run: the project's .venv where there is one). The
# project's code runs from this tree (PYTHONPATH=src), nothing is installed; wheels in .whl/
# (benchmarks/gpu/fetch_wheels.sh) are installed into a private folder first. Environment:
# CHECK_DEADLINE_S (all parts together, default 450), CHECK_WORK (scratch folder, default a
# temporary one, removed at the end), CHECK_BUNDLE (a .tar.gz of OUTDIR rewritten after every
# part, with summary.md copied beside it), CHECK_PARTS (run only these, e.g. "train eval"; prepare
# always runs), CHECK_COMMIT (recorded in env.json where the tree has no .git), CHECK_DRY_RUN=1
# (same as --dry-run).
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BENCH=$ROOT/benchmarks/gpu
DRY=${CHECK_DRY_RUN:-0}
if [ "${1:-}" = "--dry-run" ]; then DRY=1; shift; fi
if [ $# -ne 1 ]; then
    echo "usage: benchmarks/gpu/check.sh [--dry-run] OUTDIR" >&2
    exit 2
fi
mkdir -p "$1/logs" || exit 2
OUTDIR=$(cd "$1" && pwd)
LOGS=$OUTDIR/logs
DEADLINE=${CHECK_DEADLINE_S:-450}
if [ -n "${CHECK_WORK:-}" ]; then
    WORK=$CHECK_WORK
    mkdir -p "$WORK"
else
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/gpucheck.XXXXXX")
    trap 'rm -rf "$WORK"' EXIT
fi
if [ "$DRY" = 1 ]; then
    DEFAULT_PY=python3
    [ -x "$ROOT/.venv/bin/python" ] && DEFAULT_PY=$ROOT/.venv/bin/python
    PY=${PYTHON:-$DEFAULT_PY}
    MODE=(--dry-run)
else
    PY=${PYTHON:-python3}
    MODE=()
fi
SITE=""
if [ "$DRY" != 1 ] && compgen -G "$ROOT/.whl/*.whl" >/dev/null; then
    SITE=${CHECK_SITE:-${TMPDIR:-/tmp}/gpucheck-site}
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" \
        "$ROOT"/.whl/*.whl >"$LOGS/wheels.log" 2>&1 || echo "wheels: install failed (see logs/wheels.log)"
fi
export PYTHONPATH="$ROOT/src${SITE:+:$SITE}${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1
# The trainer's allocator setting (src/mlperf_maskrcnn/__main__.py), for the parts that build the model themselves.
export PYTORCH_CUDA_ALLOC_CONF=${PYTORCH_CUDA_ALLOC_CONF:-expandable_segments:True}
COMMON=(--out "$OUTDIR" --work "$WORK" ${MODE[@]+"${MODE[@]}"})
FAILED=0

finish_part() {
    "$PY" "$BENCH/summary.py" "$OUTDIR" || echo "summary: could not be written"
    if [ -n "${CHECK_BUNDLE:-}" ]; then
        tar -czf "$CHECK_BUNDLE.tmp" -C "$OUTDIR" . && mv "$CHECK_BUNDLE.tmp" "$CHECK_BUNDLE"
        cp "$OUTDIR/summary.md" "$(dirname "$CHECK_BUNDLE")/summary.md"
    fi
}

# part NAME BUDGET_S COMMAND...: run it under min(budget, time left before the deadline).
part() {
    local name=$1 budget=$2 left limit started code status
    shift 2
    if [ -n "${CHECK_PARTS:-}" ] && [ "$name" != prepare ] && [[ " $CHECK_PARTS " != *" $name "* ]]; then
        return
    fi
    left=$((DEADLINE - SECONDS - 10))
    if [ "$left" -lt 20 ]; then
        "$PY" "$BENCH/results.py" skip "$OUTDIR" "$name" "the check's ${DEADLINE} s deadline came first"
        echo "$name: skipped (deadline)"
        FAILED=1
        finish_part
        return
    fi
    limit=$((budget < left ? budget : left))
    started=$SECONDS
    timeout -k 10 "$limit" "$@" >"$LOGS/$name.log" 2>&1
    code=$?
    status=$("$PY" "$BENCH/results.py" mark "$OUTDIR" "$name" "$code" "$LOGS/$name.log" $((SECONDS - started)))
    [ "$status" = ok ] || FAILED=1
    printf '%-8s %-8s exit %-3s %4ss (limit %ss)\n' "$name" "$status" "$code" $((SECONDS - started)) "$limit"
    finish_part
}

echo "GPU check$([ "$DRY" = 1 ] && echo ' (dry run, CPU)'): $OUTDIR, deadline ${DEADLINE}s, python $PY"
if [ "$DRY" = 1 ]; then
    part prepare 120 "$PY" "$BENCH/prepare.py" "${COMMON[@]}"
    part env 60 "$PY" "$BENCH/device_facts.py" "${COMMON[@]}"
    part nccl 60 "$PY" "$BENCH/collectives.py" "${COMMON[@]}"
    part train 240 "$PY" "$BENCH/train_run.py" "${COMMON[@]}" --timeout-s 210
    part matrix 120 "$PY" "$BENCH/memory.py" "${COMMON[@]}" --name matrix --batches 2 --shapes 800x1216 \
        --benchmark on --warmup 0 --steps 1
    part cap15 90 "$PY" "$BENCH/memory.py" "${COMMON[@]}" --name cap15 --cap-gib 15.5 --batches 2 \
        --layouts nchw --benchmark on --shapes 800x1344 --warmup 0 --steps 1
    part cap38 90 "$PY" "$BENCH/memory.py" "${COMMON[@]}" --name cap38 --cap-gib 38.5 --batches 2 \
        --layouts nchw --benchmark on --shapes 1344x1344 --warmup 0 --steps 1
    part speed 150 "$PY" "$BENCH/speed.py" "${COMMON[@]}" --batch 2 --rounds 1 --steps 1 --warmup 0
    part eval 90 "$PY" "$BENCH/eval_split.py" "${COMMON[@]}"
else
    part prepare 60 "$PY" "$BENCH/prepare.py" "${COMMON[@]}"
    part env 30 "$PY" "$BENCH/device_facts.py" "${COMMON[@]}"
    part nccl 40 "$PY" "$BENCH/collectives.py" "${COMMON[@]}"
    part train 140 "$PY" "$BENCH/train_run.py" "${COMMON[@]}" --timeout-s 110
    part matrix 110 "$PY" "$BENCH/memory.py" "${COMMON[@]}" --name matrix --batches 8 --warmup 2 --steps 3
    part cap15 60 "$PY" "$BENCH/memory.py" "${COMMON[@]}" --name cap15 --cap-gib 15.5 --batches 6 \
        --layouts nchw --benchmark on --warmup 1 --steps 2
    part cap38 90 "$PY" "$BENCH/memory.py" "${COMMON[@]}" --name cap38 --cap-gib 38.5 --batches 8 6 4 \
        --layouts nchw --benchmark on --warmup 1 --steps 2
    part speed 80 "$PY" "$BENCH/speed.py" "${COMMON[@]}" --batch 8 --rounds 3 --steps 5 --warmup 2
    part eval 50 "$PY" "$BENCH/eval_split.py" "${COMMON[@]}"
fi
echo "summary: $OUTDIR/summary.md (${SECONDS}s in all)"
exit $FAILED
