"""Gather what a report shows: ReFrame's JSON run reports and the MLPerf logs they point at."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from mlperf_maskrcnn import contract
from mlperf_maskrcnn.resources import resources_dir

from .. import containers
from ..mlperf import analysis, parse, score
from ..mlperf.analysis import RunSummary


@dataclass
class Criterion:
    """One test case of a ReFrame run: a criterion of the acceptance, with its verdict."""

    check: str
    name: str
    where: str  # system:partition
    result: str  # pass / fail / skip
    reason: str
    perf: dict[str, list] = field(default_factory=dict)  # var -> [value, ref, lower, upper, unit, result]
    reference_source: str = ""
    num_nodes: int | None = None
    mode: str = ""
    implementation: str = ""
    recipe: str = ""
    jobid: str = ""
    nodelist: list[str] = field(default_factory=list)
    image: str = ""
    image_digest: str = ""  # recorded when the check was set up
    binding: str = ""  # srun's per-rank CPU masks, or why there are none
    log_path: str = ""
    run: RunSummary | None = None
    environment: str = ""


@dataclass
class ReportData:
    title: str
    criteria: list[Criterion] = field(default_factory=list)
    log_sets: dict[str, list[RunSummary]] = field(default_factory=dict)  # folder -> runs
    sources: list[str] = field(default_factory=list)  # the files the report was made from
    session: dict = field(default_factory=dict)
    suite_commit: str = ""
    images: dict[str, str] = field(default_factory=dict)  # image path -> sha256 or why not

    def scores(self) -> dict[str, score.Score]:
        return {folder: score.olympic(runs) for folder, runs in self.log_sets.items()}


def _result(case: dict) -> tuple[str, str]:
    result = case.get("result") or "unknown"
    if result == "skip":
        return "skip", case.get("skip_reason") or case.get("fail_reason") or "skipped"
    if result == "fail":
        return "fail", f"{case.get('fail_phase')}: {case.get('fail_reason')}"
    return result, ""


def criteria_from_run_report(path: Path) -> tuple[list[Criterion], dict]:
    try:
        report = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ValueError(f"{path}: not a readable ReFrame JSON run report ({err})") from err
    found = []
    for run in report.get("runs", []):
        for case in run.get("testcases", []):
            if case.get("fixture"):
                continue
            result, reason = _result(case)
            check = case["name"].split()[0]
            crit = Criterion(
                check=check,
                name=case.get("display_name") or case["name"],
                where=f"{case.get('system')}:{case.get('partition')}",
                result=result,
                reason=reason,
                perf=case.get("perfvalues") or {},
                reference_source=case.get("reference_source", ""),
                num_nodes=case.get("num_nodes"),
                mode=case.get("mode", ""),
                implementation=case.get("implementation", ""),
                recipe=case.get("recipe", ""),
                jobid=str(case.get("jobid") or ""),
                nodelist=list(case.get("job_nodelist") or []),
                image=case.get("image", "") or "",
                image_digest=case.get("image_digest", "") or "",
                binding=case.get("binding", "") or "",
            )
            if check.startswith("MaskRCNN") and result != "skip":
                _attach_log(crit, case)
            found.append(crit)
    return found, report.get("session_info", {})


def _attach_log(crit: Criterion, case: dict) -> None:
    name = case.get("mlperf_log") or ""  # the check's variable: the log's name in its output folder
    for folder in (case.get("outputdir"), case.get("stagedir")):
        if name and folder and (Path(folder) / name).is_file():
            crit.log_path = str(Path(folder) / name)
            crit.run = analysis.summarize(crit.log_path)
            facts = contract.read_environment(Path(crit.log_path).read_text(errors="replace"))
            crit.environment = " ".join(f"{k}={v}" for k, v in facts.items())
            return


def suite_commit() -> str:
    root = resources_dir().parent
    done = subprocess.run(["git", "-C", str(root), "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True)
    if done.returncode != 0:
        return "unknown (not a git checkout)"
    dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip()  # fmt: skip
    return done.stdout.strip() + (" (with local changes)" if dirty else "")


def collect(run_reports: list[Path], log_paths: list[Path], title: str) -> ReportData:
    data = ReportData(title=title, suite_commit=suite_commit())
    for path in run_reports:
        criteria, session = criteria_from_run_report(path)
        data.criteria.extend(criteria)
        data.session = data.session or session
        data.sources.append(str(path))
    for log in parse.collect_logs(log_paths) if log_paths else []:
        data.log_sets.setdefault(str(log.parent), []).append(analysis.summarize(log))
        data.sources.append(str(log))
    for crit in data.criteria:
        if crit.image and crit.image not in data.images:
            # The digest the run recorded; else the image as it is now, if this host sees it.
            data.images[crit.image] = (
                crit.image_digest or containers.digest(crit.image) or "not found on the report host"
            )
    return data
