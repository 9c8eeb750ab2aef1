"""The 4-node path for real: a Slurm cluster of 4 simulated nodes on this host, driven by ReFrame.

tests/suite/cluster/slurm_up.sh starts munged, MariaDB + slurmdbd, slurmctld and slurmd n1..n4 (it
installs Debian's packages if needed; root required, as on CI); slurm_down.sh stops them by PID.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from acceptance import cli
from conftest import ROOT, cases_of, run_reframe

FOUR_NODE_TTT = ["-n", "MaskRCNNSmoke", "-E", "num_nodes==4 and mode=='time-to-train'"]


def _slurm_env(state: Path) -> dict:
    env = {}
    for line in (state / "env").read_text().splitlines():
        key, value = line.removeprefix("export ").split("=", 1)
        env[key] = value
    return env


DAEMONS = ("munged", "mariadbd", "slurmdbd", "slurmctld", "slurmd")


def _started(pid: int) -> int | None:
    """The process's start time (clock ticks since boot: tells a PID reused later apart), None
    when there is no such process or it is a zombie (it has ended; its parent has not reaped it)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return None if fields[0] == "Z" else int(fields[19])


def _cluster_daemons(state: Path) -> dict[int, tuple[str, int]]:
    """PID -> (daemon, start time) of every daemon of the cluster in ``state``, read from /proc:
    munged and MariaDB name the folder on their command line, the Slurm daemons find their
    configuration through SLURM_CONF in their environment."""
    found = {}
    conf = f"SLURM_CONF={state}/slurm.conf".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue  # ended while we looked
        name = Path(argv[0].decode(errors="replace")).name
        if name in DAEMONS and (str(state).encode() in b" ".join(argv) or conf in environ):
            started = _started(int(entry.name))
            if started is not None:
                found[int(entry.name)] = (name, started)
    return found


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    state = tmp_path_factory.mktemp("slurm")
    up = subprocess.run(
        [str(ROOT / "tests" / "suite" / "cluster" / "slurm_up.sh"), str(state)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert up.returncode == 0, up.stdout + up.stderr
    daemons = _cluster_daemons(state)
    env = _slurm_env(state)
    try:
        names = sorted(name for name, _ in daemons.values())
        assert names == sorted(["munged", "mariadbd", "slurmdbd", "slurmctld"] + ["slurmd"] * 4), names
        yield {"state": state, "env": env}
    finally:
        subprocess.run([str(ROOT / "tests" / "suite" / "cluster" / "slurm_down.sh"), str(state)], timeout=120)
        # Each daemon seen at bring-up has ended (its PID gone, a zombie, or another process's by now),
        # and no daemon of this cluster runs under any PID.
        alive = {pid: name for pid, (name, started) in daemons.items() if _started(pid) == started}
        assert not alive, f"slurm_down.sh left daemons of the cluster running: {alive}"
        assert not _cluster_daemons(state), "a daemon of the cluster runs after slurm_down.sh"


def _squeue(env: dict) -> str:
    return subprocess.run(["squeue", "-h"], capture_output=True, text=True, env={**os.environ, **env}).stdout


def _queue_left(env: dict, within_s: float = 60.0) -> str:
    """What the queue still holds ``within_s`` after the check ended ('' once it is empty): a job
    killed at its time limit or by a failed rank passes through COMPLETING (CG) while slurmd
    cleans up, which takes seconds on a loaded host."""
    deadline = time.time() + within_s
    while (left := _squeue(env).strip()) and time.time() < deadline:
        time.sleep(1)
    return left


def test_cluster_is_up_with_four_idle_nodes(cluster):
    out = subprocess.run(
        ["sinfo", "-h", "-N", "-o", "%N %t"], capture_output=True, text=True, env={**os.environ, **cluster["env"]}
    ).stdout
    assert sorted(out.split()) == sorted(["n1", "idle", "n2", "idle", "n3", "idle", "n4", "idle"])


def test_four_node_smoke_runs_through_sbatch_and_srun(cluster, tmp_path):
    prefix = tmp_path / "ci4"
    done, report = run_reframe(["--system", "ci-cluster", "-r", *FOUR_NODE_TTT], prefix, env=cluster["env"])
    assert report is not None, done.stdout[-3000:]
    (case,) = [c for c in cases_of(report) if c["name"].startswith("MaskRCNNSmoke")]
    assert case["result"] == "pass", case["fail_reason"]
    assert done.returncode == 0
    assert case["jobid"] and int(case["jobid"]) > 0
    assert case["job_nodelist"] == ["n1", "n2", "n3", "n4"]
    assert case["num_tasks"] == 4 and case["recipe"] == "smoke_4ranks"
    script = (Path(case["outputdir"]) / "rfm_job.sh").read_text()
    assert "#SBATCH --nodes=4" in script and "#SBATCH --ntasks=4" in script and "\nsrun " in script
    log = (Path(case["outputdir"]) / case["mlperf_log"]).read_text()
    assert "4 ranks x 1 = global batch 4" in log and '"status": "success"' in log
    assert case["perfvalues"]["ci-cluster:debug:time_to_train"][0] > 0
    assert not _queue_left(cluster["env"])


def _rank_process(stage_marker: str, rank: int) -> int | None:
    """PID of the training process of ``rank`` whose command line names this run's data."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if (
            "mlperf_maskrcnn train" in cmdline
            and stage_marker in cmdline
            and f"SLURM_PROCID={rank}".encode() in environ
        ):
            return int(entry.name)
    return None


def test_killed_rank_fails_the_check_naming_it(cluster, tmp_path):
    prefix = tmp_path / "fault"
    killed = {}

    def killer():
        deadline = time.time() + 600
        while time.time() < deadline and "pid" not in killed:
            for out in prefix.glob("stage/ci-cluster/debug/maskrcnn/MaskRCNNSmoke_*/mlperf_log.txt"):
                if re.search(r"progress: iter \d+", out.read_text(errors="replace")):
                    pid = _rank_process(str(prefix), 2)
                    if pid:
                        os.kill(pid, signal.SIGKILL)
                        killed["pid"] = pid
                        killed["at"] = time.time()
                        return
            time.sleep(0.5)

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    started = time.time()
    done, report = run_reframe(
        [
            "--system",
            "ci-cluster",
            "-r",
            *FOUR_NODE_TTT,
            "-S",
            "MaskRCNNSmoke.dist_timeout=60",
            "-S",
            "MaskRCNNSmoke.print_every=1",
        ],
        prefix,
        env=cluster["env"],
    )
    thread.join(timeout=5)
    assert report is not None, done.stdout[-3000:]
    assert "pid" in killed, "the rank-2 process was never found to kill"
    (case,) = [c for c in cases_of(report) if c["name"].startswith("MaskRCNNSmoke")]
    assert case["result"] == "fail" and case["fail_phase"] == "sanity"
    reason = case["fail_reason"]
    assert "rank 2 on n3" in reason, reason
    assert "run_stop status aborted" in reason or "no run_stop" in reason
    # Failed within the configured bound, not at the job's wall time (30 min).
    assert killed["at"] - started < 600 and time.time() - killed["at"] < 180
    assert not _queue_left(cluster["env"])
    assert _rank_process(str(prefix), 0) is None and _rank_process(str(prefix), 1) is None
    # The reason reaches the committee's report, in the page and in the plain-text summary.
    assert cli.main(["report", str(prefix / "report.json"), "--out", str(prefix / "acceptance")]) == 0
    assert "Overall verdict: **FAIL**" in (prefix / "acceptance" / "summary.md").read_text()
    for name in ("summary.md", "index.html"):
        assert "rank 2 on n3" in (prefix / "acceptance" / name).read_text()


def test_wrong_partition_is_reported_from_sbatch(cluster, tmp_path):
    done, report = run_reframe(
        ["--system", "ci-cluster", "-r", *FOUR_NODE_TTT, "-J", "partition=no-such-partition"],
        tmp_path / "wrongpart",
        env=cluster["env"],
    )
    assert done.returncode != 0
    (case,) = [c for c in cases_of(report) if c["name"].startswith("MaskRCNNSmoke")]
    assert case["result"] == "fail" and "invalid partition" in case["fail_reason"].lower(), case["fail_reason"]


def test_wall_time_exceeded_fails_saying_so_and_keeps_the_log(cluster, tmp_path):
    prefix = tmp_path / "walltime"
    done, report = run_reframe(
        ["--system", "ci-cluster", "-r", *FOUR_NODE_TTT, "-S", "MaskRCNNSmoke.run_time_limit=1m"],
        prefix,
        env=cluster["env"],
    )
    assert done.returncode != 0
    (case,) = [c for c in cases_of(report) if c["name"].startswith("MaskRCNNSmoke")]
    assert case["result"] == "fail"
    assert "time limit" in case["fail_reason"].lower(), case["fail_reason"]
    partial = list(prefix.glob("stage/ci-cluster/debug/maskrcnn/MaskRCNNSmoke_*/mlperf_log.txt"))
    assert partial and '"key": "run_start"' in partial[0].read_text()
    assert not _queue_left(cluster["env"])
