#!/usr/bin/env bash
# Fill .whl/ (git-ignored) with the wheels a GPU machine without internet needs for check.sh: the
# workload's packages that such a machine's own Python lacks. Run here, on a machine with PyPI;
# check.sh installs them from .whl/ into a private folder when the folder is there.
#   benchmarks/gpu/fetch_wheels.sh            # CPython 3.12, manylinux x86_64 (the lent H200's python3)
#   PYVER=3.11 benchmarks/gpu/fetch_wheels.sh # another interpreter version
# Versions are the project's pins (pyproject.toml). Their own needs (numpy; mlperf-logging's
# pandas, pyyaml, scipy) are in the GPU image's package list, so they are not fetched.
set -euo pipefail
cd "$(dirname "$0")/../.."
PYVER=${PYVER:-3.12}
PY=${PYTHON:-python3}
DEST=${WHEELS:-.whl}
PINS=(pycocotools==2.0.11 faster-coco-eval==1.8.0 mlperf-logging==4.1.68)
PLATFORMS=(manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64 manylinux1_x86_64)
mkdir -p "$DEST"
args=(--no-deps --only-binary=:all: --python-version "$PYVER" --implementation cp -d "$DEST" --quiet)
for platform in "${PLATFORMS[@]}"; do args+=(--platform "$platform"); done
for pin in "${PINS[@]}"; do
    "$PY" -m pip download "${args[@]}" "$pin"
done
# One version of each package: two would stop the machine's install.
dupes=$(ls "$DEST"/*.whl | xargs -n1 basename | cut -d- -f1 | sort | uniq -d)
if [ -n "$dupes" ]; then
    echo "error: $DEST holds several versions of: $dupes (remove the old ones)" >&2
    exit 1
fi
echo "wheels in $DEST:"
ls -1 "$DEST"
