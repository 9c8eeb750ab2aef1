import socket
import subprocess
import sys

import pytest

from mlperf_maskrcnn.distributed import backend_for, detect, device_index, first_host


@pytest.mark.parametrize(
    "nodelist, host",
    [
        ("n[1-4]", "n1"),
        ("gpu[007,009-010],cpu1", "gpu007"),
        ("tara-dgx1-003", "tara-dgx1-003"),
        ("lanta-g-[012-015]", "lanta-g-012"),
        ("a,b", "a"),
    ],
)
def test_first_host_of_slurm_nodelists(nodelist, host):
    assert first_host(nodelist) == host


def test_slurm_variables_give_rank_world_and_rendezvous():
    env = {
        "SLURM_PROCID": "5",
        "SLURM_NTASKS": "16",
        "SLURM_LOCALID": "1",
        "SLURM_STEP_NODELIST": "lanta-g-[012-015]",
        "SLURM_JOB_NODELIST": "lanta-g-[001-099]",
        "SLURM_JOB_ID": "123",
    }
    got = detect(env)
    assert (got.rank, got.world, got.local_rank, got.master_addr, got.source) == (5, 16, 1, "lanta-g-012", "slurm")
    assert got.master_port == 29500 + 123
    # Without a step node list, the job's; an explicit MASTER_ADDR wins.
    del env["SLURM_STEP_NODELIST"]
    assert detect(env).master_addr == "lanta-g-001"
    assert detect(dict(env, MASTER_ADDR="10.0.0.1")).master_addr == "10.0.0.1"


def test_torchrun_variables_take_precedence():
    env = {
        "RANK": "1",
        "WORLD_SIZE": "2",
        "LOCAL_RANK": "1",
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": "29999",
        "SLURM_PROCID": "0",
        "SLURM_NTASKS": "1",
    }
    got = detect(env)
    assert (got.rank, got.world, got.master_port, got.source) == (1, 2, 29999, "torchrun")


def test_no_launcher_means_one_rank():
    assert detect({}).world == 1


@pytest.mark.parametrize(
    ("local_rank", "visible", "index"),
    [(0, 8, 0), (5, 8, 5), (5, 1, 0), (0, 1, 0), (3, 4, 3)],
)
def test_device_index_with_all_gpus_or_one_per_task(local_rank, visible, index):
    assert device_index(local_rank, visible) == index


@pytest.mark.parametrize(
    ("local_rank", "visible", "message"), [(4, 2, "only 2 CUDA devices"), (0, 0, "no CUDA device")]
)
def test_device_index_refuses_what_cannot_work(local_rank, visible, message):
    with pytest.raises(RuntimeError, match=message):
        device_index(local_rank, visible)


def test_backend_serves_cpu_tensors_on_gpu_runs_too():
    # NCCL serves CUDA tensors only; object collectives and small host tensors need gloo.
    assert backend_for(use_cuda=True) == "cpu:gloo,cuda:nccl"
    assert backend_for(use_cuda=False) == "cpu:gloo"


# The trainer's host-side collectives (seed, evaluation scores, detections, barrier) on a real
# 2-rank group built from ``backend_for(use_cuda=True)``, gloo standing in for NCCL on the CUDA side
# (there is no GPU here). The control group serves CUDA only, as a plain NCCL group does: the same
# collectives must fail there, or this test could not catch the bug it guards against.
COLLECTIVES = """
import sys, types, torch, torch.distributed as dist
from mlperf_maskrcnn import distributed, evaluate, recipe, train
from mlperf_maskrcnn.mlperf_log import MLPerfLog
rank, port, backend = int(sys.argv[1]), sys.argv[2], sys.argv[3]
dist.init_process_group(backend, init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
try:
    seed = train.shared_seed(None, 2)
    found = evaluate.Detections(results=[{"image_id": rank}], image_ids=[rank])
    merged = evaluate.gather_to_rank0(found, rank, 2)
    run = types.SimpleNamespace(
        env=distributed.DistEnv(rank, 2, rank, "127.0.0.1", 0, "test"), guard=types.SimpleNamespace(beat=print),
        pending=None, pending_epoch=1, best=(0.0, 0.0, 0), log=MLPerfLog(None, enabled=False),
        recipe=recipe.load("smoke"),
    )
    train.collect_eval(run)
    distributed.barrier()
    print("OK", seed, sorted(merged.image_ids) if merged else None)
except Exception as err:
    print("FAILED", type(err).__name__, err)
"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _two_ranks(backend: str) -> list[str]:
    port = _free_port()
    command = [sys.executable, "-c", COLLECTIVES, "RANK", str(port), backend]
    procs = [
        subprocess.Popen([str(rank) if a == "RANK" else a for a in command], stdout=subprocess.PIPE, text=True)
        for rank in (0, 1)
    ]
    return [p.communicate(timeout=120)[0].strip().splitlines()[-1] for p in procs]


@pytest.mark.slow
def test_host_collectives_run_on_the_gpu_runs_group_and_fail_on_a_cuda_only_one():
    out = _two_ranks(backend_for(use_cuda=True).replace("nccl", "gloo"))
    assert out[0].startswith("OK") and out[0].endswith("[0, 1]"), out
    assert out[1].startswith("OK") and out[1].endswith("None"), out
    assert out[0].split()[1] == out[1].split()[1], "both ranks got rank 0's seed"
    control = _two_ranks("cuda:gloo")
    assert all(line.startswith("FAILED") for line in control), control
