"""The checks' verdicts (``acceptance.suite.sanity``) as tables: what a Mask R-CNN run, a set of runs
and each system check conclude from what their jobs left."""

from __future__ import annotations

import lzma

import pytest

from acceptance.mlperf import analysis, compliance, score
from acceptance.suite import sanity
from conftest import NVIDIA_LOGS, mllog, short_run, write_log
from mlperf_maskrcnn import contract

DGX1_0 = NVIDIA_LOGS / "dgx1_ngc20.06_pytorch" / "result_0.txt.xz"
TTT, THROUGHPUT = "time-to-train", "throughput"
NO_PROBLEM = (True, "MLPerf log problems: ")
QUALITY = "quality target BBOX 0.377 / SEGM 0.339 not met"


class Hint:
    """The job's end as the check reads it from the job's output; counts how often it was asked."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        return "srun: task 1 killed"


def judged(tmp_path, lines, mode=TTT, compliance=False):
    log = write_log(tmp_path, lines)
    hint = Hint()
    return sanity.run_verdicts(log, analysis.summarize(log), mode, compliance, hint), hint


# ---- one Mask R-CNN run ------------------------------------------------------------------------------
def test_a_run_without_a_log_says_the_trainer_did_not_start(tmp_path):
    hint = Hint()
    found = sanity.run_verdicts(tmp_path / "mlperf.log", None, TTT, True, hint)
    assert found == [
        (False, f"no MLPerf log at {tmp_path / 'mlperf.log'}: the trainer did not start; srun: task 1 killed")
    ]
    assert hint.calls == 1


def test_a_converged_run_passes_every_verdict_and_never_reads_the_job_output(tmp_path):
    found, hint = judged(tmp_path, short_run())
    assert found == [
        NO_PROBLEM,
        (True, "run_stop status success: target met at epoch 2"),
        (True, f"{QUALITY} (best BBOX 0.3800 SEGM 0.3400 at epoch 2)"),
    ]
    assert sanity.failures(found) == [] and hint.calls == 0


def test_an_otherwise_successful_log_with_problems_fails_on_its_problems_alone(tmp_path):
    lines = short_run()
    lines.insert(-1, mllog("run_start", None, 1_100_000.0))  # a second run_start inside the run
    found, hint = judged(tmp_path, lines)
    summary = analysis.summarize(tmp_path / "result_0.txt")
    assert summary.status == "success" and summary.problems
    assert summary.problems[0].startswith(f"{tmp_path / 'result_0.txt'}:{len(lines) - 1}: a second run_start")
    assert found == [(False, "MLPerf log problems: " + "; ".join(summary.problems[:3]))]
    assert sanity.failures(found) == ["MLPerf log problems: " + "; ".join(summary.problems[:3])]
    assert hint.calls == 0


def test_only_the_first_three_problems_are_named(tmp_path):
    lines = short_run()
    for offset in range(5):  # five records out of time order, each a problem of its own
        lines.insert(-1, mllog("cache_clear", True, 500_000.0 + offset))
    found, _ = judged(tmp_path, lines)
    problems = analysis.summarize(tmp_path / "result_0.txt").problems
    assert len(problems) > 3
    assert found == [(False, "MLPerf log problems: " + "; ".join(problems[:3]))]


def test_a_cut_off_log_says_what_ended_the_job(tmp_path):
    found, hint = judged(tmp_path, short_run()[:-1])
    assert found == [
        (False, f"MLPerf log problems: {tmp_path / 'result_0.txt'}: no run_stop in the log"),
        (False, "no run_stop in the log (the run was cut off or is still running); srun: task 1 killed"),
    ]
    assert hint.calls == 1


def test_a_truncated_log_names_its_damage_and_its_end(tmp_path):
    lines = short_run()[:-1] + ['  :::MLLOG {"key": "run_st']
    log = tmp_path / "result_0.txt"
    log.write_text("\n".join(lines))  # no newline after the cut record
    found = sanity.run_verdicts(log, analysis.summarize(log), TTT, False, Hint())
    assert found == [
        (
            False,
            f"MLPerf log problems: {log}:{len(lines)}: truncated MLLOG record (last line cut off); "
            f"{log}: no run_stop in the log",
        ),
        (False, "no run_stop in the log (the run was cut off or is still running); srun: task 1 killed"),
    ]


def test_a_run_that_stopped_short_fails_on_its_stop_and_its_quality(tmp_path):
    lines = short_run(
        evals=((1, 0.2, 0.1), (2, 0.3, 0.25)), status="aborted", reason="max_iter 80 reached",
        stop_kind=contract.ITERATION_CAP,
    )  # fmt: skip
    found, hint = judged(tmp_path, lines)
    assert found == [
        NO_PROBLEM,
        (False, "run_stop status aborted: max_iter 80 reached"),
        (False, f"{QUALITY} (best BBOX 0.3000 SEGM 0.2500 at epoch 2)"),
    ]
    assert sanity.failures(found) == [found[1][1], found[2][1]] and hint.calls == 0


def test_a_segm_of_zero_is_shown_as_zero(tmp_path):
    # An early evaluation of a fresh model scores SEGM 0.0: a valid AP, not a missing one.
    found, _ = judged(tmp_path, short_run(evals=((1, 0.2, 0.0),), status="aborted", reason="max_iter 80 reached"))
    assert found[-1] == (False, f"{QUALITY} (best BBOX 0.2000 SEGM 0.0000 at epoch 1)")


@pytest.mark.parametrize("kind", contract.KINDS_NEEDING_JOB_OUTPUT)
def test_a_stop_caused_elsewhere_adds_what_the_job_printed(tmp_path, kind):
    found, hint = judged(tmp_path, short_run(evals=(), status="aborted", reason="rank 3 died", stop_kind=kind))
    assert found == [
        NO_PROBLEM,
        (False, "run_stop status aborted: rank 3 died; srun: task 1 killed"),
        (False, f"{QUALITY} (no evaluation)"),
    ]
    assert hint.calls == 1


def _throughput_log(kind: str, rates=(10.0, 20.0, 22.0)) -> list[str]:
    lines = short_run(evals=(), status="aborted", reason="trained its iterations", stop_kind=kind)
    progress = [contract.progress_line(20 * (i + 1), 60, 1, 1.0, {}, 0.02, r) for i, r in enumerate(rates)]
    return lines[:-1] + progress + lines[-1:]


def test_a_throughput_run_is_judged_on_its_rate_and_a_stop_by_design(tmp_path):
    found, _ = judged(tmp_path, _throughput_log(contract.THROUGHPUT_DONE), mode=THROUGHPUT)
    assert found == [
        NO_PROBLEM,
        (True, "no training throughput in the log"),
        (True, "run_stop status aborted: trained its iterations"),
    ]
    assert sanity.run_throughput(analysis.summarize(tmp_path / "result_0.txt")) == 21.0


def test_a_throughput_run_without_stop_kind_is_nvidias_and_passes(tmp_path):
    found, _ = judged(tmp_path, _throughput_log(""), mode=THROUGHPUT)
    assert sanity.failures(found) == []


@pytest.mark.parametrize("kind", [contract.NONFINITE_LOSS, contract.TARGET_MET, contract.TERMINATED])
def test_a_throughput_run_that_stopped_otherwise_fails(tmp_path, kind):
    found, hint = judged(tmp_path, _throughput_log(kind), mode=THROUGHPUT)
    assert sanity.failures(found) == ["run_stop status aborted: trained its iterations"]
    assert hint.calls == 0


def test_a_throughput_run_without_progress_lines_fails(tmp_path):
    found, _ = judged(tmp_path, _throughput_log(contract.THROUGHPUT_DONE, rates=()), mode=THROUGHPUT)
    assert sanity.failures(found) == ["no training throughput in the log"]


def test_throughput_falls_back_to_epoch_timing(tmp_path):
    s = analysis.summarize(write_log(tmp_path, short_run(epoch_s=60.0, train_samples=240)))
    assert s.throughput_iteration is None and s.throughput_epoch == 4.0  # 2 epochs of 240 images in 120 s
    assert sanity.run_throughput(s) == 4.0


def test_the_compliance_verdict_is_the_official_checkers(tmp_path):
    lines = short_run()
    lines.insert(0, mllog("submission_org", "ThaiSC", 969_000.0))
    found, _ = judged(tmp_path, lines, compliance=True)
    assert found[:3] == judged(tmp_path / "again", lines)[0]
    messages = compliance.check(tmp_path / "result_0.txt").messages
    assert len(messages) == 5  # the official checker misses five keys in so short a log
    assert found[3] == (False, "compliance checker (0.7.0) failed: " + "; ".join(messages[-3:]))
    real = tmp_path / "real" / "result_0.txt"
    real.parent.mkdir()
    real.write_bytes(lzma.decompress(DGX1_0.read_bytes()))
    verdicts = sanity.run_verdicts(real, analysis.summarize(real), TTT, True, Hint())
    assert [ok for ok, _ in verdicts] == [True, True, True, True]
    assert verdicts[3][1].startswith("compliance checker (0.7.0) failed: ")


# ---- a set of runs ---------------------------------------------------------------------------------
def _score(value=30.0, problems=(), note="olympic mean of the middle 3", dropped=None) -> score.Score:
    return score.Score(value, value is not None, False, dropped=dropped or {}, note=note, problems=list(problems))


def test_a_set_is_one_recipe_and_one_batch():
    assert sanity.set_problems(["a", "a"], ["48", "48"], _score()) == []
    assert sanity.set_problems(["b", "a", "b"], ["48", "96", "48"], _score()) == [
        "the runs used different recipes (a, b): not one set",
        "the runs logged different global batches (48, 96): not one set",
    ]


def test_a_set_without_a_score_says_why():
    assert sanity.set_problems(["a"], ["48"], _score(None, note="2 of 5 runs did not converge")) == [
        "2 of 5 runs did not converge"
    ]
    # A refused set names its problems, not the note that repeats them.
    refused = _score(None, problems=["x: refused"], note="no score: x: refused")
    assert sanity.set_problems(["a"], ["48"], refused) == ["x: refused"]


def test_a_provisional_score_passes_only_where_the_set_allows_it():
    provisional = score.Score(30.0, False, True, note="provisional: mean of 3 runs")
    assert sanity.set_problems(["a"] * 3, ["48"] * 3, provisional) == [
        "a provisional score of 3 run(s), not a v0.7 score: a score needs five runs "
        "(-S MaskRCNNBenchmark.runs=5, which --mode acceptance sets)"
    ]
    assert sanity.set_problems(["a"] * 3, ["48"] * 3, provisional, provisional_ok=True) == []
    assert sanity.set_problems(["a"] * 5, ["48"] * 5, _score(), provisional_ok=False) == []
    # Fewer runs and none converged: the note says why there is no score; nothing provisional to refuse.
    none = score.Score(None, False, True, note="no score: none of 2 runs converged")
    assert sanity.set_problems(["a"] * 2, ["48"] * 2, none) == ["no score: none of 2 runs converged"]


def test_the_dropped_runs_minutes():
    result = _score(dropped={"r0": "fastest", "r3": "slowest"})
    minutes = {"r0": 27.07, "r1": 28.0, "r3": 33.03}
    assert sanity.dropped_minutes(result, minutes, "fastest") == 27.07
    assert sanity.dropped_minutes(result, minutes, "slowest") == 33.03
    counted = _score(dropped={"r0": "fastest", "r4": "not converged (aborted): counts as the slowest"})
    assert sanity.dropped_minutes(counted, {"r0": 27.07, "r4": None}, "slowest") is None


# ---- system checks ---------------------------------------------------------------------------------
SMI = """n1: Tesla V100-SXM2-32GB
n1: Tesla V100-SXM2-32GB
srun: error: something else: with colons
n2: Tesla V100-SXM2-32GB
n2: NVIDIA A100-SXM4-40GB
 : not a host
