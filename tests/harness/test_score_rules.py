"""The v0.7 score of a set, rule by rule (olympic mean, provisional sets, failed runs, ties), the set
in words (which runs were averaged, which dropped and why), and the sets an acceptance report finds
among its test cases."""

from __future__ import annotations

import json

import pytest

from acceptance import cli
from acceptance.mlperf import analysis, rcp, score, sets
from acceptance.mlperf.analysis import COCO_TRAIN_FILTERED, RunSummary
from acceptance.report.collect import Criterion
from conftest import short_run, write_log


def run(path: str, minutes: float | None, converged: bool = True, status: str = "success", **extra) -> RunSummary:
    summary = RunSummary(path, status, converged, "", minutes if converged else None, 14 if converged else None, 14)
    summary.digest = extra.pop("digest", path)
    for key, value in extra.items():
        setattr(summary, key, value)
    return summary


FIVE = [run("r0", 30.0), run("r1", 28.0), run("r2", 33.0), run("r3", 29.0), run("r4", 31.0)]


def test_five_runs_drop_the_fastest_and_the_slowest():
    found = score.olympic(FIVE)
    assert (found.value, found.valid, found.provisional) == (30.0, True, False)
    assert found.used == ["r3", "r0", "r4"]  # by time: 29, 30, 31
    assert found.dropped == {"r1": "fastest", "r2": "slowest"}
    assert found.note == "olympic mean of the middle 3" and found.problems == []
    assert found.to_dict() == {
        "value": 30.0, "valid": True, "provisional": False, "used": ["r3", "r0", "r4"],
        "dropped": {"r1": "fastest", "r2": "slowest"}, "note": "olympic mean of the middle 3", "problems": [],
    }  # fmt: skip


def test_one_failed_run_counts_as_the_slowest():
    runs = [run("r0", 30.0), run("r1", None, False, "aborted"), run("r2", 33.0), run("r3", 29.0), run("r4", 28.0)]
    found = score.olympic(runs)
    assert found.valid and found.value == pytest.approx((29.0 + 30.0 + 33.0) / 3)
    assert found.used == ["r3", "r0", "r2"]
    assert found.dropped == {"r4": "fastest", "r1": "not converged (aborted): counts as the slowest"}


def test_a_converged_run_without_minutes_is_not_converged():
    runs = [*FIVE[:4], run("r4", None, True)]
    found = score.olympic(runs)
    assert found.dropped["r4"] == "not converged (success): counts as the slowest"
    assert found.value == pytest.approx((29.0 + 30.0 + 33.0) / 3)


def test_two_failed_runs_leave_no_score_naming_both():
    runs = [*FIVE[:3], run("r3", None, False, "aborted"), run("r4", None, False, "incomplete")]
    found = score.olympic(runs)
    assert (found.value, found.valid, found.provisional, found.used) == (None, False, False, [])
    assert found.dropped == {"r3": "not converged (aborted)", "r4": "not converged (incomplete)"}
    assert found.note == "2 of 5 runs did not converge: no valid score (at most one may fail)"


def test_ties_drop_one_run_each_way():
    runs = [run(f"r{i}", 30.0) for i in range(5)]
    found = score.olympic(runs)
    assert found.value == 30.0 and found.valid
    assert found.dropped == {"r0": "fastest", "r4": "slowest"} and found.used == ["r1", "r2", "r3"]
    tied_fastest = [run("a", 20.0), run("b", 20.0), run("c", 30.0), run("d", 40.0), run("e", 40.0)]
    found = score.olympic(tied_fastest)
    assert found.value == pytest.approx(30.0) and found.used == ["b", "c", "d"]


def test_fewer_runs_give_the_provisional_mean_of_those_that_converged():
    runs = [run("r0", 30.0), run("r1", 36.0), run("r2", None, False, "aborted")]
    found = score.olympic(runs)
    assert (found.value, found.valid, found.provisional) == (33.0, False, True)  # the mean, not the slowest
    assert found.used == ["r0", "r1"] and found.dropped == {"r2": "not converged (aborted)"}
    assert found.note == "provisional: 3 of the 5 runs a v0.7 score needs; mean of the 2 converged run(s)"
    assert score.olympic(runs[:1]).value == 30.0


def test_fewer_runs_none_converged_give_no_score():
    found = score.olympic([run("r0", None, False, "aborted"), run("r1", None, False, "incomplete")])
    assert (found.value, found.valid, found.provisional) == (None, False, True)
    assert found.note == "2 run(s), none converged: no score" and found.used == [] and found.dropped == {}


