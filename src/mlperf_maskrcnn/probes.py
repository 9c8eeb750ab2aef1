"""Small measurements the system checks run on compute nodes (they import torch, so they live here).

    python -m mlperf_maskrcnn.probes allreduce --size-mb 64 --iters 10
    python -m mlperf_maskrcnn.probes loader --data DIR --images 64 --workers 4
    python -m mlperf_maskrcnn.probes devices

Each prints ``key: value`` lines (``contract.probe_line``) that the checks' sanity and performance functions read.
"""

from __future__ import annotations

import argparse
import sys
import time

from . import contract


def allreduce(size_mb: float, iters: int, timeout_s: float) -> int:
    """All-reduce bus bandwidth (GB/s) at the job's scale: NCCL on GPUs, gloo on CPUs."""
    import torch
    import torch.distributed as dist

    from . import distributed

    env = distributed.detect()
    device = distributed.choose_device("auto", env)
    use_cuda = device.type == "cuda"
    distributed.init(env, device, timeout_s)
    count = int(size_mb * 1024 * 1024 / 4)
    tensor = torch.ones(count, dtype=torch.float32, device=device)
    if env.world > 1:
        dist.all_reduce(tensor)  # warm-up: connections and buffers
    if use_cuda:
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(iters):
        if env.world > 1:
            dist.all_reduce(tensor)
    if use_cuda:
        torch.cuda.synchronize()
    elapsed = (time.perf_counter() - start) / max(iters, 1)
    algbw = count * 4 / elapsed / 1e9
    # Bus bandwidth as nccl-tests defines it: what each link carries in a ring all-reduce.
    busbw = algbw * 2 * (env.world - 1) / env.world if env.world > 1 else 0.0
    if env.rank == 0:
        print(contract.probe_line("backend", 'nccl' if use_cuda else 'gloo'))
        print(contract.probe_line("ranks", env.world))
        print(contract.probe_line("size_bytes", count * 4))
        print(contract.probe_line("time_s", f"{elapsed:.6f}"))
        print(contract.probe_line("algbw_GBps", f"{algbw:.4f}"))
        print(contract.probe_line("busbw_GBps", f"{busbw:.4f}"))
    distributed.shutdown()
    return 0


def loader_rate(data: str, images: int, workers: int, min_size: int, max_size: int, batch: int) -> tuple[int, float]:
    """(images loaded, seconds): decode, resize, flip and batch, as the trainer's loader does."""
    import torch

    from .data import CocoDetection, collate
    from .sampler import GroupedBatchStream, aspect_group

    dataset = CocoDetection(data, "train", train=True, min_size=min_size, max_size=max_size)
    stream = GroupedBatchStream([aspect_group(im["width"], im["height"]) for im in dataset.images], batch, 0, 1, seed=0)
    loader_ = torch.utils.data.DataLoader(dataset, batch_sampler=stream, collate_fn=collate, num_workers=workers)
    done = 0
    start = time.perf_counter()
    for batch_images, _ in loader_:
        done += len(batch_images)
        if done >= images:
            break
    return done, time.perf_counter() - start


def loader(data: str, images: int, workers: int, min_size: int, max_size: int, batch: int) -> int:
    """Training images per second from the data pipeline (the LoaderRate check reads this)."""
    done, elapsed = loader_rate(data, images, workers, min_size, max_size, batch)
    print(contract.probe_line("images", done))
    print(contract.probe_line("workers", workers))
    print(contract.probe_line("images_per_s", f"{done / elapsed:.3f}"))
    return 0


def devices() -> int:
    """What an image offers on this node: versions, GPUs, and whether its torch build has kernels
    for them (an image built against a CUDA that dropped the GPU's architecture starts fine and
    fails at the first kernel: V100 is sm_70)."""
    import torch
    import torchvision

    count = torch.cuda.device_count()
    print(contract.probe_line("torch", torch.__version__))
    print(contract.probe_line("torchvision", torchvision.__version__))
    print(contract.probe_line("cuda", torch.version.cuda))
    print(contract.probe_line("cuda_available", torch.cuda.is_available()))
    print(contract.probe_line("nccl", '.'.join(map(str, torch.cuda.nccl.version())) if count else 'n/a'))
    built = torch.cuda.get_arch_list() if torch.version.cuda else []
    print(contract.probe_line("built_for", ' '.join(built) or 'cpu only'))
    print(contract.probe_line("gpu_count", count))
    capabilities = [torch.cuda.get_device_capability(index) for index in range(count)]
    for index, (major, minor) in enumerate(capabilities):
        state = "ok" if has_kernels((major, minor), built) else "NOT IN BUILD"
        print(contract.probe_line(f"gpu_{index}", f"{torch.cuda.get_device_name(index)} sm_{major}{minor} {state}"))
    print(contract.probe_line("unsupported_gpus", unsupported_gpus(capabilities, built)))
    return 0


def has_kernels(capability: tuple[int, int], built: list[str]) -> bool:
    """Whether a torch build for the architectures ``built`` (``torch.cuda.get_arch_list()``) has
    kernels for a GPU of compute capability (major, minor)."""
    major, minor = capability
    return f"sm_{major}{minor}" in built


def unsupported_gpus(capabilities: list[tuple[int, int]], built: list[str]) -> int:
    """How many of the GPUs (their compute capabilities) the build has no kernels for."""
    return sum(not has_kernels(capability, built) for capability in capabilities)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mlperf_maskrcnn.probes")
    sub = parser.add_subparsers(dest="probe", required=True)
    p = sub.add_parser("allreduce")
    p.add_argument("--size-mb", type=float, default=64.0)
    p.add_argument("--iters", type=int, default=10)
    p.add_argument("--dist-timeout", type=float, default=120.0)
    p = sub.add_parser("loader")
    p.add_argument("--data", required=True)
    p.add_argument("--images", type=int, default=64)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--min-size", type=int, default=800)
    p.add_argument("--max-size", type=int, default=1333)
    sub.add_parser("devices")
    args = parser.parse_args(argv)
    if args.probe == "allreduce":
        return allreduce(args.size_mb, args.iters, args.dist_timeout)
    if args.probe == "loader":
        return loader(args.data, args.images, args.workers, args.min_size, args.max_size, args.batch)
    return devices()


if __name__ == "__main__":
    sys.exit(main())
