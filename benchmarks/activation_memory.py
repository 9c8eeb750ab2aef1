"""Saved-activation memory per training image, and the worst-case batch of each recipe against its GPU's memory.

What autograd keeps from the forward pass for the backward pass is most of a training step's
memory. It is counted here on the CPU, with ``torch.autograd.graph.saved_tensors_hooks``: the
bytes of every distinct storage a saved tensor lives in, the model's own parameters and
buffers left out. It is counted at batch 1 and batch 2 of the same images; the difference is
one image's share (the rest, weights cast by autocast for instance, does not grow with the
batch). Precisions: float32, and bfloat16 autocast on the CPU as the stand-in for the GPUs'
float16 autocast (the CPU has no float16 autocast worth measuring; both halve what they cast).

The model is the trainer's (``model.build_model``, reference sizes), its batches come from the
trainer's data path on SYNTHETIC images of exact shapes and object counts (benchmarks/shapes.py).

The estimate that follows, per recipe: images per GPU x one image's saved activations at the
worst shape the sampler makes (800x1344) and the crowded case, plus the model's state (fp32
weights, gradients and momentum). It leaves out what a GPU adds on top (the backward pass's
transient gradients, cuDNN workspaces, the allocator's fragmentation, the CUDA context): an
estimate, to be confirmed by benchmarks/gpu/check.sh's runs under memory caps.

    .venv/bin/python benchmarks/activation_memory.py --json /tmp/act.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import shapes  # noqa: E402

MIB = 2**20
GIB = 2**30
# GPU memory a step may use: the card's memory less the CUDA context and the allocator's reserve
# (the caps benchmarks/gpu/check.sh sets on a larger GPU to stand in for these cards).
USABLE_GIB = {"V100-SXM2-16GB": 15.5, "V100-SXM3-32GB": 31.5, "A100-SXM4-40GB": 38.5}
# The GPU each recipe was made for: NVIDIA's v0.7 systems (DGX-1: V100-SXM2-16GB; DGX-2H:
# V100-SXM3-32GB; DGX A100: A100-SXM4-40GB, as their MLPerf v0.7 system descriptions list them)
# and LANTA's A100-SXM4-40GB.
RECIPE_GPU = {
    "nvidia_dgx1": "V100-SXM2-16GB",
    "nvidia_dgx2": "V100-SXM3-32GB",
    "nvidia_dgx2_4x16x2": "V100-SXM3-32GB",
    "nvidia_dgxa100": "A100-SXM4-40GB",
    "nvidia_dgxa100_2x8x6": "A100-SXM4-40GB",
    "nvidia_dgxa100_4x8x4": "A100-SXM4-40GB",
    "nvidia_dgxa100_32x8": "A100-SXM4-40GB",
    "lanta_4x4": "A100-SXM4-40GB",
}


def saved_bytes(trainer, images, targets, precision: str) -> int:
    """Bytes of the distinct storages autograd saves in one forward pass (parameters excluded)."""
    import torch

    own = {t.untyped_storage().data_ptr() for t in list(trainer.model.parameters()) + list(trainer.model.buffers())}
    seen: dict[int, int] = {}

    def pack(tensor):
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in own and storage.device.type != "meta":
            seen[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16-autocast"):
            # The loader gives uint8 BGR images; the trainer makes them float on the device.
            losses = trainer.model([img.float() for img in images], targets)
    total = sum(seen.values())
    del losses
    return total


def measure(
    shapes_: list[str], objects: list[int], precisions: list[str], threads: int, save
) -> tuple[list[dict], dict]:
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    trainer = shapes.Trainer(shapes.recipe_for(2, dry_run=False), "cpu", amp=False)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        tree, index = shapes.make_tree(Path(folder), 2, shapes_, objects)
        for shape in shapes_:
            for count in objects:
                images, targets = shapes.load_batch(tree, index[(shape, count)])
                for precision in precisions:
                    started = time.perf_counter()
                    one = saved_bytes(trainer, images[:1], targets[:1], precision)
                    two = saved_bytes(trainer, images, targets, precision)
                    rows.append(
                        {
                            "shape": shape,
                            "padded": shapes.padded(images),
                            "objects": count,
                            "precision": precision,
                            "batch1_mib": one / MIB,
                            "batch2_mib": two / MIB,
                            "per_image_mib": (two - one) / MIB,
                            "seconds": time.perf_counter() - started,
                        }
                    )
                    save(rows)
                    print(
                        f"{shape} {count} objects {precision}: {(two - one) / MIB:.0f} MiB per image",
                        file=sys.stderr,
                        flush=True,
                    )
    state = sum(p.numel() * p.element_size() for p in trainer.model.parameters())
    trainable = sum(p.numel() * p.element_size() for p in trainer.model.parameters() if p.requires_grad)
    # Weights (all), gradients and SGD momentum (trainable ones).
    return rows, {"weights_mib": state / MIB, "state_mib": (state + 2 * trainable) / MIB}


def estimate(rows: list[dict], state_mib: float) -> list[dict]:
    """Each recipe's worst batch shape (800x1344) against its GPU, per precision and object count:
    the model's state plus images per GPU x one image's saved activations."""
    from mlperf_maskrcnn import recipe as recipes

    worst = [r for r in rows if r["shape"] == "800x1344"]
    table = []
    for name, gpu in RECIPE_GPU.items():
        per_gpu = recipes.load(name).images_per_gpu
        entry = {"recipe": name, "gpu": gpu, "images_per_gpu": per_gpu, "usable_gib": USABLE_GIB[gpu], "need_gib": {}}
        for row in worst:
            key = f"{row['precision']}, {row['objects']} objects"
            entry["need_gib"][key] = (state_mib + per_gpu * row["per_image_mib"]) / 1024
        table.append(entry)
    return table


def report(rows: list[dict], state: dict, table: list[dict]) -> None:
    import torch

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}")
    print(
        f"model state: weights {state['weights_mib']:.0f} MiB; with gradients and momentum {state['state_mib']:.0f} MiB"
    )
    print("| shape (padded) | objects | precision | saved per image MiB | batch 1 MiB | batch 2 MiB |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['shape']} ({r['padded']}) | {r['objects']} | {r['precision']} | {r['per_image_mib']:.0f} | "
            f"{r['batch1_mib']:.0f} | {r['batch2_mib']:.0f} |"
        )
    if not table or not table[0]["need_gib"]:
        return
    keys = list(table[0]["need_gib"])
    print("| recipe | GPU (usable GiB) | images/GPU | " + " | ".join(f"{k}: GiB" for k in keys) + " |")
    print("|---|---|---|" + "---|" * len(keys))
    for t in table:
        cells = " | ".join(
            f"{t['need_gib'][k]:.1f} ({'fits' if t['need_gib'][k] <= t['usable_gib'] else 'OVER'})" for k in keys
        )
        print(f"| {t['recipe']} | {t['gpu']} ({t['usable_gib']}) | {t['images_per_gpu']} | {cells} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shapes", nargs="+", default=["800x1216", "800x1344"], choices=list(shapes.SHAPES))
    parser.add_argument("--objects", nargs="+", type=int, default=list(shapes.OBJECTS))
    parser.add_argument("--precisions", nargs="+", default=["fp32", "bf16-autocast"], choices=["fp32", "bf16-autocast"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--from-json", type=Path, help="print the tables of an earlier --json file (no measuring)")
    args = parser.parse_args(argv)
    if args.from_json:
        saved = json.loads(args.from_json.read_text())
        rows, state = saved["rows"], saved["state"]
    else:
        # Rows of an earlier run in the same --json file stay, unless measured again (a long run can
        # be done in pieces; each row is saved as soon as it is measured).
        earlier = json.loads(args.json.read_text())["rows"] if args.json and args.json.is_file() else []

        def merged(new: list[dict]) -> list[dict]:
            keys = {(r["shape"], r["objects"], r["precision"]) for r in new}
            return [r for r in earlier if (r["shape"], r["objects"], r["precision"]) not in keys] + new

        def save(new: list[dict]) -> None:
            if args.json:
                args.json.write_text(json.dumps({"rows": merged(new)}, indent=1))

        rows, state = measure(args.shapes, args.objects, args.precisions, args.threads, save)
        rows = merged(rows)
    table = estimate(rows, state["state_mib"])
    report(rows, state, table)
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "state": state, "estimate": table}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
