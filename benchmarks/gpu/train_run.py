"""The GPU check's trainer part: ``python -m mlperf_maskrcnn train`` end to end, two epochs on one GPU.

The trainer runs as a site would run it, on the SYNTHETIC COCO tree of the scratch folder
(prepare.py: an epoch is 30 iterations at batch 8), with the ``gpu_check`` recipe (one GPU, the
reference's model and image sizes, float16) for two epochs, 60 iterations: epoch 1's evaluation
runs on the GPU and is scored in the background while epoch 2 trains. The whole output and the
MLPerf log go to OUTDIR/logs. Read back from the log: whether ``run_stop`` came and why, the
progress lines' img/s (the first window holds cuDNN's autotuning; the rest is the steady rate),
the evaluation's inference time and scores, and init time (init_start to run_start).

A dry run trains the smoke recipe with benchmarks/shapes.py's dry model on the CPU.
"""

from __future__ import annotations

import json
import re
import signal
import statistics
import subprocess
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import results  # noqa: E402
import shapes  # noqa: E402

from mlperf_maskrcnn import contract  # noqa: E402
from mlperf_maskrcnn import recipe as recipes  # noqa: E402

INFERENCE = re.compile(r"eval: epoch (\d+) inference done in ([0-9.]+)s \((\d+) images, (\d+) detections\)")


def dry_recipe(work: Path) -> Path:
    """The smoke recipe with the dry model, one image per rank, no loader workers, as a YAML file."""
    base = recipes.load("smoke")
    data = shapes.recipe_for(1, dry_run=True, scale=shapes.DRY_TREE_SCALE).to_dict()
    data.update(name="gpu_check_dry", test_batch=2, dataloader_workers=0, decay_steps=list(base.decay_steps))
    data.pop("global_batch")
    path = work / "gpu_check_dry.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def read_log(path: Path) -> dict:
    """What the MLPerf log says about the run."""
    events, windows, inference, environment = {}, [], [], {}
    evaluations = []
    for line in path.read_text(errors="replace").splitlines() if path.is_file() else []:
        if ":::MLLOG " in line:
            try:
                record = json.loads(line.split(":::MLLOG ", 1)[1])
            except ValueError:
                continue
            events.setdefault(record["key"], record)
            if record["key"] == "eval_accuracy":
                evaluations.append({"epoch": record["metadata"].get("epoch_num"), **(record["value"] or {})})
            continue
        progress = contract.read_progress(line)
        if progress is not None:
            windows.append({"iteration": progress[0], "img_s": progress[1]})
        match = INFERENCE.search(line)
        if match:
            inference.append(
                {
                    "epoch": int(match[1]),
                    "seconds": float(match[2]),
                    "images": int(match[3]),
                    "detections": int(match[4]),
                }
            )
        environment = environment or contract.read_environment(line)
    stop = events.get("run_stop")
    found = {
        "run_start": "run_start" in events,
        "run_stop": stop is not None,
        "status": stop["metadata"].get("status") if stop else None,
        "stop_kind": stop["metadata"].get(contract.STOP_KIND) if stop else None,
        "reason": stop["metadata"].get(contract.STOP_REASON) if stop else None,
        "windows": windows,
        "steady_img_s": statistics.median(w["img_s"] for w in windows[1:]) if len(windows) > 1 else None,
        "evaluations": evaluations,
        "inference": inference,
        "environment": environment,
    }
    if "init_start" in events and "run_start" in events:
        found["init_s"] = (events["run_start"]["time_ms"] - events["init_start"]["time_ms"]) / 1000
    if stop and "run_start" in events:
        found["run_s"] = (stop["time_ms"] - events["run_start"]["time_ms"]) / 1000
    return found


def main(argv: list[str] | None = None) -> int:
    parser = results.options(__doc__.split("\n")[0])
    parser.add_argument("--timeout-s", type=float, default=150.0, help="SIGTERM the trainer after this long")
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args(argv)
    from mlperf_maskrcnn.data import CocoDetection

    tree = args.work / "coco"
    recipe_path = dry_recipe(args.work) if args.dry_run else Path("gpu_check")
    recipe = recipes.load(recipe_path)
    usable = len(CocoDetection(tree, "train", train=True, min_size=recipe.min_size, max_size=recipe.max_size))
    per_epoch = recipes.iterations_per_epoch(usable, recipe.images_per_gpu)  # one rank
    logs = args.out / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log = logs / "train_mlperf.log"
    command = [
        sys.executable,
        "-m",
        "mlperf_maskrcnn",
        "train",
        "--recipe",
        str(recipe_path),
        "--data",
        str(tree),
        "--log-file",
        str(log),
        "--seed",
        "1",
        "--max-iter",
        str(args.epochs * per_epoch),
        "--print-every",
        "2" if args.dry_run else "10",
        "--device",
        "cpu" if args.dry_run else "cuda",
    ]
    if args.dry_run:
        command += ["--threads", "2"]
    data = {"command": " ".join(command), "usable_train_images": usable, "iterations_per_epoch": per_epoch}
    results.write(args.out, "train", data, "partial")
    with open(logs / "train_output.log", "w") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
        try:
            code = process.wait(timeout=args.timeout_s)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGTERM)  # the trainer ends with run_stop "terminated"
            try:
                code = process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                code = process.wait()
            data["timed_out_after_s"] = args.timeout_s
    found = read_log(log)
    found["run_status"] = found.pop("status")
    data.update(exit_code=code, **found)
    # The check passes when the run ended by itself with run_stop at the iteration cap or the target.
    data["ok"] = data["run_stop"] and data["stop_kind"] in (contract.ITERATION_CAP, contract.TARGET_MET)
    results.write(args.out, "train", data)
    return 0 if data["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