def test_sets_that_cannot_be_scored():
    refused = run("r1", 28.0, problems=["r1:3: bad", "r1:4: worse"])
    twice = run("r4", 31.0, digest="r0")
    found = score.olympic([FIVE[0], refused, *FIVE[2:4], twice, run("r5", 30.5)])
    assert found.problems == [
        "r1: refused (2 problem(s)), so the set has no score",
        "r4 is the same log as r0",
        "6 runs (r0, r1, r2, r3, r4, r5): a v0.7 score takes exactly 5",
    ]
    assert (found.value, found.valid, found.provisional) == (None, False, False)
    assert found.note == "no score: " + "; ".join(found.problems)
    assert score.set_problems([run("/a/r0", 1.0, digest=""), run("/a/r1", 1.0, digest="")]) == []


def test_more_than_five_runs_are_never_scored():
    six = [*FIVE, run("r5", 30.5)]
    found = score.olympic(six)
    assert found.value is None and found.problems == ["6 runs (r0, r1, r2, r3, r4, r5): a v0.7 score takes exactly 5"]


@pytest.mark.parametrize(
    ("bbox", "segm", "converged"),
    [(0.377, 0.339, True), (0.3769, 0.339, False), (0.377, 0.3389, False), (0.5, 0.5, True)],
)
def test_an_evaluation_exactly_at_the_target_meets_it(tmp_path, bbox, segm, converged):
    s = analysis.summarize(write_log(tmp_path, short_run(evals=((1, 0.2, 0.2), (2, bbox, segm)))))
    assert s.converged is converged and s.epochs_to_target == (2 if converged else None)
    assert analysis.EvalPoint(2, bbox, segm, None).meets() is converged


# ---- a set in words, and the sets of a report ---------------------------------------------------------
def test_a_set_in_words():
    # Named in run order, which is not the order of the paths.
    names = {p: f"run {i}" for i, p in enumerate(["r0", "r1", "r2", "r3", "r4"])}
    names = dict(reversed(names.items()))
    minutes = {r.path: r.time_to_train_min for r in FIVE}
    assert sets.describe(score.olympic(FIVE), names, minutes) == (
        "v0.7 score 30.00 min: olympic mean of the middle 3, run 4 (31.00 min), run 3 (29.00 min), run 0 (30.00 min); "
        "dropped run 1 (28.00 min): fastest; dropped run 2 (33.00 min): slowest"
    )
    failed = [FIVE[0], FIVE[1], run("r2", None, False, "aborted")]
    provisional = score.olympic(failed)
    minutes = {r.path: r.time_to_train_min for r in failed}
    assert sets.describe(provisional, names, minutes) == (
        "provisional score 29.00 min: provisional: 3 of the 5 runs a v0.7 score needs; mean of the 2 converged "
        "run(s), run 1 (28.00 min), run 0 (30.00 min); dropped run 2: not converged (aborted)"
    )
    alone = score.olympic(FIVE[:1])
    assert sets.describe(alone, names, {"r0": 30.0}).endswith("run(s), run 0 (30.00 min)")
    none = score.olympic([run("r0", None, False, "aborted")])
    assert sets.describe(none, names, {"r0": None}) == "1 run(s), none converged: no score"


def crit(index: int, summary: RunSummary | None, check="MaskRCNNSmoke", where="local:default", nodes=1, **extra):
    name = f"{check} %num_nodes={nodes} %run_index={index}"
    found = Criterion(check, name, where, "pass", "", num_nodes=nodes, mode="time-to-train")
    found.implementation, found.recipe, found.run = "bundled", extra.pop("recipe", "smoke"), summary
    for key, value in extra.items():
        setattr(found, key, value)
    return found


def test_a_reports_sets_are_its_runs_told_apart_by_run_index():
    closed = {"global_batch_size": 128}
    runs = [run(f"/s/r{i}", m, hyperparameters=closed, train_images=COCO_TRAIN_FILTERED)
            for i, m in enumerate([30.0, 28.0, 33.0, 29.0, 31.0])]  # fmt: skip
    criteria = [crit(i, r) for i, r in reversed(list(enumerate(runs)))]
    criteria += [crit(0, runs[0], where="tara:dgx"), crit(1, runs[1], where="tara:dgx", recipe="other")]
    criteria += [crit(0, runs[0], nodes=2), crit(1, runs[1], nodes=2, mode="throughput")]
    criteria += [crit(2, None, nodes=2), Criterion("MaskRCNNSmoke", "MaskRCNNSmoke %num_nodes=2", "local:default",
                                                   "pass", "", num_nodes=2, mode="time-to-train", run=runs[2])]
    criteria.insert(0, crit(7, runs[0], check="MaskRCNNBenchmark", mode="throughput"))  # not time-to-train
    (row,) = sets.report_rows(criteria)
    assert row.label == "MaskRCNNSmoke on local:default: 1 node(s), bundled, recipe smoke"
    assert [i for i, _ in row.runs] == [0, 1, 2, 3, 4]
    assert row.result.value == 30.0
    assert row.verdict.verdict == "within" and row.verdict.rcp.batch == 128
    label, value, words, rcp_text = row.cells()
    assert (label, value) == (row.label, "30.00 min")
    assert words == sets.describe(row.result, {r.path: f"run {i}" for i, r in enumerate(runs)},
                                  {r.path: r.time_to_train_min for r in runs})  # fmt: skip
    assert words.startswith("v0.7 score 30.00 min: olympic mean of the middle 3, run 0 (30.00 min), run 3 (29")
    assert rcp_text == rcp.judge_set([14] * 5, 128).message


