"""Trends across sessions: one series per system:partition, test (name with parameters) and
performance variable, and a verdict on its latest value against the median of the runs before it.

Rules (README, 'Scheduled acceptance runs'):

- Baseline: the median of the last ``last`` values (default 5) before the series' latest one. A
  series with no earlier value has no verdict ('no history').
- Which way is worse: from the reference's bounds where exactly one side is bounded (an upper
  bound only: lower is better, as for time-to-train; a lower bound only: higher is better, as for
  img/s and GB/s); else from the unit (time units s, min, h, ms: lower is better; rates, a unit
  ending in /s, /min or /h: higher is better); else a change either way counts.
- Margin: ``--margin`` if given, else the reference's tolerance on the worse side (0.10 for an
  upper bound of +10%), else 10%. The latest value is a regression when it is worse than the
  median by more than the margin (relative to the median).
- The reference is today's entry in ``resources/references`` (``references.find``), looked up by
  the case's ``reference_check`` variable (every check of the suite logs it); where there is none,
  the reference ReFrame applied in the series' latest session.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from ..suite import references
from .sessions import Measurement, Sessions

DEFAULT_LAST = 5
DEFAULT_MARGIN = 0.10
TIME_UNITS = {"s", "sec", "min", "h", "ms", "us"}
RATE_SUFFIXES = ("/s", "/min", "/h")
_EPSILON = 1e-12  # a change equal to the margin is within it, despite float rounding


@dataclass(frozen=True)
class Band:
    """A reference value and its bounds (fractions of the value, None: open), with its origin."""

    value: float
    lower: float | None
    upper: float | None
    source: str
    origin: str  # 'resources/references' or 'session <uuid>'

    def limits(self) -> tuple[float, float]:
        """The band drawn: from the bound(s) to the reference value."""
        low = self.value * (1 + self.lower) if self.lower is not None else self.value
        high = self.value * (1 + self.upper) if self.upper is not None else self.value
        return min(low, high, self.value), max(low, high, self.value)


@dataclass
class Series:
    where: str
    test: str
    variable: str
    unit: str
    points: list[Measurement]
    reference: Band | None = None
    better: str = "either"  # higher / lower / either
    better_from: str = ""
    margin: float = DEFAULT_MARGIN
    margin_from: str = ""
    baseline: list[Measurement] = field(default_factory=list)
    median: float | None = None
    change: float | None = None  # (latest - median) / |median|
    verdict: str = "no history"  # regression / ok / improved / no history

    @property
    def latest(self) -> Measurement:
        return self.points[-1]

    def sentence(self) -> str:
        """The finding in words, e.g. 'throughput on tara:dgx is 8.0% below its median ...'."""
        head = f"{self.variable} of {self.test} on {self.where}: {self.latest.value:.4g} {self.unit}"
        if self.median is None:
            return f"{head}; no earlier run to compare with"
        if not self.change:  # zero, or None: a median of 0 gives no relative change
            shift = "at its median" if self.latest.value == self.median else "off its median"
        else:
            shift = f"{abs(self.change):.1%} {'below' if self.change < 0 else 'above'} its median"
        return (
            f"{head}, {shift} of the last {len(self.baseline)} run(s) ({self.median:.4g}); "
            f"{self.better} is better, margin {self.margin:.1%}: {self.verdict.upper()}"
        )

    def to_dict(self) -> dict:
        ref = self.reference
        return {
            "where": self.where,
            "test": self.test,
            "variable": self.variable,
            "unit": self.unit,
            "reference": None if ref is None else ref.__dict__,
            "better": self.better,
            "better_from": self.better_from,
            "margin": self.margin,
            "margin_from": self.margin_from,
            "points": [
                {"session": p.session, "time": iso_time(p.time), "value": p.value, "result": p.result}
                for p in self.points
            ],
            "latest": {"session": self.latest.session, "time": iso_time(self.latest.time), "value": self.latest.value},
            "baseline": {
                "runs": len(self.baseline),
                "median": self.median,
                "sessions": [p.session for p in self.baseline],
            },
            "change": self.change,
            "verdict": self.verdict,
            "finding": self.sentence(),
        }


@dataclass
class History:
    source: str
    sessions: list[str]
    last: int
    margin: float | None
    series: list[Series]

    def regressions(self) -> list[Series]:
        return [s for s in self.series if s.verdict == "regression"]

    def to_dict(self) -> dict:
        return {
            "source": self.source,
            "sessions": self.sessions,
            "last": self.last,
            "margin": self.margin,
            "regressions": len(self.regressions()),
            "series": [s.to_dict() for s in self.series],
        }


def iso_time(unix: float) -> str:
    return datetime.fromtimestamp(unix).astimezone().isoformat(timespec="seconds")


def parse_since(text: str) -> float:
    """``YYYY-MM-DD`` or ``YYYY-MM-DDTHH:MM`` (local time) as unix time."""
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError as err:
        raise ValueError(f"--since {text!r}: expected a date YYYY-MM-DD or YYYY-MM-DDTHH:MM") from err


def select(
    measurements: list[Measurement], system: str | None = None, since: float | None = None
) -> dict[tuple[str, str, str], list[Measurement]]:
    """Measurements grouped by (system:partition, test, variable), each in time order; ``system``
    is ``sys:part`` or ``sys`` (all its partitions)."""
    groups: dict[tuple[str, str, str], list[Measurement]] = {}
    for m in sorted(measurements, key=lambda m: m.time):
        if system and m.where != system and m.where.split(":")[0] != system:
            continue
        if since is not None and m.time < since:
            continue
        groups.setdefault((m.where, m.test, m.variable), []).append(m)
    return groups


def direction(band: Band | None, unit: str) -> tuple[str, str]:
    """Which way is better ('higher', 'lower', 'either') and why."""
    if band is not None and (band.lower is None) != (band.upper is None):
        return (
            ("lower", "reference: upper bound only")
            if band.lower is None
            else ("higher", "reference: lower bound only")
        )
    if unit in TIME_UNITS:
        return "lower", f"unit {unit} (a time)"
    if unit.endswith(RATE_SUFFIXES):
        return "higher", f"unit {unit} (a rate)"
    return "either", f"unit {unit or '(none)'} says neither: a change either way counts"


def tolerance(band: Band | None, better: str) -> float | None:
    """The reference's tolerance on the worse side, as a positive fraction."""
    if band is None:
        return None
    sides = {"higher": [band.lower], "lower": [band.upper], "either": [band.lower, band.upper]}[better]
    present = [abs(s) for s in sides if s is not None]
    return min(present) if present else None


