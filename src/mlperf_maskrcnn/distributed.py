"""Rank, world size and rendezvous from Slurm or torchrun; the device, the process group, teardown.

One process per GPU (or per CPU rank). Under ``srun`` the values come from SLURM_PROCID,
SLURM_NTASKS, SLURM_LOCALID and the first host of the step's node list; under ``torchrun`` from
RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT.

On GPUs the process group maps CPU tensors to gloo and CUDA tensors to NCCL: NCCL serves CUDA
tensors only, and object collectives (the seed, evaluation results) travel as CPU tensors.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import timedelta

DEFAULT_PORT = 29500
# The group's own timeout is longer than the trainer's watchdog (stopping.StopGuard), so a stuck
# collective is reported by the trainer, with run_stop, before the backend kills the process.
BACKEND_TIMEOUT_MARGIN_S = 120.0


@dataclass(frozen=True)
class DistEnv:
    rank: int
    world: int
    local_rank: int
    master_addr: str
    master_port: int
    source: str  # "slurm", "torchrun" or "single"


def first_host(nodelist: str) -> str:
    """First host name of a Slurm node list such as ``n[1-4]``, ``gpu[007,009-010],cpu1``, ``a,b``."""
    nodelist = nodelist.strip()
    if not nodelist:
        raise ValueError("empty Slurm node list")
    match = re.match(r"([^,\[]+)(\[([^\]]+)\])?", nodelist)
    if match is None:
        raise ValueError(f"cannot read Slurm node list {nodelist!r}")
    prefix, _, ranges = match.groups()
    if ranges is None:
        return prefix
    first = ranges.split(",")[0].split("-")[0]
    return f"{prefix}{first}"


def detect(environ: dict[str, str] | None = None) -> DistEnv:
    """Read the launcher's variables; torchrun's take precedence over Slurm's."""
    env = os.environ if environ is None else environ
    if "RANK" in env and "WORLD_SIZE" in env:
        return DistEnv(
            rank=int(env["RANK"]),
            world=int(env["WORLD_SIZE"]),
            local_rank=int(env.get("LOCAL_RANK", "0")),
            master_addr=env.get("MASTER_ADDR", "127.0.0.1"),
            master_port=int(env.get("MASTER_PORT", DEFAULT_PORT)),
            source="torchrun",
        )
    if "SLURM_PROCID" in env and "SLURM_NTASKS" in env:
        nodelist = env.get("SLURM_STEP_NODELIST") or env.get("SLURM_JOB_NODELIST") or ""
        addr = env.get("MASTER_ADDR") or first_host(nodelist)
        # A port derived from the job id keeps two jobs sharing a node apart.
        port = int(env.get("MASTER_PORT") or DEFAULT_PORT + int(env.get("SLURM_JOB_ID", "0")) % 20000)
        return DistEnv(
            rank=int(env["SLURM_PROCID"]),
            world=int(env["SLURM_NTASKS"]),
            local_rank=int(env.get("SLURM_LOCALID", "0")),
            master_addr=addr,
            master_port=port,
            source="slurm",
        )
    return DistEnv(0, 1, 0, "127.0.0.1", DEFAULT_PORT, "single")


def device_index(local_rank: int, visible: int) -> int:
    """The CUDA device of a rank: its local rank where the node's GPUs are all visible, 0 where
    the site gives each task its own GPU (one visible device)."""
    if visible < 1:
        raise RuntimeError("no CUDA device is visible to this rank (CUDA_VISIBLE_DEVICES, the job's GPU request)")
    if visible == 1:
        return 0
    if local_rank < visible:
        return local_rank
    raise RuntimeError(
        f"local rank {local_rank} but only {visible} CUDA devices are visible "
        f"(CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES', 'unset')}): one task per GPU is required"
    )


def backend_for(use_cuda: bool) -> str:
    """The process group's backend per device type (see the module docs)."""
    return "cpu:gloo,cuda:nccl" if use_cuda else "cpu:gloo"


def choose_device(requested: str, env: DistEnv):
    """``cuda`` (this rank's GPU) or ``cpu``; ``auto`` takes a GPU where torch sees one."""
    import torch

    use_cuda = requested == "cuda" or (requested == "auto" and torch.cuda.is_available())
    if not use_cuda:
        return torch.device("cpu")
    index = device_index(env.local_rank, torch.cuda.device_count())
    torch.cuda.set_device(index)
    return torch.device("cuda", index)


def init(dist_env: DistEnv, device, timeout_s: float) -> None:
    """Join the process group (nothing to join for one rank)."""
    import torch.distributed as dist

    if dist_env.world == 1:
        return
    dist.init_process_group(
        backend=backend_for(device.type == "cuda"),
        init_method=f"tcp://{dist_env.master_addr}:{dist_env.master_port}",
        rank=dist_env.rank,
        world_size=dist_env.world,
        timeout=timedelta(seconds=timeout_s + BACKEND_TIMEOUT_MARGIN_S),
    )


def is_initialized() -> bool:
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized()


def barrier() -> None:
    import torch.distributed as dist

    if is_initialized():
        dist.barrier()


def shutdown() -> None:
    import torch.distributed as dist

    if is_initialized():
        dist.destroy_process_group()