def test_the_first_run_gives_the_sets_batch_and_a_repeat_keeps_its_place():
    closed = run("/s/r0", 30.0, hyperparameters={"global_batch_size": 128}, train_images=COCO_TRAIN_FILTERED)
    other = run("/s/r1", 31.0, hyperparameters={"global_batch_size": 64}, train_images=1000)
    (row,) = sets.report_rows([crit(0, closed), crit(1, other)])
    assert row.verdict.rcp.batch == 128
    (row,) = sets.report_rows([crit(1, other), crit(0, closed)])
    assert row.verdict.rcp.batch == 128
    again = run("/s/r0b", 29.0)
    (row,) = sets.report_rows([crit(1, other), crit(0, closed), crit(0, again)])  # --repeat: run 0 twice
    assert [(i, s.path) for i, s in row.runs] == [(0, "/s/r0"), (0, "/s/r0b"), (1, "/s/r1")]


def test_an_open_set_has_no_rcp_and_a_failed_set_still_shows_its_score():
    runs = [run(f"/s/r{i}", m) for i, m in enumerate([30.0, 28.0, 33.0, 29.0])]
    runs.append(run("/s/r4", None, False, "aborted"))
    (row,) = sets.report_rows([crit(i, r) for i, r in enumerate(runs)])
    assert row.verdict is None and row.cells()[3] == "-"
    assert row.result.value == pytest.approx((29.0 + 30.0 + 33.0) / 3)
    assert "dropped run 4: not converged (aborted): counts as the slowest" in row.cells()[2]
    (two,) = sets.report_rows([crit(0, run("/t/r0", None, False, "aborted")), crit(1, run("/t/r1", None, False))])
    assert two.cells()[1] == "-" and two.cells()[2] == "2 run(s), none converged: no score"


# ---- acceptance score and the report on a set ---------------------------------------------------------
def test_acceptance_score_fails_a_converged_log_the_official_checker_refuses(tmp_path, capsys):
    log = write_log(tmp_path, short_run())
    assert analysis.summarize(log).converged  # our judge: converged
    assert cli.main(["score", str(log)]) == 1  # the official checker: required keys missing
    out = capsys.readouterr().out
    assert "FAILED" in out and "compliance: " in out
    assert cli.main(["score", str(log), "--no-compliance"]) == 0


def test_the_summary_says_which_runs_were_dropped_and_why(tmp_path):
    folder = tmp_path / "set"
    minutes = [3.0, 2.0, None, 4.0, 5.0]  # run 2 does not converge
    for index, length in enumerate(minutes):
        evals = ((1, 0.2, 0.2), (2, 0.4, 0.35)) if length else ((1, 0.2, 0.2),)
        lines = short_run(evals, epoch_s=(length or 2.0) * 30 - 5 - 0.5, status="success" if length else "aborted")
        write_log(folder, lines, f"result_{index}.txt")
    out = tmp_path / "out"
    assert cli.main(["report", "--logs", str(folder), "--out", str(out)]) == 0
    summary = (out / "summary.md").read_text()
    assert "MLPerf v0.7 score: 4.00 min (v0.7 score; olympic mean of the middle 3)" in summary
    assert "- dropped result_1.txt: fastest" in summary
    assert "- dropped result_2.txt: not converged (aborted): counts as the slowest" in summary
    assert "dropped result_0.txt" not in summary and "dropped result_3.txt" not in summary
    report = json.loads(json.dumps(cli.score_logs(sorted(folder.glob("*.txt")), run_compliance=False)))
    assert report["sets"][0]["score"]["used"] == [str(folder / f"result_{i}.txt") for i in (0, 3, 4)]