n3 x: not a host either
"""


def test_gpu_listing_per_host():
    found = sanity.gpus_by_host(SMI)
    assert found == {
        "n1": ["Tesla V100-SXM2-32GB", "Tesla V100-SXM2-32GB"],
        "srun": ["error: something else: with colons"],
        "n2": ["Tesla V100-SXM2-32GB", "NVIDIA A100-SXM4-40GB"],
    }
    assert sanity.gpus_by_host("n1:V100\nn1 : V100\n") == {}
    assert sanity.fewest_gpus({"n1": ["a", "b"], "n2": ["a"]}) == 1
    assert sanity.fewest_gpus({}) == 0


@pytest.mark.parametrize(
    ("found", "problems"),
    [
        ({"n1": ["V100"] * 2, "n2": ["V100"] * 2}, []),
        ({}, ["0 node(s) answered (none), expected 2"]),
        ({"n1": ["V100"] * 2}, ["1 node(s) answered (n1), expected 2"]),
        ({"n1": ["V100"] * 2, "n2": ["V100"] * 2, "n3": ["V100"] * 2}, ["3 node(s) answered (n1, n2, n3), expected 2"]),
        (
            {"n2": ["V100", "A100"], "n1": ["V100"]},
            ["n1: nvidia-smi lists 1 GPUs, expected 2", "n2: 1 GPU(s) are not V100: A100"],
        ),
        (
            {"n1": ["A100", "A100", "P100"], "n2": ["Tesla V100-SXM2"] * 2},
            ["n1: nvidia-smi lists 3 GPUs, expected 2", "n1: 3 GPU(s) are not V100: A100"],
        ),
    ],
)
def test_gpu_model_and_count_per_node(found, problems):
    assert sanity.gpu_problems(found, 2, "V100", 2) == problems


def test_nccl_network_and_probe_numbers():
    text = "NCCL INFO Bootstrap\nn1:1:1 [0] NCCL INFO Using network IB  \nNCCL INFO Using network Socket\n"
    assert sanity.nccl_network(text) == "IB"
    assert sanity.nccl_network("NCCL INFO Using network \n") == ""
    assert sanity.nccl_network("") == ""
    assert sanity.probe_number({"busbw_GBps": "12.5"}, "busbw_GBps") == 12.5
    assert sanity.probe_number({"busbw_GBps": ""}, "busbw_GBps") == 0.0
    assert sanity.probe_number({}, "busbw_GBps") == 0.0


@pytest.mark.parametrize(
    ("values", "ranks", "network", "gpus", "nodes", "problems"),
    [
        ({"ranks": "8", "busbw_GBps": "40.1"}, 8, "IB", 8, 1, []),
        ({"ranks": "2", "busbw_GBps": "0.5"}, 2, "", 0, 2, []),
        ({"ranks": "4", "busbw_GBps": "1.5"}, 4, "", 0, 4, []),  # gloo on CPU ranks
        ({"ranks": "8", "busbw_GBps": "9.0"}, 8, "Socket", 8, 1, []),  # one node: sockets do not matter
        ({"ranks": "4", "busbw_GBps": "9.0"}, 4, "Socket", 0, 4, []),  # CPU: no NCCL
        ({"busbw_GBps": "9.0"}, 16, "IB", 8, 2, ["all-reduce ran on no ranks, expected 16"]),
        ({"ranks": "8", "busbw_GBps": "9.0"}, 16, "IB", 8, 2, ["all-reduce ran on 8 ranks, expected 16"]),
        ({"ranks": "16", "busbw_GBps": "0"}, 16, "IB", 8, 2, ["no bus bandwidth measured"]),
        ({"ranks": "16", "busbw_GBps": "-1"}, 16, "IB", 8, 2, ["no bus bandwidth measured"]),
        ({"ranks": "16"}, 16, "IB", 8, 2, ["no bus bandwidth measured"]),
        (
            {"ranks": "16", "busbw_GBps": "3.1"},
            16,
            "socket",
            8,
            2,
            [
                "NCCL fell back to TCP sockets across nodes (NCCL_DEBUG: 'Using network Socket'): the "
                "partition's network plugin did not load in the job (extras 'nccl' in config/)"
            ],
        ),
    ],
)
def test_allreduce_answer(values, ranks, network, gpus, nodes, problems):
    assert sanity.allreduce_problems(values, ranks, network, gpus, nodes) == problems


UNSUPPORTED = (
    "GPU(s) have no kernels in the image's torch build (see 'built_for' in the output; "
    "resources/containers/README.md, 'CUDA and the GPU generation')"
)


@pytest.mark.parametrize(
    ("values", "gpus", "problems"),
    [
        ({"gpu_count": "8", "unsupported_gpus": "0"}, 8, []),
        ({"gpu_count": "0"}, 0, []),
        ({"gpu_count": "4", "unsupported_gpus": "0"}, 8, ["the image sees 4 GPUs, the node has 8"]),
        ({}, 8, ["the image sees no GPUs, the node has 8"]),
        ({"gpu_count": "8", "unsupported_gpus": "8"}, 8, [f"8 {UNSUPPORTED}"]),
        ({"gpu_count": "2", "unsupported_gpus": "1"}, 4, ["the image sees 2 GPUs, the node has 4", f"1 {UNSUPPORTED}"]),
    ],
)
def test_container_sees_the_nodes_gpus_with_kernels_for_them(values, gpus, problems):
    assert sanity.container_problems(values, gpus) == problems


def test_loader_and_coco_answers():
    assert sanity.loader_problems({"images": "64"}, 64) == []
    assert sanity.loader_problems({"images": "65"}, 64) == []
    assert sanity.loader_problems({"images": "63"}, 64) == ["loaded 63 images, expected 64"]
    assert sanity.loader_problems({}, 64) == ["loaded 0 images, expected 64"]
    assert sanity.coco_problems("checked 123 files\nproblems: 0\nverdict: OK\n") == []
    failed = ["COCO tree does not match the manifest (see output)"]
    assert sanity.coco_problems("problems: 2\nverdict: FAILED\n") == failed
    assert sanity.coco_problems("the verdict: OK was not given\n") == failed
    assert sanity.coco_problems("") == failed


@pytest.mark.parametrize(
    ("cpu_bind", "masks", "why", "srun", "expected"),
    [
        (True, ["0x1f", "0x3e0"], "", True, ("mask_cpu:0x1f,0x3e0", ["--cpu-bind=verbose,mask_cpu:0x1f,0x3e0"])),
        (False, ["0x1f", "0x3e0"], "", True, ("off (-S cpu_bind=false)", [])),
        (
            True,
            [],
            "3 GPUs do not split evenly over 2 sockets",
            True,
            ("3 GPUs do not split evenly over 2 sockets", []),
        ),
        (True, ["0x1f"], "", False, ("none: the launcher is not srun", [])),
        (True, [], "", True, ("none: the launcher is not srun", [])),
    ],
)
def test_cpu_binding(cpu_bind, masks, why, srun, expected):
    assert sanity.binding(cpu_bind, masks, why, srun) == expected
