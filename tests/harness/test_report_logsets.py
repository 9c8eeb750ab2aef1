"""Reports of MLPerf log sets alone (`acceptance report --logs`), on NVIDIA's published v0.7 logs:
the per-run table, the olympic score with its dropped runs, the system description beside the logs,
the vendor-against-reference table, the verdict of a set, and a folder that holds everything it
links to. Figures are checked against the published numbers (shared/data/.../README.md)."""

from __future__ import annotations

import html.parser
import json
import lzma
import shutil
import tarfile
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from acceptance import cli
from acceptance.mlperf import analysis
from conftest import NVIDIA_LOGS

DGX1 = NVIDIA_LOGS / "dgx1_ngc20.06_pytorch"
A100X4 = NVIDIA_LOGS / "dgxa100_n4_ngc20.06_pytorch"
PUBLISHED_DGX1 = [152.74, 153.87, 153.47, 155.17, 154.01]  # minutes, result_0..4


def report(tmp_path: Path, *args: str) -> tuple[str, str]:
    out = tmp_path / "out"
    assert cli.main(["report", *args, "--out", str(out)]) == 0
    return (out / "summary.md").read_text(), (out / "index.html").read_text()


@pytest.fixture(scope="module")
def vendor_vs_reference(tmp_path_factory):
    """4x DGX A100 (first: the vendor's) against one DGX-1 (the reference)."""
    tmp = tmp_path_factory.mktemp("sets")
    summary, page = report(tmp, "--logs", str(A100X4), str(DGX1))
    return {"out": tmp / "out", "summary": summary, "page": page}


def rows_of(summary: str, first_cell: str) -> list[list[str]]:
    return [
        [c.strip() for c in line.strip("|").split("|")]
        for line in summary.splitlines()
        if line.startswith(f"| {first_cell}")
    ]


def test_per_run_table_and_score_are_the_published_ones(vendor_vs_reference):
    summary = vendor_vs_reference["summary"]
    rows = rows_of(summary, "result_")
    assert len(rows) == 10
    dgx1 = [r for r in rows if "2_dgx1_ngc20.06_pytorch" in r[0]]
    for row, minutes in zip(dgx1, PUBLISHED_DGX1):
        assert abs(float(row[2]) - minutes) <= 0.011, row  # minutes, to the published 2 decimals
        assert row[3] == "14" and row[1] == "success" and row[8] == "SUCCESS" and row[9] == "closed"
        assert float(row[4]) >= 0.377 and float(row[5]) >= 0.339
    assert "MLPerf v0.7 score: 153.78 min (v0.7 score; olympic mean of the middle 3)" in summary
    assert "MLPerf v0.7 score: 28.46 min" in summary
    # Published: DGX-1 fastest 152.74 (result_0), slowest 155.17 (result_3); A100 27.07 (result_3), 33.03 (result_4)
    assert summary.count("- dropped result_0.txt.xz: fastest") == 1 and "- dropped result_3.txt.xz: slowest" in summary
    assert "- dropped result_3.txt.xz: fastest" in summary and "- dropped result_4.txt.xz: slowest" in summary


def test_the_verdict_of_log_sets_alone(vendor_vs_reference):
    summary = vendor_vs_reference["summary"]
    assert "Overall verdict: **PASS** (10 runs converged, 0 not converged, 0 refused)" in summary
    assert "- log set dgx1_ngc20.06_pytorch: v0.7 score 153.78 min, every log compliant" in summary
    assert "no test cases" not in summary and "Not an MLPerf result" not in summary  # closed division throughout


def test_system_description_beside_the_logs_is_shown_and_checked(vendor_vs_reference):
    summary = vendor_vs_reference["summary"]
    assert "- accelerator_model_name: NVIDIA A100-SXM4-40GB (400W)" in summary
    assert "- accelerator_model_name: NVIDIA V100-SXM2-16GB (300W)" in summary
    assert summary.count("system description, checked as `acceptance package` checks it: passed") == 2


def test_vendor_against_reference(vendor_vs_reference):
    rows = {r[0]: r for r in rows_of(vendor_vs_reference["summary"], "") if len(r) == 6}
    assert rows["MLPerf v0.7 score"][1:5] == ["28.46 min", "153.78 min", "0.185x", "-125.3 min (-81.5%)"]
    assert rows["GPUs"][1:3] == ["32 GPUs", "8 GPUs"]
    # Throughput per GPU from the logs' own iteration lines: about 1189 img/s on 32 A100s and 204 on 8 V100s
    # (the data set's README), computed here directly from the analysis library.
    rate = {f: sum(analysis.summarize(p).throughput_iteration for p in f.glob("*.xz")) / 5 for f in (A100X4, DGX1)}
    vendor, reference = rate[A100X4] / 32, rate[DGX1] / 8
    assert abs(vendor - 1189 / 32) < 0.5 and abs(reference - 204 / 8) < 0.5
    per_gpu = rows["throughput per GPU"]
    assert per_gpu[1] == f"{vendor:.4g} img/s per GPU" and per_gpu[2] == f"{reference:.4g} img/s per GPU"
    assert per_gpu[3] == f"{vendor / reference:.3f}x"
    # Epochs: 14, 15, 15, 14, 17 published for the A100 runs, 14 each on the DGX-1.
    assert rows["epochs to target (mean)"][1:4] == ["15 epochs", "14 epochs", "1.071x"]
    assert "<tr class='better'><td>MLPerf v0.7 score</td>" in vendor_vs_reference["page"]


