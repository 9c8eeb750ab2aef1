"""How the report writes numbers, bounds, performance verdicts and times."""

from __future__ import annotations

import datetime as dt
import math


def number(value: object) -> str:
    """Integers as integers, other numbers to 4 significant digits (whole numbers above 1000),
    '-' for none."""
    if value is None:
        return "-"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, int) or (math.isfinite(value) and value.is_integer()):
        return str(int(value))
    if not math.isfinite(value):
        return str(value)
    return f"{value:.0f}" if abs(value) >= 1000 else f"{value:.4g}"


def quantity(value: object, unit: str | None) -> str:
    text = number(value)
    return f"{text} {unit}" if unit and text != "-" else text


def minutes(value: float | None) -> str:
    """An MLPerf time in minutes to 2 decimals, as MLPerf publishes them (153.78)."""
    return "-" if value is None else f"{value:.2f}"


def ap(value: float | None) -> str:
    """A COCO AP to 4 decimals: 0.3765 must not read as the 0.377 target."""
    return "-" if value is None else f"{value:.4f}"


def reported_only(lower, upper) -> bool:
    return lower is None and upper is None


def bound(ref, lower, upper, unit: str | None) -> str:
    """The pass range ReFrame applied, in the variable's unit: ref x (1 + lower) .. ref x (1 + upper)."""
    if ref is None:
        return "-"
    if reported_only(lower, upper):
        return "none (reported only)"
    low = ref * (1 + lower) if lower is not None else None
    high = ref * (1 + upper) if upper is not None else None
    if low is not None and high is not None:
        if low == high:
            return f"= {quantity(low, unit)}"
        return f"{number(low)} .. {quantity(high, unit)}"
    return f">= {quantity(low, unit)}" if low is not None else f"<= {quantity(high, unit)}"


def reference(ref, lower, upper, unit: str | None) -> str:
    if ref is None:
        return "-"
    text = quantity(ref, unit)
    return f"{text} (for comparison only)" if reported_only(lower, upper) else text


def perf_verdict(result, lower, upper, dry_run: bool) -> str:
    """pass / fail as ReFrame judged; no verdict for a value without bounds or a dry run."""
    if dry_run:
        return "not measured (dry run)"
    if reported_only(lower, upper):
        return "reported only"
    return str(result) if result else "-"


def when(unix: float | None, fallback: str = "") -> str:
    """A Unix time as the report host's local date-time with its zone, e.g. 2026-11-29 16:34:12 UTC."""
    if unix is None:
        return fallback or "-"
    local = dt.datetime.fromtimestamp(float(unix)).astimezone()
    return f"{local:%Y-%m-%d %H:%M:%S} {local.tzname()}"


def ratio(a: float | None, b: float | None) -> str:
    return "-" if a is None or not b else f"{a / b:.3f}x"


def delta(a: float | None, b: float | None, unit: str) -> str:
    """a - b in ``unit`` and in percent of b."""
    if a is None or b is None:
        return "-"
    percent = f" ({(a - b) / b * 100:+.1f}%)" if b else ""
    sign = "+" if a - b > 0 else ""
    return f"{sign}{number(a - b)} {unit}{percent}"
