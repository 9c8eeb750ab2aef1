"""Gather what a report shows: ReFrame's JSON run reports, the MLPerf logs and job outputs they
point at, MLPerf log sets given by hand, and system descriptions."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from mlperf_maskrcnn import contract
from mlperf_maskrcnn.resources import resources_dir

from .. import containers
from ..cli import score_logs  # `acceptance score`'s own figures (and compliance) for the log sets
from ..mlperf import analysis, parse
from ..mlperf.analysis import RunSummary
from . import case_verdicts, descriptions
from .case_verdicts import is_dry_run, session_mode
from .descriptions import Description
from .modes import DEFAULT


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
    descr: str = ""
    hashcode: str = ""
    banner: str = ""  # why this run is no MLPerf result ('' when it may be one)
    throughput_iters: int | None = None
    completed: float | None = None  # the job's completion, Unix time
    files: list[tuple[str, str]] = field(default_factory=list)  # (what, path): the job's files the report cites

    @property
    def params(self) -> dict:
        return {"num_nodes": self.num_nodes, "mode": self.mode, "implementation": self.implementation}


@dataclass
class ReportData:
    title: str
    criteria: list[Criterion] = field(default_factory=list)
    # `acceptance score`'s data for the logs given with --logs: runs (with compliance) and sets
    logs: dict = field(default_factory=lambda: {"runs": [], "sets": []})
    sources: list[str] = field(default_factory=list)  # the run reports the report was made from
    session: dict = field(default_factory=dict)
    suite_commit: str = ""
    images: dict[str, str] = field(default_factory=dict)  # image path -> sha256 or why not
    mode: str = DEFAULT  # the suite's mode, from ReFrame's command line
    dry_run: bool = False
    system: Description | None = None  # --system-json
    set_systems: dict[str, Description] = field(default_factory=dict)  # folder -> the description beside it

    @property
    def log_sets(self) -> dict[str, list[dict]]:
        found: dict[str, list[dict]] = {}
        for run in self.logs["runs"]:
            found.setdefault(str(Path(run["path"]).parent), []).append(run)
        return found


def nodelist(value: object) -> list[str]:
    """The job's nodes as a list, whether the report holds a list or a comma-separated string."""
    if isinstance(value, str):
        return [n.strip() for n in value.split(",") if n.strip()]
    return [str(n) for n in value or []]


def read_run_report(path: Path) -> dict:
    try:
        report = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{path}: not a readable ReFrame JSON run report ({err})") from err
    if not isinstance(report, dict) or "session_info" not in report or "runs" not in report:
        raise ValueError(f"{path}: not a ReFrame JSON run report (no 'session_info' and 'runs')")
    return report


def criteria_from_run_report(path: Path) -> tuple[list[Criterion], dict]:
    report = read_run_report(path)
    found = []
    for run in report.get("runs", []):
        found += [_criterion(case, result, reason) for case, result, reason in case_verdicts.judged_cases(run)]
    return found, report.get("session_info", {})


def _criterion(case: dict, result: str, reason: str) -> Criterion:
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
        recipe=case.get("recipe", "") or "",
        jobid=str(case.get("jobid") or ""),
        nodelist=nodelist(case.get("job_nodelist")),
        image=case.get("image", "") or "",
        image_digest=case.get("image_digest", "") or "",
        binding=case.get("binding", "") or "",
        descr=case.get("descr", "") or "",
        hashcode=str(case.get("hashcode") or ""),
        banner=case.get("banner", "") or "",
        throughput_iters=case.get("throughput_iters"),
        completed=case.get("job_completion_time_unix"),
    )
    if result != "skip":
        _attach_files(crit, case)
    if check.startswith("MaskRCNN") and result != "skip":
        _attach_log(crit, case)
    return crit


def _folders(case: dict) -> list[Path]:
    # A passed case's files are in its output folder; a failed one's stay in its stage folder.
    return [Path(f) for f in (case.get("outputdir"), case.get("stagedir")) if f]


def _attach_files(crit: Criterion, case: dict) -> None:
    stdout = case.get("job_stdout") or ""
    names = [("job script", str(Path(stdout).with_suffix(".sh")) if stdout else ""),
             ("job stdout", stdout), ("job stderr", case.get("job_stderr") or "")]  # fmt: skip
    for what, name in names:
        found = next((f / name for f in _folders(case) if name and (f / name).is_file()), None)
        if found is not None:
            crit.files.append((what, str(found)))


def _attach_log(crit: Criterion, case: dict) -> None:
    name = case.get("mlperf_log") or ""  # the check's variable: the log's name in its output folder
    for folder in _folders(case):
        if name and (folder / name).is_file():
            crit.log_path = str(folder / name)
            crit.run = analysis.summarize(crit.log_path)
            facts = contract.read_environment(Path(crit.log_path).read_text(errors="replace"))
            crit.environment = " ".join(f"{k}={v}" for k, v in facts.items())
            crit.files.insert(0, ("MLPerf log", crit.log_path))
            return


def not_mlperf(crit: Criterion) -> str:
    """Why this Mask R-CNN run is no MLPerf result ('' when nothing says so; ``case_verdicts.not_mlperf``)."""
    division = (crit.run.hyperparameters.get("submission_division") if crit.run else None) or ""
    return case_verdicts.not_mlperf(crit.banner, str(division), crit.recipe)


def suite_commit() -> str:
    root = resources_dir().parent
    done = subprocess.run(["git", "-C", str(root), "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True)
    if done.returncode != 0:
        return "unknown (not a git checkout)"
    dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip()  # fmt: skip
    return done.stdout.strip() + (" (with local changes)" if dirty else "")


def mlperf_logs(paths: list[Path]) -> list[Path]:
    """The logs given with --logs (folders expanded); a file with no MLPerf record is refused, named."""
    logs = parse.collect_logs(paths)
    for log in logs:
        if not _has_mlperf_record(log):
            raise ValueError(
                f"{log}: not an MLPerf log (no '{parse.MARKER}' line); a ReFrame run report goes before --logs"
            )
    return logs


def _has_mlperf_record(path: Path) -> bool:
    try:
        with parse.open_text(path) as handle:
            return any(parse.MARKER in line for line in handle)
    except (EOFError, OSError, ValueError):
        return True  # damaged compressed data: the log judge names the damage


def collect(run_reports: list[Path], log_paths: list[Path], title: str, system_json: Path | None = None) -> ReportData:
    data = ReportData(title=title, suite_commit=suite_commit())
    modes = set()
    for path in run_reports:
        criteria, session = criteria_from_run_report(path)
        data.criteria.extend(criteria)
        data.session = data.session or session
        data.sources.append(str(path))
        modes.add(session_mode(str(session.get("cmdline", ""))))
        data.dry_run = data.dry_run or is_dry_run(str(session.get("cmdline", "")))
    if len(modes) > 1:
        raise ValueError(f"the run reports ran in different modes ({', '.join(sorted(modes))}): report them apart")
    data.mode = modes.pop() if modes else DEFAULT
    if log_paths:
        data.logs = score_logs(mlperf_logs(log_paths))
    for folder in data.log_sets:
        beside = descriptions.beside(Path(folder))
        if beside is not None:
            data.set_systems[folder] = descriptions.read(beside)
    data.system = descriptions.read(system_json) if system_json else None
    for crit in data.criteria:
        if crit.image and crit.image not in data.images:
            # The digest the run recorded; else the image as it is now, if this host sees it.
            data.images[crit.image] = (
                crit.image_digest or containers.digest(crit.image) or "not found on the report host"
            )
    return data