class _Links(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.found += [value for name, value in attrs if name in ("href", "src") and value]


def local_links(page: str) -> list[str]:
    parser = _Links()
    parser.feed(page)
    return [link for link in parser.found if not link.startswith("data:")]


def test_the_report_folder_holds_everything_it_links(vendor_vs_reference, tmp_path):
    archive = tmp_path / "report.tar"
    with tarfile.open(archive, "w") as tar:
        tar.add(vendor_vs_reference["out"], arcname="report")
    with tarfile.open(archive) as tar:
        tar.extractall(tmp_path / "elsewhere", filter="data")
    moved = tmp_path / "elsewhere" / "report"
    links = local_links((moved / "index.html").read_text())
    assert len(links) >= 12  # 10 logs and 2 system descriptions
    for link in links:
        parts = urlsplit(link)
        assert not parts.scheme and not parts.netloc and not link.startswith("/"), link
        target = (moved / unquote(parts.path)).resolve()
        assert target.is_file() and target.is_relative_to(moved.resolve()), link
    # The copies are the logs themselves, readable as text in a browser.
    copy = moved / "files" / "logs" / "2_dgx1_ngc20.06_pytorch" / "result_0.txt"
    assert copy.read_text() == lzma.open(DGX1 / "result_0.txt.xz", "rt").read()


def test_a_set_of_three_is_incomplete_and_a_log_given_twice_fails(tmp_path):
    three = tmp_path / "three"
    three.mkdir()
    for path in sorted(DGX1.glob("result_*.txt.xz"))[:3]:
        shutil.copy(path, three / path.name)
    summary, _ = report(tmp_path / "a", "--logs", str(three))
    assert "Overall verdict: **INCOMPLETE**" in summary and "provisional: 3 of the 5 runs" in summary
    twice = tmp_path / "twice"
    shutil.copytree(three, twice)
    shutil.copy(DGX1 / "result_0.txt.xz", twice / "result_5.txt.xz")
    summary, _ = report(tmp_path / "b", "--logs", str(twice))
    assert "Overall verdict: **FAIL**" in summary
    assert f"{twice / 'result_5.txt.xz'} is the same log as {twice / 'result_0.txt.xz'}" in summary


def test_an_open_division_log_carries_the_banner(tmp_path):
    folder = tmp_path / "open"
    folder.mkdir()
    text = lzma.open(DGX1 / "result_0.txt.xz", "rt").read()
    closed = '"key": "submission_division", "value": "closed"'
    assert closed in text
    (folder / "result_0.txt").write_text(text.replace(closed, closed.replace("closed", "open")))
    summary, page = report(tmp_path, "--logs", str(folder))
    assert "> **Not an MLPerf result**:" in summary
    assert f"log set {folder}: division open in its MLPerf logs" in summary
    assert "<div class='box banner'><p><b>Not an MLPerf result:" in page


def test_a_file_that_is_no_mlperf_log_is_refused_by_name(tmp_path, capsys):
    run_report = tmp_path / "run-report.json"
    run_report.write_text(json.dumps({"session_info": {"cmdline": "reframe -r"}, "runs": []}))
    # The ReFrame run report after --logs: nargs='*' takes it for a log.
    assert cli.main(["report", "--logs", str(DGX1), str(run_report), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.strip() == (
        f"error: {run_report}: not an MLPerf log (no ':::MLLOG' line); a ReFrame run report goes before --logs"
    )
    assert not (tmp_path / "out").exists()
    # And an MLPerf log where the run report belongs.
    plain = tmp_path / "result_0.txt"
    plain.write_text(lzma.open(DGX1 / "result_0.txt.xz", "rt").read())
    assert cli.main(["report", str(plain), "--out", str(tmp_path / "out")]) == 2
    assert f"error: {plain}: not a readable ReFrame JSON run report" in capsys.readouterr().err


def test_a_given_system_description_is_shown_checked_and_refused_when_unreadable(tmp_path, capsys):
    description = json.loads((DGX1 / "system.json").read_text())
    del description["number_of_nodes"]
    given = tmp_path / "vendor.json"
    given.write_text(json.dumps(description))
    summary, _ = report(tmp_path, "--logs", str(DGX1 / "result_0.txt.xz"), "--system-json", str(given))
    assert "System description given with --system-json (vendor.json):" in summary
    assert "- file: vendor.json (files/systems/vendor.json)" in summary
    line = next(x for x in summary.splitlines() if x.startswith("system description, checked") and "FAILED" in x)
    assert "number_of_nodes" in line  # MLPerf's checker names the missing field
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    assert cli.main(["report", "--logs", str(DGX1), "--system-json", str(broken), "--out", str(tmp_path / "o2")]) == 2
    assert f"error: {broken}: not a readable system description" in capsys.readouterr().err
