"""Fit the projection's constants (acceptance.mlperf.projection) and measure its error.

    .venv/bin/python benchmarks/projection_fit.py RESULTS_V07 [--shared DIR] [--minutes 5 10 20]

RESULTS_V07 is a checkout of mlcommons/training_results_v0.7 (or any folder of
``<submitter>/results/<system>/maskrcnn/result_*.txt``). Every set run with NVIDIA's PyTorch code
(per-epoch records and iteration lines; Google's TensorFlow logs have blocks only) is read. The
sets also shipped in shared/data (NVIDIA's DGX-1 and 4x DGX A100) are left out of the fit: they
validate it.

For each fitting run (R: the steady-state rate of its first 10 minutes, as the projection reads
it; E: its own epochs to target):
  a = (sum of its E epoch times) / (E * N / R) - 1
  b = (mean training pause of its evaluations) / (V / R)
  C = (epoch_stop of epoch E to run_stop) - (that mean pause)
The medians are printed next to the module's constants, then the projection of every set from the
first M minutes of its first log against the set's olympic score.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from acceptance.mlperf import analysis, parse, projection, score  # noqa: E402

VALIDATION = ("dgx1_ngc20.06_pytorch", "dgxa100_n4_ngc20.06_pytorch")
FIT_MINUTES = 10.0


def sets_in(root: Path) -> dict[str, list[Path]]:
    found = {}
    for folder in sorted(root.glob("*/results/*/maskrcnn")):
        logs = sorted(folder.glob("result_*.txt"))
        if logs and parse.parse(logs[0]).first("epoch_start") is not None and parse.parse(logs[0]).iteration_times:
            found[f"{folder.parts[-4]}/{folder.parts[-2]}"] = logs
    return found


def components(path: Path) -> tuple[float, float, float]:
    """(a, b, C) of one complete run, R from its first ``FIT_MINUTES`` minutes."""
    log = parse.parse(path)
    run = analysis.summarize(log)
    seen = projection.window(log, FIT_MINUTES)
    rate = projection.steady_rate(seen.rates)
    starts = {r.metadata["epoch_num"]: r.time_ms for r in log.all("epoch_start")}
    stops = {r.metadata["epoch_num"]: r.time_ms for r in log.all("epoch_stop")}
    target = run.epochs_to_target
    training = sum(stops[e] - starts[e] for e in range(1, target + 1)) / 1000.0
    pause = statistics.fmean((starts[e + 1] - stops[e]) / 1000.0 for e in range(1, target))
    a = training / (target * seen.train_images / rate) - 1.0
    b = pause / (seen.eval_images / rate)
    tail = (log.last("run_stop").time_ms - stops[target]) / 1000.0 - pause
    return a, b, tail


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("results", type=Path, help="a checkout of mlcommons/training_results_v0.7")
    parser.add_argument("--minutes", type=float, nargs="+", default=[5.0, 10.0, 20.0])
    args = parser.parse_args()
    sets = sets_in(args.results)
    fitting = [p for name, logs in sets.items() if name.split("/")[1] not in VALIDATION for p in logs]
    parts = [components(p) for p in fitting]
    if not parts:
        print("no set besides the validation sets: nothing to fit")
    for index, (name, constant) in enumerate(
        [("a", projection.EPOCH_OVERHEAD), ("b", projection.EVAL_PAUSE_FACTOR), ("C", projection.LAST_EVAL_S)]
    ):
        values = [p[index] for p in parts]
        if not values:
            continue
        print(f"{name}: median {statistics.median(values):.4f} (range {min(values):.4f}..{max(values):.4f}, "
              f"{len(values)} runs); the module uses {constant}")  # fmt: skip
    print()
    header = "| set | score (min) | " + " | ".join(f"{m:g} min: projected, error" for m in args.minutes) + " |"
    print(header)
    print("|" + "---|" * (2 + len(args.minutes)))
    for name, logs in sets.items():
        value = score.olympic([analysis.summarize(p) for p in logs]).value
        cells = []
        for minutes in args.minutes:
            got = projection.project(logs[0], minutes).projected_min
            cells.append(f"{got:.2f}, {100 * (got / value - 1):+.1f}%")
        mark = " (validation)" if name.split("/")[1] in VALIDATION else ""
        print(f"| {name}{mark} | {value:.2f} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
