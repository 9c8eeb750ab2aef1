"""What the suite's checks conclude from what their jobs left: their verdicts as pure functions.

The checks (``maskrcnn``, ``mlperf_set``, ``system_checks``) hand these functions the MLPerf log's
summary, a probe's values or a job's output and turn the answer into ReFrame's sanity and
performance results; the judging itself lives here, free of ReFrame, so that it can be tested as
tables and mutation-tested (``benchmarks/mutation.sh``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from mlperf_maskrcnn import contract

from ..mlperf import compliance
from ..mlperf.analysis import RunSummary
from ..mlperf.score import Score

THROUGHPUT = "throughput"
# NCCL's own start-up line (NCCL_DEBUG=INFO) naming the network it uses; "Socket" is its TCP fallback.
NCCL_NETWORK = r"NCCL INFO Using network (\S[^\n]*)"
# The verdict line of `acceptance data verify` (datasets.py).
COCO_OK = re.compile(r"^verdict: OK", re.M)


# ---- the Mask R-CNN run (maskrcnn.MaskRCNNTraining) -------------------------------------------------
def run_verdicts(
    log: Path, summary: RunSummary | None, mode: str, check_compliance: bool, job_end_hint: Callable[[], str]
) -> list[tuple[bool, str]]:
    """(passed, reason) for each criterion of one run, in the order a reader needs them; ``summary``
    is None when the job left no MLPerf log at ``log``; ``job_end_hint`` says why a job ended early
    (read only when a verdict needs it)."""
    if summary is None:
        return [(False, f"no MLPerf log at {log}: the trainer did not start; {job_end_hint()}")]
    s = summary
    # A damaged log (garbled or truncated records) is never a pass, whatever else it says.
    results = [(not s.problems, "MLPerf log problems: " + "; ".join(s.problems[:3]))]
    if s.refused and s.status != "incomplete":
        # A refused log says nothing trustworthy about quality or compliance: its problems are the verdict.
        return results
    if s.status == "incomplete":
        # Cut off: what ended it is the news; the quality and compliance verdicts would only
        # repeat that the log is unfinished.
        results.append((False, f"{s.reason}; {job_end_hint()}"))
        return results
    kind = s.stop_kind
    if mode == THROUGHPUT:
        results.append((s.throughput_iteration is not None, "no training throughput in the log"))
        done = kind in ("", contract.THROUGHPUT_DONE)  # NVIDIA's trainer has no stop kinds
        results.append((done, f"run_stop status {s.status}: {s.reason}"))
        return results
    best = s.best
    best_text = (
        f"best BBOX {best.bbox:.4f} SEGM {best.segm or 0:.4f} at epoch {best.epoch}" if best else "no evaluation"
    )
    stop_reason = f"run_stop status {s.status}: {s.reason}"
    if kind in contract.KINDS_NEEDING_JOB_OUTPUT:
        stop_reason += f"; {job_end_hint()}"
    results.append((s.status == "success", stop_reason))
    results.append((s.converged, f"quality target BBOX 0.377 / SEGM 0.339 not met ({best_text})"))
    if check_compliance:
        verdict = compliance.check(log)
        results.append((verdict.passed, "compliance checker (0.7.0) failed: " + "; ".join(verdict.messages[-3:])))
    return results


def failures(verdicts: list[tuple[bool, str]]) -> list[str]:
    """The reasons of the verdicts that did not pass."""
    return [why for ok, why in verdicts if not ok]


def run_throughput(summary: RunSummary) -> float | None:
    """A run's img/s: from its iteration lines (steady state), else from its epochs' timing."""
    return summary.throughput_iteration if summary.throughput_iteration is not None else summary.throughput_epoch


# ---- a set of runs (mlperf_set.MaskRCNNScore) ------------------------------------------------------
def set_problems(recipes: list[str], batches: list[str], result: Score, provisional_ok: bool = False) -> list[str]:
    """Why a set of runs cannot be judged as one MLPerf set (empty when it can): different recipes
    or global batches, a set ``score.olympic`` refuses, no score at all, or a provisional one (fewer
    than five runs) where the set must give a v0.7 score (``provisional_ok`` False)."""
    problems = []
    if len(set(recipes)) > 1:
        problems.append(f"the runs used different recipes ({', '.join(sorted(set(recipes)))}): not one set")
    if len(set(batches)) > 1:
        problems.append(f"the runs logged different global batches ({', '.join(sorted(set(batches)))}): not one set")
    problems += result.problems
    if result.value is None and not result.problems:
        problems.append(result.note)
    elif result.provisional and not provisional_ok:
        problems.append(
            f"a provisional score of {len(recipes)} run(s), not a v0.7 score: a score needs five runs "
            "(-S MaskRCNNBenchmark.runs=5, which --mode acceptance sets)"
        )
    return problems


def dropped_minutes(result: Score, minutes: dict[str, float | None], why: str) -> float | None:
    """The minutes of the run the score dropped for ``why`` ("fastest", "slowest"); None if none was."""
    return next((minutes[path] for path, text in result.dropped.items() if text == why), None)


# ---- system checks (system_checks) -----------------------------------------------------------------
def gpus_by_host(text: str) -> dict[str, list[str]]:
    """GPU names per host from ``HOST: NAME`` lines (nvidia-smi's, prefixed by each node's hostname)."""
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        host, sep, name = line.partition(": ")
        if sep and host and " " not in host:
            found.setdefault(host, []).append(name.strip())
    return found


def gpu_problems(found: dict[str, list[str]], nodes: int, model: str, count: int) -> list[str]:
    """Why the nodes' GPUs are not what the partition describes: nodes missing, a node with another
    count, GPUs of another model."""
    problems = []
    if len(found) != nodes:
        answered = ", ".join(found) or "none"
        problems.append(f"{len(found)} node(s) answered ({answered}), expected {nodes}")
    for host, names in sorted(found.items()):
        wrong = [n for n in names if model not in n]
        if len(names) != count:
            problems.append(f"{host}: nvidia-smi lists {len(names)} GPUs, expected {count}")
        if wrong:
            problems.append(f"{host}: {len(wrong)} GPU(s) are not {model}: {wrong[0]}")
    return problems


def fewest_gpus(found: dict[str, list[str]]) -> int:
    """The GPU count of the node that lists the fewest (0 when none answered)."""
    return min((len(names) for names in found.values()), default=0)


def nccl_network(text: str) -> str:
    """The network NCCL chose, from its start-up lines ('' where it printed none: CPU partitions)."""
    names = re.findall(NCCL_NETWORK, text)
    return names[0].strip() if names else ""


def probe_number(values: dict[str, str], key: str) -> float:
    """A probe's figure, 0 where it printed none (or an empty one)."""
    return float(values.get(key) or 0)


