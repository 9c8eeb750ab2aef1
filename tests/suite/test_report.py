"""Reports a committee reads: built from a real smoke run and from NVIDIA's logs, checked against
the analysis library's numbers, and rendered in a real headless browser (Debian's chromium)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from acceptance import cli
from acceptance.mlperf import analysis, score
from conftest import NVIDIA_LOGS, ROOT, cases_of

DGX1 = NVIDIA_LOGS / "dgx1_ngc20.06_pytorch"
ARTIFACTS = ROOT / "reports" / "test-artifacts"


@pytest.fixture(scope="module")
def smoke_report(smoke_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    report_json = smoke_run["prefix"] / "report.json"
    assert cli.main(["report", str(report_json), "--logs", str(DGX1), "--out", str(out)]) == 0
    return out


def _ttt_case(smoke_run) -> dict:
    return next(c for c in cases_of(smoke_run["report"]) if c["name"].startswith("MaskRCNNSmoke")
                and c.get("num_nodes") == 1 and c.get("mode") == "time-to-train")  # fmt: skip


def test_report_figures_match_the_analysis_library(smoke_run, smoke_report):
    md = (smoke_report / "summary.md").read_text()
    case = _ttt_case(smoke_run)
    run = analysis.summarize(Path(case["outputdir"]) / case["mlperf_log"])
    ttt = case["perfvalues"]["local:default:time_to_train"]
    assert abs(ttt[0] - run.time_to_train_min) < 1e-9
    assert f"| time_to_train | {ttt[0]:.2f} min | 5.00 min | <= 10 | pass |" in md
    assert f"| epochs | {run.epochs_to_target} epochs |" in md
    dgx1 = score.olympic([analysis.summarize(p) for p in sorted(DGX1.glob("result_*.txt.xz"))])
    assert f"{dgx1.value:.2f} min" in md and "153.78" in md
    assert "Overall verdict: **PASS**" in md
    assert "local:default has 1 node(s); a 4-node run cannot be scheduled there" in md
    assert "measured on this project's CI machine kind" in md  # the reference's source
    html = (smoke_report / "index.html").read_text()
    assert html.count("data:image/png;base64,") >= 2  # the smoke curve and the DGX-1 curves
    assert "<script" not in html and "http://" not in html and "https://" not in html  # opens offline
    assert "suite commit" in html and "torch=" in html and "recipe smoke" in html


def test_summary_is_plain_text(smoke_report):
    md = (smoke_report / "summary.md").read_text()
    assert not re.search(r"<[a-z]+[ >]", md)
    assert md.startswith("# MLPerf v0.7 Mask R-CNN acceptance report")


def test_failed_case_reason_reaches_the_report(tmp_path):
    # A damaged NVIDIA log set: the report says which runs were dropped and why.
    folder = tmp_path / "logs"
    folder.mkdir()
    for index, path in enumerate(sorted(DGX1.glob("result_*.txt.xz"))[:3]):
        shutil.copy(path, folder / f"result_{index}.txt.xz")
    assert cli.main(["report", "--logs", str(folder), "--out", str(tmp_path / "out")]) == 0
    md = (tmp_path / "out" / "summary.md").read_text()
    assert "provisional" in md


def _chromium() -> str:
    if not shutil.which("chromium"):
        subprocess.run(["apt-get", "update", "-qq"], check=False, capture_output=True, timeout=600)
        subprocess.run(["apt-get", "install", "-y", "-qq", "chromium"], check=True, capture_output=True, timeout=900,
                       env={"DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})  # fmt: skip
    return shutil.which("chromium") or "/usr/bin/chromium"


def test_page_renders_in_headless_chromium_without_console_errors(smoke_report, tmp_path):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "report.png"
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0"]  # fmt: skip
    url = (smoke_report / "index.html").as_uri()
    browser = _chromium()
    # The detector itself: a page that logs an error must be caught.
    bad = tmp_path / "bad.html"
    bad.write_text("<html><body><script>console.error('boom')</script>x</body></html>")
    probe = subprocess.run([browser, *flags, "--dump-dom", bad.as_uri()], capture_output=True, text=True, timeout=120)
    assert any("CONSOLE" in line and "boom" in line for line in probe.stderr.splitlines())
    dom = subprocess.run([browser, *flags, "--dump-dom", url], capture_output=True, text=True, timeout=120)
    assert "Overall verdict" in dom.stdout and "<img" in dom.stdout
    console = [line for line in dom.stderr.splitlines() if "CONSOLE" in line]
    assert not console, console
    done = subprocess.run([browser, *flags, "--window-size=1200,3000", f"--screenshot={shot}", url],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0 and shot.is_file() and shot.stat().st_size > 50_000


def test_scaling_plot_appears_when_several_node_counts_ran(tmp_path):
    from acceptance.report import collect, render

    data = collect.ReportData(title="scaling")
    for nodes, rate in ((1, 204.0), (2, 390.0), (4, 700.0)):
        data.criteria.append(
            collect.Criterion(
                check="MaskRCNNBenchmark", name=f"MaskRCNNBenchmark %num_nodes={nodes}", where="lanta:gpu",
                result="pass", reason="", num_nodes=nodes,
                perf={"lanta:gpu:throughput": [rate, 733.0, -0.15, None, "img/s", "pass"]},
            )
        )  # fmt: skip
    titles = [f.title for f in render.figures(data)]
    assert titles == ["Scaling on lanta:gpu"]
    page, _ = render.write(data, tmp_path)
    assert "Scaling on lanta:gpu" in page.read_text() and render.overall(data) == "PASS"
    data.criteria[1].result = "fail"
    assert render.overall(data) == "FAIL"
