"""The GPU check's first part: the device, the software, and the machine's measured fp16 matrix rate.

Versions of Python, torch (its CUDA, cuDNN and NCCL), torchvision and the workload's packages;
the GPU's name, memory, compute capability and whether this torch build has kernels for it; the
driver; the allocator setting the trainer uses; and one large float16 matrix product timed with
CUDA events (the ceiling the MFU of the speed part can be read against, besides the datasheet's).
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import results  # noqa: E402

PACKAGES = ("numpy", "Pillow", "PyYAML", "pycocotools", "faster-coco-eval", "mlperf-logging")


def package_versions() -> dict[str, str]:
    found = {}
    for name in PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "missing"
    return found


def command_output(command: list[str]) -> str:
    if not shutil.which(command[0]):
        return f"{command[0]} not found"
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    return done.stdout.strip() if done.returncode == 0 else f"unavailable: {done.stderr.strip()[:200]}"


def matmul_tflops(torch, device, side: int, repeats: int) -> float:
    """Dense float16 matrix product rate on random data (CUDA events, after a warm-up)."""
    a = torch.randn(side, side, device=device, dtype=torch.float16)
    b = torch.randn(side, side, device=device, dtype=torch.float16)
    for _ in range(3):
        a @ b
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(repeats):
        a @ b
    end.record()
    torch.cuda.synchronize()
    return 2 * side**3 * repeats / (start.elapsed_time(end) / 1000) / 1e12


def facts(dry_run: bool) -> dict:
    import torch
    import torchvision

    from mlperf_maskrcnn import probes

    data = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "packages": package_versions(),
        "alloc_conf": os.environ.get("PYTORCH_CUDA_ALLOC_CONF", ""),
        "cuda_available": torch.cuda.is_available(),
        "commit": os.environ.get("CHECK_COMMIT")
        or command_output(["git", "-C", str(Path(__file__).resolve().parents[2]), "rev-parse", "HEAD"]),
    }
    if not torch.cuda.is_available():
        data["device"] = "cpu (dry run)" if dry_run else "cpu: no CUDA device visible"
        return data
    props = torch.cuda.get_device_properties(0)
    major, minor = torch.cuda.get_device_capability(0)
    data.update(
        device=torch.cuda.get_device_name(0),
        gpu_count=torch.cuda.device_count(),
        memory_gib=props.total_memory / 2**30,
        capability=f"sm_{major}{minor}",
        in_build=probes.has_kernels((major, minor), torch.cuda.get_arch_list()),
        nccl=".".join(map(str, torch.cuda.nccl.version())),
        bf16=torch.cuda.is_bf16_supported(),
        tf32_matmul=torch.backends.cuda.matmul.allow_tf32,
        tf32_cudnn=torch.backends.cudnn.allow_tf32,
        nvidia_smi=command_output(
            [
                "nvidia-smi",
                "--query-gpu=name,memory.total,driver_version,clocks.max.sm,power.limit",
                "--format=csv,noheader",
            ]
        ),
        fp16_matmul_tflops=matmul_tflops(torch, torch.device("cuda", 0), 8192, 20),
    )
    return data


def main(argv: list[str] | None = None) -> int:
    args = results.options(__doc__.split("\n")[0]).parse_args(argv)
    results.write(args.out, "env", facts(args.dry_run))
    return 0


if __name__ == "__main__":
    sys.exit(main())
