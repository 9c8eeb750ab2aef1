"""The GPU check's collective part: the trainer's process group on one rank, each collective it uses.

The group is made as the trainer makes it, with ``distributed.backend_for`` (CPU tensors to gloo,
CUDA tensors to NCCL): the loss vector's all-reduce on a CUDA tensor, the evaluation scores'
broadcast on a CPU tensor, the detections' gather_object, the seed's broadcast_object_list, and
barriers. Each must succeed. On a GPU it also shows what the mixed group fixes: a CPU tensor's
broadcast on an NCCL-only group fails.
"""

from __future__ import annotations

import socket
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import results  # noqa: E402


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def attempt(checks: dict, name: str, action) -> None:
    started = time.perf_counter()
    try:
        action()
        checks[name] = {"ok": True, "seconds": time.perf_counter() - started}
    except Exception as err:  # every failure is the finding
        checks[name] = {"ok": False, "error": f"{type(err).__name__}: {str(err).strip().splitlines()[0][:300]}"}


def backend_map(dist, torch) -> dict:
    group = dist.group.WORLD
    found = {"get_backend": str(dist.get_backend())}
    for kind in ("cpu", "cuda"):
        try:
            found[kind] = type(group._get_backend(torch.device(kind))).__name__
        except Exception as err:  # no backend for that device in this group
            found[kind] = f"none ({type(err).__name__})"
    return found


def run(dry_run: bool) -> dict:
    import torch
    import torch.distributed as dist

    from mlperf_maskrcnn import distributed

    use_cuda = torch.cuda.is_available() and not dry_run
    device = torch.device("cuda", 0) if use_cuda else torch.device("cpu")
    if use_cuda:
        torch.cuda.set_device(device)
    backend = distributed.backend_for(use_cuda)
    dist.init_process_group(
        backend=backend,
        init_method=f"tcp://127.0.0.1:{free_port()}",
        rank=0,
        world_size=1,
        timeout=timedelta(seconds=60),
    )
    checks: dict = {}

    def all_reduce() -> None:
        vector = torch.arange(6, dtype=torch.float32, device=device)
        dist.all_reduce(vector)
        assert vector.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0], vector.tolist()

    def broadcast_cpu() -> None:
        scores = torch.tensor([0.377, 0.339], dtype=torch.float64)
        dist.broadcast(scores, src=0)
        assert scores.tolist() == [0.377, 0.339]

    def gather_object() -> None:
        parts = [None]
        dist.gather_object({"results": [1, 2, 3], "image_ids": [7]}, parts, dst=0)
        assert parts == [{"results": [1, 2, 3], "image_ids": [7]}], parts

    def broadcast_object_list() -> None:
        holder = [12345]
        dist.broadcast_object_list(holder, src=0)
        assert holder == [12345]

    for name, action in (
        ("all_reduce_" + device.type, all_reduce),
        ("broadcast_cpu", broadcast_cpu),
        ("gather_object", gather_object),
        ("broadcast_object_list", broadcast_object_list),
        ("barrier", dist.barrier),
    ):
        attempt(checks, name, action)
    data = {"device": str(device), "backend": backend, "backends": backend_map(dist, torch), "checks": checks}
    if use_cuda:
        # Before the fix: the same broadcast on a group that has NCCL alone.
        nccl_only = dist.new_group(backend="nccl")
        attempt(
            checks,
            "nccl_only_group_broadcast_cpu (expected to fail)",
            lambda: dist.broadcast(torch.zeros(2), src=0, group=nccl_only),
        )
    dist.destroy_process_group()
    data["all_ok"] = all(c["ok"] for name, c in checks.items() if "expected to fail" not in name)
    return data


def main(argv: list[str] | None = None) -> int:
    args = results.options(__doc__.split("\n")[0]).parse_args(argv)
    data = run(args.dry_run)
    results.write(args.out, "nccl", data)
    return 0 if data["all_ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
