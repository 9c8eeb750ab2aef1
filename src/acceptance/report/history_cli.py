"""``acceptance history``: the command line of the performance history (its options, its exit
status: 0 no regression, 1 a regression, 2 a usage or data error)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

EXIT_OK, EXIT_REGRESSION, EXIT_ERROR = 0, 1, 2


def default_database() -> Path:
    """Where config/tara.py makes ReFrame store sessions: RFM_SQLITE_DB_FILE, else
    $ACCEPTANCE_REPORT_DIR/results.db, else reports/results.db."""
    if os.environ.get("RFM_SQLITE_DB_FILE"):
        return Path(os.environ["RFM_SQLITE_DB_FILE"])
    return Path(os.environ.get("ACCEPTANCE_REPORT_DIR", "reports")) / "results.db"


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``history`` subcommand to ``acceptance``."""
    p = sub.add_parser(
        "history",
        help="trends and regressions across stored ReFrame sessions (exit 0: none, 1: a regression, 2: error)",
    )
    p.add_argument("--db", type=Path, help="ReFrame results database (default: RFM_SQLITE_DB_FILE, else "
                   "$ACCEPTANCE_REPORT_DIR/results.db, else reports/results.db)")  # fmt: skip
    p.add_argument("--reports", nargs="+", type=Path, help="read ReFrame JSON run reports (files or folders) instead")
    p.add_argument("--system", help="SYS:PART, or SYS for all its partitions (default: all)")
    p.add_argument("--since", help="only sessions from this date on (YYYY-MM-DD[THH:MM], local time)")
    p.add_argument("--last", type=int, default=5, help="median of this many runs before the latest (default 5)")
    p.add_argument("--margin", type=float, help="regression margin as a fraction, e.g. 0.05 (default: the "
                   "reference's tolerance on the worse side, else 0.10)")  # fmt: skip
    p.add_argument("--out", required=True, type=Path, help="folder for index.html, summary.md, history.json, plots")
    p.add_argument("--json", action="store_true", help="print the history as JSON")


def run(args: argparse.Namespace) -> int:
    """Read, judge, write; print the findings; return the exit status."""
    from . import history, history_page, sessions

    try:
        read = sessions.read_reports(args.reports) if args.reports else sessions.read_database(
            args.db or default_database()
        )  # fmt: skip
        since = history.parse_since(args.since) if args.since else None
        found = history.analyse(read, args.system, since, args.last, args.margin)
        index = history_page.write(found, args.out)
    except (ValueError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_ERROR
    bad = found.regressions()
    if args.json:  # stdout is the JSON alone
        print(json.dumps(found.to_dict(), indent=2))
        return EXIT_REGRESSION if bad else EXIT_OK
    for series in found.series:
        print(series.sentence())
    print(f"history: {index}")
    print(f"verdict: {f'{len(bad)} regression(s)' if bad else 'no regression'}")
    return EXIT_REGRESSION if bad else EXIT_OK
