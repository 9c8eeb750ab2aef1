"""The trainer's run as MLPerf's rules and a cluster's scheduler see it: nothing reads COCO before
run_start; SIGTERM (scancel, a time limit) ends the run with run_stop and leaves no process.

Real trainer processes (torchrun, 2 CPU ranks) on a small synthetic set: marked slow.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from acceptance.mlperf import parse
from mlperf_maskrcnn import contract
from mlperf_maskrcnn.stopping import descendants
from mlperf_maskrcnn.synthetic import SynthSpec, write_tree

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent

# Loaded by every Python process of the run (spawned evaluator and loader workers included):
# records each file opened under the data set, with the time, in one shared file.
AUDIT_HOOK = """
import os, sys, time
_root, _out = os.environ.get("AUDIT_DATA_ROOT"), os.environ.get("AUDIT_OPENS")
if _root and _out:
    def _hook(event, args):
        if event == "open" and isinstance(args[0], (str, bytes)):
            path = os.fsdecode(args[0])
            if path.startswith(_root) and not path.startswith(_out):
                with open(_out, "a") as handle:
                    handle.write(f"{time.time() * 1000:.0f} {os.getpid()} {path}\\n")
    sys.addaudithook(_hook)
"""


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    return write_tree(tmp_path_factory.mktemp("run"), SynthSpec(train_images=6, val_images=2, seed=9))


def _torchrun(tree: Path, log: Path, *extra: str, env: dict | None = None, **popen) -> subprocess.Popen:
    command = [
        str(BIN / "torchrun"), "--standalone", "--nnodes", "1", "--nproc-per-node", "2",
        "-m", "mlperf_maskrcnn", "train", "--recipe", "smoke", "--data", str(tree), "--log-file", str(log),
        "--device", "cpu", "--threads", "1", "--seed", "4", "--print-every", "1", *extra,
    ]  # fmt: skip
    return subprocess.Popen(command, env=dict(os.environ, **(env or {})), text=True, **popen)


def test_no_coco_file_is_opened_before_run_start(tree, tmp_path):
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(AUDIT_HOOK)
    opens = tmp_path / "opens.txt"
    env = {
        "PYTHONPATH": os.pathsep.join([str(hooks), os.environ.get("PYTHONPATH", "")]),
        "AUDIT_DATA_ROOT": str(tree),
        "AUDIT_OPENS": str(opens),
    }
    log = tmp_path / "log.txt"
    run = _torchrun(tree, log, "--max-iter", "5", env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, err = run.communicate(timeout=600)
    records = parse.parse(log)
    run_start = records.first("run_start")
    assert run_start is not None, err[-2000:]
    seen = [line.split(" ", 2) for line in opens.read_text().splitlines()]
    coco = [(float(ms), path) for ms, _, path in seen if "/models/" not in path]
    assert any(p.endswith("instances_train2017.json") for _, p in coco), "the hook saw the annotations opened"
    assert any(p.endswith("instances_val2017.json") for _, p in coco), "the evaluator's process too"
    assert any(p.endswith(".jpg") for _, p in coco), "and the images"
    early = [(ms, p) for ms, p in coco if ms < run_start.time_ms]
    assert not early, f"opened before run_start: {early}"


def test_sigterm_mid_epoch_logs_run_stop_and_leaves_no_process(tree, tmp_path):
    log = tmp_path / "log.txt"
    run = _torchrun(tree, log, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 300
    while time.time() < deadline and not (log.is_file() and "progress: iter 3/" in log.read_text()):
        time.sleep(0.5)
    assert "progress: iter 3/" in log.read_text(), "training did not start"
    tree_pids = descendants(run.pid)
    assert len(tree_pids) >= 2, "two ranks (and their children) run"
    run.send_signal(signal.SIGTERM)  # what scancel does to the job step's launcher
    _, err = run.communicate(timeout=120)
    stop = parse.parse(log).last("run_stop")
    assert stop is not None and stop.metadata["status"] == "aborted"
    assert stop.metadata["stop_kind"] == contract.TERMINATED
    assert stop.metadata["reason"].startswith("terminated by SIGTERM")
    assert (1, contract.TERMINATED) in [(r, k) for r, k, _ in contract.read_rank_stops(err)]
    # Everything the run started is gone: ranks, the evaluator, loader workers, their children.
    for _ in range(50):
        alive = [pid for pid in tree_pids if _alive(pid)]
        if not alive:
            break
        time.sleep(0.2)
    assert not alive, [Path(f"/proc/{p}/cmdline").read_bytes() for p in alive if _alive(p)]


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_rank_lines_round_trip():
    line = contract.rank_stop_line(3, contract.DISTRIBUTED_FAILURE, 'peer "n2" closed: reset')
    assert contract.read_rank_stops(f"noise\n{line}\nmore :::RANKSTOP {{broken\n") == [
        (3, "distributed_failure", 'peer "n2" closed: reset')
    ]
    assert json.loads(line.split(" ", 1)[1])["rank"] == 3


def test_probe_lines_round_trip():
    text = "\n".join(contract.probe_line(k, v) for k, v in [("busbw_GBps", "0.5612"), ("ranks", 2), ("gpu_0", "A B")])
    assert contract.read_probe("noise line\n" + text) == {"busbw_GBps": "0.5612", "ranks": "2", "gpu_0": "A B"}


def _rank_pid(launcher: int, rank: int) -> int:
    for pid in descendants(launcher):
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if f"RANK={rank}".encode() in environ and b"mlperf_maskrcnn" in cmdline and b"multiprocessing" not in cmdline:
            return pid
    raise AssertionError(f"rank {rank} not found below {launcher}")


def test_a_hung_peer_ends_the_run_with_run_stop_after_the_timeout(tree, tmp_path):
    """Rank 1 stops answering (SIGSTOP: a hung node); rank 0, blocked in its next collective, is
    ended by the trainer's watchdog after --dist-timeout with run_stop and the reason, instead of
    waiting for the backend's timeout or the job's wall time."""
    log = tmp_path / "log.txt"
    run = _torchrun(tree, log, "--dist-timeout", "15", stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 300
    while time.time() < deadline and not (log.is_file() and "progress: iter 3/" in log.read_text()):
        time.sleep(0.5)
    hung = _rank_pid(run.pid, 1)
    os.kill(hung, signal.SIGSTOP)
    stopped_at = time.time()
    try:
        while time.time() - stopped_at < 120 and parse.parse(log).last("run_stop") is None:
            time.sleep(0.5)
        waited = time.time() - stopped_at
    finally:
        os.kill(hung, signal.SIGKILL)
        run.communicate(timeout=120)
    stop = parse.parse(log).last("run_stop")
    assert stop is not None, "no run_stop within 120 s of the hang"
    assert stop.metadata["status"] == "aborted" and stop.metadata["stop_kind"] == contract.DISTRIBUTED_FAILURE
    assert "rank 0 made no progress for 15 s" in stop.metadata["reason"]
    assert 15 <= waited < 60  # the trainer's timeout, not the backend's (15 + 120 s)
