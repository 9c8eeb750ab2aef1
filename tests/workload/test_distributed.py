import pytest

from mlperf_maskrcnn.distributed import detect, first_host


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
