"""Benchmark: parse and score the 10 shared NVIDIA v0.7 logs (about 18 MB uncompressed).

    .venv/bin/python benchmarks/parse_logs.py [--repeat 5] [--logs DIR]

Prints the machine, the versions and, over the repeats, the median and range of the wall time
for: reading every log (xz included), summarising each run and scoring both sets. The compliance
checker is not included (it is a separate official tool run per log).
"""

from __future__ import annotations

import argparse
import lzma
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from acceptance.mlperf import analysis, score  # noqa: E402


def once(folders: list[Path]) -> float:
    start = time.perf_counter()
    for folder in folders:
        runs = [analysis.summarize(p) for p in sorted(folder.glob("result_*.txt.xz"))]
        score.olympic(runs)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--logs", type=Path, default=ROOT.parent / "shared" / "data" / "mlperf-v0.7-nvidia-maskrcnn")
    args = parser.parse_args()
    folders = sorted(p for p in args.logs.iterdir() if p.is_dir())
    files = [p for f in folders for p in f.glob("result_*.txt.xz")]
    size = sum(len(lzma.decompress(p.read_bytes())) for p in files)
    times = [once(folders) for _ in range(args.repeat)]
    print(f"machine: {platform.machine()} {platform.processor() or ''} cpus={__import__('os').cpu_count()}")
    print(f"python: {platform.python_version()}")
    print(f"logs: {len(files)} files, {size / 1e6:.1f} MB uncompressed")
    print(f"runs: {args.repeat}")
    print(f"median_s: {statistics.median(times):.3f}")
    print(f"min_s: {min(times):.3f}")
    print(f"max_s: {max(times):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