def allreduce_problems(values: dict[str, str], ranks: int, network: str, gpus_per_node: int, nodes: int) -> list[str]:
    """Why the all-reduce probe's answer does not count: other ranks than the job's, no bandwidth,
    or NCCL's TCP fallback between GPU nodes."""
    problems = []
    if values.get("ranks") != str(ranks):
        problems.append(f"all-reduce ran on {values.get('ranks', 'no')} ranks, expected {ranks}")
    if probe_number(values, "busbw_GBps") <= 0:
        problems.append("no bus bandwidth measured")
    if gpus_per_node and nodes > 1 and network.lower() == "socket":
        problems.append(
            "NCCL fell back to TCP sockets across nodes (NCCL_DEBUG: 'Using network Socket'): the "
            "partition's network plugin did not load in the job (extras 'nccl' in config/)"
        )
    return problems


def container_problems(values: dict[str, str], gpus: int) -> list[str]:
    """Why the image does not serve the node: it sees another GPU count, or its torch build has no
    kernels for some of the GPUs (the device probe's ``unsupported_gpus``)."""
    problems = []
    if values.get("gpu_count") != str(gpus):
        problems.append(f"the image sees {values.get('gpu_count', 'no')} GPUs, the node has {gpus}")
    if values.get("unsupported_gpus", "0") != "0":
        problems.append(
            f"{values['unsupported_gpus']} GPU(s) have no kernels in the image's torch build (see 'built_for' "
            "in the output; resources/containers/README.md, 'CUDA and the GPU generation')"
        )
    return problems


def loader_problems(values: dict[str, str], images: int) -> list[str]:
    """Why the loader probe's answer does not count: fewer images loaded than asked for."""
    loaded = int(probe_number(values, "images"))
    return [] if loaded >= images else [f"loaded {loaded} images, expected {images}"]


def coco_problems(text: str) -> list[str]:
    """Why ``acceptance data verify``'s output is no pass: no ``verdict: OK`` line."""
    return [] if COCO_OK.search(text) else ["COCO tree does not match the manifest (see output)"]


# ---- CPU binding (maskrcnn.MaskRCNNTraining) ---------------------------------------------------------
def binding(cpu_bind: bool, masks: list[str], why: str, srun: bool) -> tuple[str, list[str]]:
    """(what the run's binding is, srun's options for it): per-rank core masks where the partition
    gives them (``hooks.gpu_core_masks``) and srun launches; else none, saying why."""
    if not cpu_bind:
        return "off (-S cpu_bind=false)", []
    if not masks or not srun:
        return why or "none: the launcher is not srun", []
    text = "mask_cpu:" + ",".join(masks)
    return text, [f"--cpu-bind=verbose,{text}"]
