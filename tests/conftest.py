"""Shared fixtures: the repository paths, and one real ReFrame smoke run that several tests read.

The smoke run is the expensive part of the suite (a 2-rank CPU training to target, minutes), so
it runs once per session and the tests that judge it share its report, logs and stage folders.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _shared() -> Path:
    """The project's shared data (NVIDIA's published logs): ``ACCEPTANCE_SHARED``, else ``shared/``
    beside this checkout, else beside the checkout it was cloned from (a fresh clone in a
    temporary folder, as CI makes one)."""
    if os.environ.get("ACCEPTANCE_SHARED"):
        return Path(os.environ["ACCEPTANCE_SHARED"])
    candidates = [ROOT.parent / "shared"]
    origin = subprocess.run(
        ["git", "-C", str(ROOT), "config", "--get", "remote.origin.url"], capture_output=True, text=True
    ).stdout.strip()
    if origin and Path(origin).is_dir():
        candidates.append(Path(origin).resolve().parent / "shared")
    found = next((c for c in candidates if (c / "data").is_dir()), None)
    if found is None:
        raise pytest.UsageError(
            f"shared data not found in {', '.join(map(str, candidates))}: set ACCEPTANCE_SHARED=DIR"
        )
    return found


SHARED = _shared()
NVIDIA_LOGS = SHARED / "data" / "mlperf-v0.7-nvidia-maskrcnn"
BIN = Path(sys.executable).parent


def without_venv(path: str) -> str:
    """PATH without the suite's venv (bin/test puts it first for ruff and pytest)."""
    return os.pathsep.join(p for p in path.split(os.pathsep) if p and Path(p).resolve() != BIN.resolve())


def run_reframe(
    args: list[str],
    prefix: Path,
    env: dict | None = None,
    timeout: int = 1800,
    checks: Path | None = None,
    config: Path | None = None,
) -> tuple[subprocess.CompletedProcess, dict | None]:
    """Run the real ReFrame on this project's config and checks (or ``checks``); return the process
    and its JSON report."""
    report = prefix / "report.json"
    command = [
        str(BIN / "reframe"),
        "-C",
        str(config or ROOT / "config" / "tara.py"),
        "-c",
        str(checks or ROOT / "checks"),
        "--prefix",
        str(prefix),
        "--report-file",
        str(report),
        "--warn-as-error",
        *args,
    ]
    # The venv is not on PATH (as for a user who did not activate it): jobs name their interpreter.
    full_env = dict(os.environ, HOME=str(prefix / "home"), PATH=without_venv(os.environ.get("PATH", "")))
    full_env.update(env or {})
    (prefix / "home").mkdir(parents=True, exist_ok=True)
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=full_env, cwd=prefix)
    data = json.loads(report.read_text()) if report.is_file() else None
    return done, data


def resources_with(folder: Path, references: str) -> dict[str, str]:
    """A resources/ folder whose references are ``references`` (YAML text) and whose other
    subfolders are the project's: the environment that points every reader at it."""
    folder.mkdir(parents=True, exist_ok=True)
    for entry in (ROOT / "resources").iterdir():
        if entry.is_dir() and entry.name != "references":
            (folder / entry.name).symlink_to(entry)
        elif entry.is_file():  # copied, not linked: a test may write its own modes.yaml here
            shutil.copy(entry, folder / entry.name)
    (folder / "references").mkdir()
    (folder / "references" / "test.yaml").write_text(references)
    return {"ACCEPTANCE_RESOURCES": str(folder)}


def mllog(key: str, value=None, time_ms: float = 0.0, **metadata) -> str:
    """One MLPerf log line as mllog writes it."""
    record = {"namespace": "", "time_ms": time_ms, "event_type": "POINT_IN_TIME", "key": key, "value": value}
    return ":::MLLOG " + json.dumps({**record, "metadata": metadata})


def short_run(
    evals=((1, 0.2, 0.2), (2, 0.38, 0.34)),
    start_ms: float = 1_000_000.0,
    epoch_s: float = 60.0,
    eval_s: float = 5.0,
    status: str = "success",
    batch: int = 4,
    train_samples: int = 240,
    division: str = "open",
    **stop,
) -> list[str]:
    """A small MLPerf log of a whole run: init, one epoch of ``epoch_s`` and an evaluation of
    ``eval_s`` per (epoch, BBOX, SEGM) of ``evals``, run_stop ``status`` (and the metadata ``stop``)
    right after the last."""
    lines = [
        mllog("init_start", None, start_ms - 30_000),
        mllog("submission_division", division, start_ms - 29_000),
        mllog("global_batch_size", batch, start_ms - 28_000),
        mllog("train_samples", train_samples, start_ms - 27_000),
        mllog("init_stop", None, start_ms - 1_000),
        mllog("run_start", None, start_ms),
    ]
    now = start_ms
    for epoch, bbox, segm in evals:
        lines.append(mllog("epoch_start", None, now, epoch_num=epoch))
        now += epoch_s * 1000
        lines.append(mllog("epoch_stop", None, now, epoch_num=epoch))
        lines.append(mllog("eval_start", None, now, epoch_num=epoch))
        now += eval_s * 1000
        lines.append(mllog("eval_stop", None, now, epoch_num=epoch))
        lines.append(mllog("eval_accuracy", {"BBOX": bbox, "SEGM": segm}, now, epoch_num=epoch))
    lines.append(mllog("run_stop", None, now + 1_000, status=status, **stop))
    return lines


def write_log(folder: Path, lines: list[str], name: str = "result_0.txt") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("\n".join(lines) + "\n")
    return path


def cases_of(report: dict) -> list[dict]:
    return [case for run in report["runs"] for case in run["testcases"]]


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory):
    """``reframe -C config/tara.py -c checks/ -r`` on the local fallback: the README's main job."""
    prefix = tmp_path_factory.mktemp("smoke-run")
    (prefix / "home").mkdir()
    # The README's main command itself, with its outputs redirected into the test's folder, and
    # secret-looking variables in the environment (no report, log or perflog may carry them).
    env = dict(os.environ, HOME=str(prefix / "home"), ACCEPTANCE_REPORT_DIR=str(prefix / "reports"), **SECRETS)
    env["PATH"] = without_venv(env.get("PATH", ""))  # the venv not activated: nothing may need it
    done = subprocess.run(
        [str(ROOT / "bin" / "suite"), "--prefix", str(prefix)],
        capture_output=True, text=True, timeout=1800, env=env, cwd=prefix,
    )  # fmt: skip
    reports = sorted((prefix / "reports" / "runs").glob("run-report-*.json"))
    report = json.loads(reports[-1].read_text()) if reports else None
    if reports:
        shutil.copy(reports[-1], prefix / "report.json")
    return {"process": done, "report": report, "prefix": prefix}


SECRETS = {
    "ACCEPTANCE_API_TOKEN": "tok-5e3c-should-never-appear",
    "DB_PASSWORD": "pw-91aa-should-never-appear",
    "AWS_SECRET_ACCESS_KEY": "key-77f0-should-never-appear",
}


def pytest_collection_modifyitems(items):
    """Everything under tests/suite/ runs real ReFrame, Slurm or training: slow by folder, so a
    fast test can never be marked slow by the module it happens to sit in."""
    suite = ROOT / "tests" / "suite"
    for item in items:
        if suite in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.slow)
