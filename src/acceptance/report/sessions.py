"""Read the figures of merit of past ReFrame sessions: one ``Measurement`` per performance variable
of every test case that ran.

Format relied on (ReFrame 4.10.4, checked by running it): the results database is SQLite with
``metadata.schema_version`` ``1.0`` and a ``sessions`` table whose ``json_blob`` column holds each
session's whole run report, the same JSON that ``--report-file`` writes (``session_info.data_version``
``4.2``; any 4.x is read when the fields below are present). Of a report this reads
``session_info.uuid`` / ``time_start_unix`` and, per ``runs[].testcases[]``: ``name`` (with its
parameters, e.g. ``MaskRCNNSmoke %num_nodes=1``), ``system``, ``partition``, ``environ``,
``job_completion_time_unix`` and ``perfvalues`` ``{'sys:part:var': [value, ref, lower, upper, unit,
result]}``; the parameters ``num_nodes``, ``implementation`` and ``mode`` and the variable
``reference_check`` when a case has them. A later run of the same case in a session (a retry)
replaces the earlier. Anything else is refused with a message naming the file and the field.

Perflogs are not read: their format is this suite's own (config/) and not a stable record.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

SCHEMA_VERSION = "1.0"  # ReFrame's _SqliteStorage.SCHEMA_VERSION in 4.7 ... 4.10
REPORT_MAJOR = "4"  # run report data_version 4.x (4.10.4 writes 4.2)
_PERF_FIELDS = 6  # value, ref, lower, upper, unit, result
# Test parameters and variables that select a reference entry (see suite/references.py find()).
_REFERENCE_KEYS = ("num_nodes", "implementation", "mode", "reference_check")


@dataclass(frozen=True)
class Measurement:
    """One figure of merit of one test case in one session, with the reference it was judged by."""

    session: str  # session UUID
    time: float  # unix time: the job's completion, else the session's start
    where: str  # system:partition
    environ: str
    test: str  # the test's name with its parameters
    variable: str
    value: float
    unit: str
    ref: float | None = None  # as ReFrame applied it in that session
    lower: float | None = None
    upper: float | None = None
    result: str = ""  # pass / fail of this figure against that reference
    keys: dict = field(default_factory=dict, compare=False)  # _REFERENCE_KEYS the case has

    @property
    def check(self) -> str:
        """The test's class name (its name without parameters)."""
        return self.test.split()[0]


@dataclass
class Sessions:
    """What was read: the measurements, the sessions they came from, and from where."""

    source: str  # the database file or the report files, in words
    sessions: list[str] = field(default_factory=list)
    measurements: list[Measurement] = field(default_factory=list)