def judge(before: list[float], latest: float, better: str, margin: float) -> tuple[float | None, float | None, str]:
    """(median of ``before``, relative change of ``latest`` from it, verdict)."""
    if not before:
        return None, None, "no history"
    median = statistics.median(before)
    if median == 0:
        change = None
        worse = {"higher": -latest, "lower": latest, "either": abs(latest)}[better]
        sign = 1.0 if worse > 0 else -1.0 if worse < 0 else 0.0
        worse = sign * float("inf")
    else:
        change = (latest - median) / abs(median)
        worse = {"higher": -change, "lower": change, "either": abs(change)}[better]
    if worse > margin + _EPSILON:
        return median, change, "regression"
    if better != "either" and -worse > margin + _EPSILON:
        return median, change, "improved"
    return median, change, "ok"


def reference_key(latest: Measurement) -> str | None:
    """The series' key in resources/references: the case's ``reference_check`` (every check of
    the suite logs it); None for a case that does not say."""
    key = latest.keys.get("reference_check")
    return str(key) if key else None


Finder = Callable[..., "references.Reference | None"]


def reference_for(latest: Measurement, finder: Finder = references.find) -> Band | None:
    """Today's reference of this figure (resources/references), else the one ReFrame applied."""
    key = reference_key(latest)
    if key is not None:
        keys = latest.keys
        nodes = keys.get("num_nodes")
        found = finder(
            key, latest.where, int(nodes) if nodes is not None else None, keys.get("implementation"), keys.get("mode")
        )
        if found is not None and latest.variable in found.perf:
            value, lower, upper, _unit = found.perf[latest.variable]
            return Band(float(value), lower, upper, found.source, "resources/references")
    if latest.ref is not None:
        source = f"as ReFrame applied it in session {latest.session}"
        return Band(latest.ref, latest.lower, latest.upper, source, f"session {latest.session}")
    return None


def build(points: list[Measurement], last: int, margin: float | None, finder: Finder = references.find) -> Series:
    """The series of ``points`` (one where/test/variable, time order), judged."""
    latest = points[-1]
    band = reference_for(latest, finder)
    better, better_from = direction(band, latest.unit)
    tol = tolerance(band, better)
    if margin is not None:
        used, used_from = margin, "--margin"
    elif tol is not None:
        used, used_from = tol, "reference tolerance"
    else:
        used, used_from = DEFAULT_MARGIN, "default: the reference has no tolerance"
    baseline = points[:-1][-last:]
    median, change, verdict = judge([p.value for p in baseline], latest.value, better, used)
    return Series(
        latest.where, latest.test, latest.variable, latest.unit, points, band, better, better_from,
        used, used_from, baseline, median, change, verdict,
    )  # fmt: skip


def analyse(
    read: Sessions,
    system: str | None = None,
    since: float | None = None,
    last: int = DEFAULT_LAST,
    margin: float | None = None,
    finder: Finder = references.find,
) -> History:
    """Every series of ``read`` (after the filters), judged."""
    if last < 1:
        raise ValueError(f"--last {last}: needs at least one earlier run")
    if margin is not None and margin < 0:
        raise ValueError(f"--margin {margin}: a fraction >= 0 (0.05 is 5%)")
    groups = select(read.measurements, system, since)
    if not groups:
        wanted = " and ".join(x for x in (f"system {system}" if system else "", "since the date" if since else "") if x)
        raise ValueError(
            f"{read.source}: no performance figures{' for ' + wanted if wanted else ''} "
            f"in {len(read.sessions)} stored session(s)"
        )
    series = [build(points, last, margin, finder) for _key, points in sorted(groups.items())]
    used = sorted({(p.time, p.session) for s in series for p in s.points})
    return History(read.source, list(dict.fromkeys(uuid for _t, uuid in used)), last, margin, series)
