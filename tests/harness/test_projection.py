"""``acceptance project``: the v0.7 score projected from the first minutes of one log, validated on
NVIDIA's two published sets (the model's constants were fitted on other systems' logs)."""

from __future__ import annotations

import json
import lzma

import pytest

from acceptance import cli
from acceptance.mlperf import analysis, parse, projection
from conftest import NVIDIA_LOGS

DGX1 = NVIDIA_LOGS / "dgx1_ngc20.06_pytorch"
A100X4 = NVIDIA_LOGS / "dgxa100_n4_ngc20.06_pytorch"


@pytest.mark.parametrize(
    "folder, published, projected, pause_from",
    [(DGX1, 153.78, 151.46, "modelled"), (A100X4, 28.46, 28.09, "measured (4 evaluation pause(s))")],
)
def test_first_ten_minutes_of_result_0_project_the_published_score_within_5_percent(
    folder, published, projected, pause_from
):
    got = projection.project(folder / "result_0.txt.xz")
    assert abs(got.projected_min / published - 1) < 0.05
    assert got.projected_min == pytest.approx(projected, abs=0.01)  # benchmarks/RESULTS.md's table
    assert got.minutes == 10.0 and 9.5 < got.used_min <= 10.0
    assert got.epochs == 14.0 and "training 1.0.0 RCP" in got.epochs_from
    assert got.eval_pause_from.startswith(pause_from)
    whole = analysis.summarize(folder / "result_0.txt.xz").throughput_iteration
    assert got.rate == pytest.approx(whole, rel=0.02)  # the window's rate, close to the whole run's
    parts = got.startup_s + got.epochs * (got.epoch_s + got.eval_pause_s) + got.tail_s
    assert got.projected_min == pytest.approx(parts / 60)


def test_nothing_after_the_window_is_read(tmp_path):
    """The log as it stood 10 minutes after run_start (cut at its first later record) projects the same."""
    text = lzma.decompress((DGX1 / "result_0.txt.xz").read_bytes()).decode()
    log = parse.parse(DGX1 / "result_0.txt.xz")
    end = log.first("run_start").time_ms + 10 * 60000
    first_after = next(r for r in log.records if r.time_ms > end)
    cut = tmp_path / "result_0.txt"
    cut.write_text("".join(text.splitlines(keepends=True)[: first_after.line - 1]))
    whole = projection.project(DGX1 / "result_0.txt.xz").projected_min
    assert projection.project(cut).projected_min == pytest.approx(whole)
    # A shorter window reads fewer iteration lines: 5 minutes of the first epoch.
    five = projection.window(DGX1 / "result_0.txt.xz", 5.0)
    ten = projection.window(DGX1 / "result_0.txt.xz", 10.0)
    assert 0 < len(five.rates) < len(ten.rates) and five.used_min <= 5.0


def test_given_epochs_replace_the_rcp_and_bad_logs_say_why(tmp_path):
    got = projection.project(DGX1 / "result_0.txt.xz", epochs=17)
    assert got.epochs == 17 and got.epochs_from == "given"
    text = lzma.decompress((DGX1 / "result_0.txt.xz").read_bytes()).decode()
    early = tmp_path / "early.txt"
    early.write_text(text[: text.index('"key": "block_start"')].rsplit("\n", 1)[0] + "\n")
    with pytest.raises(ValueError, match=f"^{early}: no epoch started within 10 min of run_start$"):
        projection.project(early)
    with pytest.raises(ValueError, match=f"^{early}: no epoch started in the log$"):
        projection.project(early, minutes=None)
    with pytest.raises(ValueError, match=f"^{tmp_path / 'none.txt'}:0: file not found$"):
        projection.project(tmp_path / "none.txt")
    opened = tmp_path / "open.txt"
    opened.write_text(text.replace('"value": "closed"', '"value": "open"'))
    with pytest.raises(ValueError, match="not a closed COCO run .*give the epochs"):
        projection.project(opened)
    assert projection.project(opened, epochs=14).projected_min > 0


def test_cli_prints_each_projection_and_refuses_bad_input_in_one_line(tmp_path, capsys):
    assert cli.main(["project", str(A100X4), "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert [p["path"][-15:] for p in found] == [f"result_{i}.txt.xz" for i in range(5)]
    assert all(abs(p["projected_min"] / 28.46 - 1) < 0.05 for p in found)
    assert cli.main(["project", str(DGX1 / "result_0.txt.xz"), "--minutes", "10"]) == 0
    out = capsys.readouterr().out
    assert "projected v0.7 score 151.46 min from its first 10 min" in out
    assert "epochs 14.00 (MLPerf training 1.0.0 RCP, RCP at batch 48)" in out
    assert cli.main(["project", str(tmp_path / "missing.txt")]) == 2
    assert capsys.readouterr().err.strip() == f"error: {tmp_path / 'missing.txt'}: no such file or folder"
    assert cli.main(["project", str(DGX1 / "result_0.txt.xz"), "--minutes", "0"]) == 2
    assert "--minutes 0: give the minutes after run_start" in capsys.readouterr().err