def _number(value, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{where}: expected a number, found {value!r}")
    return float(value)


def _perf(case: dict, key: str, spec, origin: str, session: str, when: float) -> Measurement | None:
    where = f"{case['system']}:{case['partition']}"
    place = f"{origin}: test case {case['name']!r}: perfvalues[{key!r}]"
    if not isinstance(spec, list) or len(spec) != _PERF_FIELDS:
        raise ValueError(f"{place}: expected [value, ref, lower, upper, unit, result] (ReFrame 4.10 format)")
    value, ref, lower, upper, unit, result = spec
    if value is None:  # a figure that was never measured (the case failed before performance)
        return None
    return Measurement(
        session=session,
        time=when,
        where=where,
        environ=str(case.get("environ") or ""),
        test=str(case["name"]),
        variable=key[len(where) + 1 :] if key.startswith(where + ":") else key.rsplit(":", 1)[-1],
        value=_number(value, place + "[0]"),
        unit=str(unit or ""),
        ref=_number(ref, place + "[1]"),
        lower=_number(lower, place + "[2]"),
        upper=_number(upper, place + "[3]"),
        result=str(result or ""),
        keys={k: case[k] for k in _REFERENCE_KEYS if case.get(k) not in (None, "")},
    )


def measurements_of(report: dict, origin: str) -> tuple[str, list[Measurement]]:
    """The session UUID and the measurements of one run report (a decoded ``json_blob``)."""
    if not isinstance(report, dict) or not isinstance(report.get("session_info"), dict):
        raise ValueError(f"{origin}: no 'session_info': not a ReFrame run report")
    info = report["session_info"]
    version = str(info.get("data_version", ""))
    if version.split(".")[0] != REPORT_MAJOR:
        raise ValueError(
            f"{origin}: run report data_version {version or '(none)'}; this reader knows ReFrame 4.x "
            f"reports ({REPORT_MAJOR}.x, ReFrame 4.10.4 writes 4.2)"
        )
    uuid = str(info.get("uuid") or origin)
    started = _number(info.get("time_start_unix"), f"{origin}: session_info.time_start_unix") or 0.0
    if not isinstance(report.get("runs"), list):
        raise ValueError(f"{origin}: 'runs' is not a list")
    cases: dict[tuple, dict] = {}
    for n, run in enumerate(report["runs"]):
        for case in run.get("testcases", []) if isinstance(run, dict) else []:
            for key in ("name", "system", "partition"):
                if key not in case:
                    raise ValueError(f"{origin}: runs[{n}].testcases[]: a test case lacks '{key}'")
            # Retries come as later runs: the last attempt of a case is its result.
            cases[(case["name"], case["system"], case["partition"], case.get("environ"))] = case
    found = []
    for case in cases.values():
        perfvalues = case.get("perfvalues") or {}
        if not isinstance(perfvalues, dict):
            raise ValueError(f"{origin}: test case {case['name']!r}: 'perfvalues' is not a mapping")
        when = _number(case.get("job_completion_time_unix"), f"{origin}: job_completion_time_unix") or started
        for key, spec in perfvalues.items():
            measured = _perf(case, key, spec, origin, str(case.get("session_uuid") or uuid), when)
            if measured is not None:
                found.append(measured)
    return uuid, found


def read_database(path: Path) -> Sessions:
    """Every session stored in ReFrame's results database ``path`` (opened read-only)."""
    if not path.is_file():
        raise ValueError(
            f"{path}: no ReFrame results database (is storage on? see README, 'Scheduled acceptance runs')"
        )
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as err:
        raise ValueError(f"{path}: cannot open the results database ({err})") from err
    try:
        try:
            versions = [row[0] for row in conn.execute("SELECT schema_version FROM metadata")]
            rows = conn.execute(
                "SELECT uuid, json_blob FROM sessions ORDER BY session_start_unix"
            ).fetchall()  # fmt: skip
        except sqlite3.Error as err:
            raise ValueError(f"{path}: not a ReFrame results database ({err})") from err
    finally:
        conn.close()
    if versions != [SCHEMA_VERSION]:
        raise ValueError(
            f"{path}: results database schema version {', '.join(map(str, versions)) or '(none)'}; "
            f"this reader knows {SCHEMA_VERSION} (ReFrame 4.7 to 4.10)"
        )
    read = Sessions(source=f"ReFrame results database {path}")
    for uuid, blob in rows:
        origin = f"{path} session {uuid}"
        try:
            report = json.loads(blob)
        except (TypeError, json.JSONDecodeError) as err:
            raise ValueError(f"{origin}: json_blob is not JSON ({err})") from err
        session, found = measurements_of(report, origin)
        read.sessions.append(session)
        read.measurements.extend(found)
    return read


def read_reports(paths: list[Path]) -> Sessions:
    """The sessions of ReFrame JSON run reports (files, or folders of ``*.json``)."""
    files = [f for p in paths for f in (sorted(p.glob("*.json")) if p.is_dir() else [p])]
    read = Sessions(source="ReFrame run reports " + ", ".join(str(p) for p in paths))
    for path in files:
        try:
            report = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise ValueError(f"{path}: not a readable ReFrame JSON run report ({err})") from err
        session, found = measurements_of(report, str(path))
        read.sessions.append(session)
        read.measurements.extend(found)
    return read
