"""``python -m mlperf_maskrcnn train|synth|recipes``: the bundled MLPerf v0.7 Mask R-CNN workload."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

# The CUDA caching allocator reads this when CUDA starts: segments that grow instead of new
# fixed blocks keep a long run's memory from fragmenting (variable image shapes, 6 images per GPU).
os.environ.setdefault("PYTORCH_CUDA_ALLOC_CONF", "expandable_segments:True")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m mlperf_maskrcnn", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="one MLPerf training run (one process per rank)")
    train.add_argument("--recipe", required=True, help="recipe name in resources/recipes, or a YAML path")
    train.add_argument("--data", required=True, type=Path, help="COCO 2017 tree (annotations/, train2017/, val2017/)")
    train.add_argument("--weights", type=Path, help="Detectron R-50.pkl (default: DATA/models/R-50.pkl)")
    train.add_argument("--no-weights", action="store_true", help="start from random weights (open division only)")
    train.add_argument("--log-file", type=Path, help="MLPerf log file written by rank 0 (also on stdout)")
    train.add_argument("--seed", type=int, help="seed (default: random, shared by all ranks, logged)")
    train.add_argument("--max-iter", type=int, help="cap iterations below the recipe's")
    train.add_argument(
        "--throughput-iters",
        type=int,
        help="throughput mode: train N iterations without evaluation (not an MLPerf result)",
    )
    train.add_argument("--print-every", type=int, default=20, help="progress line every N iterations")
    train.add_argument(
        "--dist-timeout",
        type=float,
        default=300.0,
        help="seconds a rank may make no progress (a collective waiting for a dead peer) before the run fails",
    )
    train.add_argument(
        "--cache-cleared", action="store_true", help="the launcher dropped the page cache (or MLPERF_CACHE_CLEARED=1)"
    )
    train.add_argument("--threads", type=int, help="torch CPU threads per rank")
    train.add_argument("--device", choices=("auto", "cuda", "cpu"), default="auto")
    train.add_argument("--channels-last", action="store_true", help="NHWC memory format for the model (GPUs)")
    train.add_argument(
        "--cudnn-benchmark", action="store_true", help="let cuDNN time its algorithms for each new shape (GPUs)"
    )
    train.add_argument("--platform", help="submission_platform for the log (default: the recipe's)")
    train.add_argument("--org", default="ThaiSC", help="submission_org for the log")
    train.add_argument("--fault-nan-iter", type=int, help=argparse.SUPPRESS)

    synth = sub.add_parser("synth", help="write a SYNTHETIC COCO-2017-shaped tree and R-50.pkl")
    synth.add_argument("--out", required=True, type=Path)
    synth.add_argument("--train-images", type=int, default=32)
    synth.add_argument("--val-images", type=int, default=8)
    synth.add_argument("--seed", type=int, default=0)

    recipes = sub.add_parser("recipes", help="list recipes, or check one against the rules")
    recipes.add_argument("name", nargs="?")
    return parser


def _synth(args: argparse.Namespace) -> int:
    from .synthetic import SynthSpec, write_tree

    root = write_tree(args.out, SynthSpec(args.train_images, args.val_images, seed=args.seed))
    print(f"synthetic COCO tree written to {root}")
    return 0


def _recipes(args: argparse.Namespace) -> int:
    from . import recipe

    try:
        if args.name:
            for key, value in recipe.load(args.name).to_dict().items():
                print(f"{key}: {value}")
        else:
            print("\n".join(recipe.available_recipes()))
    except recipe.RecipeError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


def _train(args: argparse.Namespace) -> int:
    from . import contract
    from .data import DataError
    from .distributed import detect
    from .recipe import RecipeError
    from .train import TrainOptions, main
    from .weights import WeightFileError

    options = TrainOptions(
        recipe=args.recipe,
        data=args.data,
        weights=None if args.no_weights else (args.weights or args.data / "models" / "R-50.pkl"),
        log_file=args.log_file,
        seed=args.seed,
        max_iter=args.max_iter,
        throughput_iters=args.throughput_iters,
        print_every=args.print_every,
        dist_timeout_s=args.dist_timeout,
        cache_cleared=args.cache_cleared or os.environ.get("MLPERF_CACHE_CLEARED") == "1",
        threads=args.threads,
        device=args.device,
        channels_last=args.channels_last,
        cudnn_benchmark=args.cudnn_benchmark,
        submission_org=args.org,
        submission_platform=args.platform,
        fault_nan_iter=args.fault_nan_iter,
    )
    try:
        return main(options)
    except (RecipeError, WeightFileError, DataError) as err:
        # Refused before the run started: the MLPerf log (if any) has no run_start.
        kind = contract.DATA_ERROR if isinstance(err, DataError) else contract.SETUP_ERROR
        print(f"error: {err}", file=sys.stderr)
        print(contract.rank_stop_line(detect().rank, kind, str(err)), file=sys.stderr, flush=True)
        return 2


def main(argv: list[str] | None = None) -> int:
    from .resources import ResourcesNotFound

    args = _parser().parse_args(argv)
    handlers = {"synth": _synth, "recipes": _recipes, "train": _train}
    try:
        return handlers[args.command](args)
    except ResourcesNotFound as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
