"""Reports a committee reads: built from a real smoke run and from NVIDIA's logs, checked against
the analysis library's numbers and the run's own perflogs, and rendered in a real headless browser
(Debian's chromium) from a copy of the report folder taken elsewhere as a tar archive."""

from __future__ import annotations

import re
import shutil
import subprocess
import tarfile
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from acceptance import cli
from acceptance.mlperf import analysis, score
from conftest import NVIDIA_LOGS, ROOT, cases_of

DGX1 = NVIDIA_LOGS / "dgx1_ngc20.06_pytorch"
ARTIFACTS = ROOT / "reports" / "test-artifacts"
BANNER = "not an MLPerf result: SYNTHETIC data, open-division recipe smoke"


@pytest.fixture(scope="module")
def smoke_report(smoke_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    report_json = smoke_run["prefix"] / "report.json"
    assert cli.main(["report", str(report_json), "--logs", str(DGX1), "--out", str(out)]) == 0
    return out


def _case(smoke_run, name: str, **params) -> dict:
    return next(c for c in cases_of(smoke_run["report"]) if c["name"].startswith(name)
                and all(c.get(k) == v for k, v in params.items()))  # fmt: skip


def test_report_figures_match_the_analysis_library(smoke_run, smoke_report):
    md = (smoke_report / "summary.md").read_text()
    case = _case(smoke_run, "MaskRCNNSmoke", num_nodes=1, mode="time-to-train")
    run = analysis.summarize(Path(case["outputdir"]) / case["mlperf_log"])
    ttt = case["perfvalues"]["local:default:time_to_train"]
    assert abs(ttt[0] - run.time_to_train_min) < 1e-9
    assert f"| time_to_train | {ttt[0]:.4g} min | 5 min | <= 10 min | pass |" in md
    assert f"| epochs | {run.epochs_to_target} epochs | 5 epochs | <= 15 epochs | pass |" in md
    dgx1 = score.olympic([analysis.summarize(p) for p in sorted(DGX1.glob("result_*.txt.xz"))])
    assert f"{dgx1.value:.2f} min" in md and "153.78" in md
    assert "Overall verdict: **PASS** (5 passed, 0 failed, 6 skipped)" in md  # every criterion of mode default
    assert "local:default has 1 node(s); a 4-node run cannot be scheduled there" in md
    assert "measured on this project's CI machine kind" in md  # the reference's source
    html = (smoke_report / "index.html").read_text()
    assert html.count("data:image/png;base64,") >= 2  # the smoke curve and the DGX-1 curves
    assert "<script" not in html and "http://" not in html and "https://" not in html  # opens offline
    assert "suite commit" in html and "torch=" in html and "recipe smoke" in html


def test_a_smoke_run_says_it_is_no_mlperf_result_in_report_summary_and_perflog(smoke_run, smoke_report):
    case = _case(smoke_run, "MaskRCNNSmoke", num_nodes=1, mode="time-to-train")
    assert case["banner"] == BANNER
    md = (smoke_report / "summary.md").read_text()
    assert md.splitlines()[2].startswith("> **Not an MLPerf result**:")  # above the verdict
    assert f"> - {case['display_name']} on local:default: SYNTHETIC data, open-division recipe smoke" in md
    assert "<div class='box banner'><p><b>Not an MLPerf result:" in (smoke_report / "index.html").read_text()
    logs = list((smoke_run["prefix"] / "perflogs" / "local" / "default").glob("MaskRCNNSmoke*.log"))
    records = [line for p in logs for line in p.read_text().splitlines()[1:]]
    assert records and all(line.endswith(f"|{BANNER}") for line in records)


def test_throughput_runs_and_reported_only_values_read_as_what_they_are(smoke_run, smoke_report):
    md = (smoke_report / "summary.md").read_text()
    case = _case(smoke_run, "MaskRCNNSmoke", num_nodes=1, mode="throughput")
    row = next(line for line in md.splitlines() if line.startswith(f"| {case['display_name']} | no: "))
    assert f"| stopped after {case['throughput_iters']} iterations (by design) |" in row and "aborted" not in row
    projected = case["perfvalues"]["local:default:projected_time_to_train"]
    assert projected[2] is None and projected[3] is None  # the reference bounds neither side
    assert (f"| projected_time_to_train | {projected[0]:.4g} min | 2 min (for comparison only) | none (reported only) "
            "| reported only |") in md  # fmt: skip


def test_every_job_that_ran_is_listed_with_its_id_and_nodes(smoke_run, smoke_report):
    md = (smoke_report / "summary.md").read_text()
    ran = [c for c in cases_of(smoke_run["report"]) if c["result"] == "pass" and not c["fixture"]]
    assert {c["name"].split()[0] for c in ran} == {"AllreduceCheck", "LoaderRateSmoke", "SuiteCoverageCheck",
                                                   "MaskRCNNSmoke"}  # fmt: skip
    for case in ran:
        nodes = ", ".join(case["job_nodelist"])
        assert f"| {case['display_name']} | local:default | {case['jobid']} | {nodes} |" in md


def test_perflog_fields_one_per_bar_rounded_with_result_hashcode_and_nodes(smoke_run):
    case = _case(smoke_run, "MaskRCNNSmoke", num_nodes=1, mode="time-to-train")
    path = smoke_run["prefix"] / "perflogs" / "local" / "default" / f"{case['unique_name']}.log"
    if not path.is_file():  # ReFrame names the file after the test's variant name
        path = next(p for p in path.parent.glob("MaskRCNNSmoke*.log") if case["hashcode"] in p.read_text())
    record = next(line for line in path.read_text().splitlines() if f"|{case['hashcode']}|" in line)
    fields = record.split("|")
    assert fields[1:7] == ["local:default", "maskrcnn", case["name"], case["hashcode"], "pass",
                           ",".join(case["job_nodelist"])]  # fmt: skip
    assert fields[7:10] == ["nodes=1", "recipe=smoke", f"jobid={case['jobid']}"]
    perf = {f.split("=")[0]: f for f in fields[10:14]}
    for name, values in case["perfvalues"].items():
        var = name.split(":")[-1]
        value, ref, lower, upper, unit, result = values
        assert perf[var] == f"{var}={value:.4g} {unit} (ref {ref}, bounds {lower}..{upper}: {result})"
    assert fields[14].startswith("source=measured on this project's CI machine kind") and fields[15] == BANNER
    assert len(fields) == 16


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


def _flags(tmp_path: Path) -> list[str]:
    return ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0"]  # fmt: skip


def test_page_renders_in_headless_chromium_without_console_errors(smoke_report, tmp_path):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "report.png"
    flags = _flags(tmp_path)
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


def test_a_tarred_copy_of_the_report_folder_keeps_every_link(smoke_run, smoke_report, tmp_path):
    archive = tmp_path / "report.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(smoke_report, arcname="acceptance-report")
    # The stage and output folders the run wrote are gone where the committee opens it.
    with tarfile.open(archive) as tar:
        tar.extractall(tmp_path / "committee", filter="data")
    page = tmp_path / "committee" / "acceptance-report" / "index.html"
    dom = subprocess.run([_chromium(), *_flags(tmp_path), "--dump-dom", page.as_uri()], capture_output=True,
                         text=True, timeout=120)  # fmt: skip
    assert "Overall verdict:" in dom.stdout and "PASS" in dom.stdout
    links = [unquote(h) for h in re.findall(r'<a href="([^"]+)"', dom.stdout)]
    assert len(links) >= 20  # run report, MLPerf logs, job scripts and outputs, NVIDIA's logs, system description
    for link in links:
        target = Path(urlsplit(page.as_uri()).path).parent / urlsplit(link).path
        assert not urlsplit(link).scheme and target.resolve().is_file(), link
        assert target.resolve().is_relative_to(page.parent.resolve()), link
    passed = [c for c in cases_of(smoke_run["report"]) if c.get("mlperf_log") and c["result"] == "pass"]
    assert passed, "the smoke run passed no Mask R-CNN case: nothing to find in the report folder"
    for case in passed:
        name = f"MaskRCNNSmoke_{case['hashcode']}/{case['mlperf_log']}"
        copy = next(page.parent.glob(f"files/runs/*/{name}"))
        assert copy.read_bytes() == (Path(case["outputdir"]) / case["mlperf_log"]).read_bytes()


def test_scaling_plot_appears_when_several_node_counts_ran(tmp_path):
    from acceptance.report import collect, modes, render, sections, verdict

    data = collect.ReportData(title="scaling")
    for nodes, rate in ((1, 204.0), (2, 390.0), (4, 700.0)):
        data.criteria.append(
            collect.Criterion(
                check="MaskRCNNBenchmark", name=f"MaskRCNNBenchmark %num_nodes={nodes}", where="lanta:gpu",
                result="pass", reason="", num_nodes=nodes, mode="time-to-train",
                perf={"lanta:gpu:throughput": [rate, 733.0, -0.15, None, "img/s", "pass"]},
            )
        )  # fmt: skip
    titles = [f.title for f in sections.figures(data)]
    assert titles == ["Scaling on lanta:gpu"]
    page, _ = render.write(data, tmp_path)
    assert "Scaling on lanta:gpu" in page.read_text()
    # No all-reduce, loader or coverage check ran: not a PASS, however well the runs did.
    assert verdict.judge(data, modes.load()).outcome == verdict.INCOMPLETE
    data.criteria[1].result = "fail"
    assert verdict.judge(data, modes.load()).outcome == verdict.FAIL
