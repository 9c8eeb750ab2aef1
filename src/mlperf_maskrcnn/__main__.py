"""``python -m mlperf_maskrcnn train|synth|recipes``: the bundled MLPerf v0.7 Mask R-CNN workload."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m mlperf_maskrcnn", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="one MLPerf training run (one process per rank)")
    train.add_argument("--recipe", required=True, help="recipe name in resources/recipes, or a YAML path")
    train.add_argument("--data", required=True, type=Path, help="COCO 2017 tree (annotations/, train2017/, val2017/)")
    train.add_argument("--weights", type=Path, help="Detectron R-50.pkl (default: DATA/models/R-50.pkl)")
    train.add_argument("--no-weights", action="store_true", help="start from random weights (open division)")
    train.add_argument("--log-file", type=Path, help="MLPerf log file written by rank 0 (also on stdout)")
    train.add_argument("--seed", type=int, help="seed (default: random, shared by all ranks, logged)")
    train.add_argument("--max-iter", type=int, help="cap iterations below the recipe's (throughput runs)")
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
        help="seconds a collective may wait for a peer before the run fails (default 300)",
    )
    train.add_argument(
        "--cache-cleared", action="store_true", help="the launcher dropped the page cache (or MLPERF_CACHE_CLEARED=1)"
    )
    train.add_argument("--threads", type=int, help="torch CPU threads per rank")
    train.add_argument("--device", choices=("auto", "cuda", "cpu"), default="auto")
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


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "synth":
        from .synthetic import SynthSpec, write_tree

        root = write_tree(args.out, SynthSpec(args.train_images, args.val_images, seed=args.seed))
        print(f"synthetic COCO tree written to {root}")
        return 0
    if args.command == "recipes":
        from . import recipe

        try:
            if args.name:
                found = recipe.load(args.name)
                for key, value in found.to_dict().items():
                    print(f"{key}: {value}")
            else:
                print("\n".join(recipe.available_recipes()))
        except recipe.RecipeError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        return 0

    from .data import DataError
    from .recipe import RecipeError
    from .train import TrainOptions, train
    from .weights import WeightFileError

    weights = None if args.no_weights else (args.weights or args.data / "models" / "R-50.pkl")
    options = TrainOptions(
        recipe=args.recipe,
        data=args.data,
        weights=weights,
        log_file=args.log_file,
        seed=args.seed,
        max_iter=args.max_iter,
        throughput_iters=args.throughput_iters,
        print_every=args.print_every,
        dist_timeout_s=args.dist_timeout,
        cache_cleared=args.cache_cleared or os.environ.get("MLPERF_CACHE_CLEARED") == "1",
        threads=args.threads,
        device=args.device,
        submission_org=args.org,
        submission_platform=args.platform,
        fault_nan_iter=args.fault_nan_iter,
    )
    try:
        return train(options)
    except (RecipeError, WeightFileError, DataError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
