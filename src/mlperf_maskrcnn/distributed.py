"""Rank, world size and rendezvous from Slurm or torchrun; process-group set-up and teardown.

One process per GPU (or per CPU rank). Under ``srun`` the values come from SLURM_PROCID,
SLURM_NTASKS, SLURM_LOCALID and the first host of the step's node list; under ``torchrun`` from
RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT. A collective that does not complete
within ``timeout_s`` (a dead or stuck peer) raises instead of hanging until the job's wall time.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import timedelta

DEFAULT_PORT = 29500


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


def init(dist_env: DistEnv, use_cuda: bool, timeout_s: float) -> None:
    """Join the process group: NCCL on GPUs, gloo on CPUs, with a bounded collective timeout."""
    import torch
    import torch.distributed as dist

    if use_cuda:
        torch.cuda.set_device(dist_env.local_rank)
        # Make a failed or stuck NCCL collective raise rather than block forever.
        os.environ.setdefault("TORCH_NCCL_ASYNC_ERROR_HANDLING", "1")
    if dist_env.world == 1:
        return
    dist.init_process_group(
        backend="nccl" if use_cuda else "gloo",
        init_method=f"tcp://{dist_env.master_addr}:{dist_env.master_port}",
        rank=dist_env.rank,
        world_size=dist_env.world,
        timeout=timedelta(seconds=timeout_s),
    )


def is_initialized() -> bool:
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized()


def shutdown() -> None:
    import torch.distributed as dist

    if is_initialized():
        dist.destroy_process_group()
