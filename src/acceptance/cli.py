"""``acceptance``: the harness's command line (never imports torch).

acceptance score PATH... [--json] [--no-compliance]       judge MLPerf logs
acceptance report RUN_REPORT... [--logs ...] --out DIR    HTML + Markdown acceptance report
acceptance package LOGS... --org ORG --system NAME --out  MLPerf result package, checked
acceptance project LOG_OR_FOLDER... [--minutes M] [--epochs E] [--json]   v0.7 score from a log's first minutes
acceptance data verify|layout|manifest ...                site data preparation
acceptance history [--system SYS:PART] [--since DATE] --out DIR   trends across stored sessions
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import yaml

from . import datasets
from .mlperf import analysis, compliance, package, parse, projection, score
from .report import history_cli


def score_logs(paths: list[Path], run_compliance: bool = True) -> dict:
    """Per-run figures, compliance verdicts, and one score per set (the logs of one folder)."""
    runs = [analysis.summarize(p) for p in paths]
    verdicts = {str(p): compliance.check(p).to_dict() for p in paths} if run_compliance else {}
    sets: dict[str, list] = {}
    for run in runs:
        sets.setdefault(str(Path(run.path).parent), []).append(run)
    return {
        "runs": [dict(r.to_dict(), compliance=verdicts.get(r.path)) for r in runs],
        "sets": [{"folder": folder, "score": score.olympic(members).to_dict()} for folder, members in sets.items()],
    }


def score_passed(report: dict) -> bool:
    """Every run converged (so none is refused) and compliant, and every set can be scored."""
    runs_ok = all(r["converged"] and (r["compliance"] is None or r["compliance"]["passed"]) for r in report["runs"])
    return runs_ok and not any(entry["score"]["problems"] for entry in report["sets"])


def _fmt(value, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def verdict_text(verdict: dict | None) -> str:
    if verdict is None:
        return "-"
    text = "SUCCESS" if verdict["passed"] else "FAILED"
    warnings = len(verdict.get("warnings") or [])
    return f"{text} ({warnings} warning{'s' if warnings > 1 else ''})" if warnings else text


def status_text(run: dict) -> str:
    if run["problems"]:
        return "refused"
    return run["status"] if run["converged"] or run["status"] != "success" else "no-target"


def render_table(report: dict) -> str:
    header = (
        f"{'run':<44} {'status':<10} {'minutes':>8} {'epochs':>6} {'BBOX':>6} {'SEGM':>6} "
        f"{'img/s it':>9} {'img/s ep':>9} compliance"
    )
    lines = [header, "-" * len(header)]
    for run in report["runs"]:
        best = run["best"] or {}
        name = run["path"] if len(run["path"]) <= 44 else "..." + run["path"][-41:]
        lines.append(
            f"{name:<44} {status_text(run):<10} {_fmt(run['time_to_train_min']):>8} "
            f"{run['epochs_to_target'] if run['epochs_to_target'] is not None else '-':>6} "
            f"{_fmt(best.get('bbox'), 3):>6} {_fmt(best.get('segm'), 3):>6} "
            f"{_fmt(run['throughput_iteration'], 1):>9} {_fmt(run['throughput_epoch'], 1):>9} "
            f"{verdict_text(run.get('compliance'))}"
        )
    lines.append("")
    for entry in report["sets"]:
        s = entry["score"]
        if s["problems"]:
            lines.append(f"score of {entry['folder']}: none (the set cannot be scored: see problems)")
        elif s["value"] is None:
            lines.append(f"score of {entry['folder']}: none ({s['note']})")
        else:
            kind = "provisional" if s["provisional"] else "v0.7 score"
            lines.append(f"score of {entry['folder']}: {s['value']:.2f} min ({kind}; {s['note']})")
        for path, why in s["dropped"].items():
            lines.append(f"  dropped {Path(path).name}: {why}")
    lines += _section("problems:", _problems(report))
    warned = [
        f"{run['path']}: {w}" for run in report["runs"] if run.get("compliance") for w in run["compliance"]["warnings"]
    ]
    lines += _section("compliance checker warnings:", warned)
    lines += _section("notes:", sorted({n for run in report["runs"] for n in run["notes"]}))
    return "\n".join(lines)


def _problems(report: dict) -> list[str]:
    found = [p for run in report["runs"] for p in run["problems"]]
    found += [
        f"{run['path']}: compliance: {m}"
        for run in report["runs"]
        if run.get("compliance") and not run["compliance"]["passed"]
        for m in run["compliance"]["messages"]
    ]
    found += [f"set {entry['folder']}: {p}" for entry in report["sets"] for p in entry["score"]["problems"]]
    return found


def _section(title: str, items: list[str]) -> list[str]:
    return [title, *(f"  {item}" for item in items)] if items else []


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="acceptance", description="MLPerf v0.7 Mask R-CNN acceptance harness")
    sub = parser.add_subparsers(dest="command", required=True)
    p_score = sub.add_parser("score", help="judge MLPerf logs: time-to-train, throughput, score, compliance")
    p_score.add_argument("paths", nargs="+", type=Path, help="log files or folders of result_*.txt[.xz]")
    p_score.add_argument("--json", action="store_true", help="print every figure as JSON")
    p_score.add_argument("--no-compliance", action="store_true", help="skip the official compliance checker")
    p_rep = sub.add_parser("report", help="write index.html and summary.md for a run (and/or MLPerf logs)")
    p_rep.add_argument("run_reports", nargs="*", type=Path, help="ReFrame JSON run report(s)")
    sets = "a set per folder; of two sets, the first is the vendor's"
    p_rep.add_argument("--logs", nargs="*", type=Path, default=[], help=f"MLPerf log files or folders ({sets})")
    p_rep.add_argument("--out", required=True, type=Path, help="report folder (e.g. reports/<name>)")
    p_rep.add_argument("--title", default="MLPerf v0.7 Mask R-CNN acceptance report")
    p_rep.add_argument("--history", type=Path, help="a folder written by 'acceptance history' to link to")
    p_rep.add_argument("--system-json", type=Path, help="the system's MLPerf description, shown and checked")
    p_pkg = sub.add_parser("package", help="export logs as an MLPerf result package and check it")
    p_pkg.add_argument("paths", nargs="+", type=Path, help="log files or folders of result_*.txt[.xz]")
    p_pkg.add_argument("--org", required=True, help="submitter (the package's top folder)")
    p_pkg.add_argument("--system", required=True, help="system name (systems/<system>.json)")
    p_pkg.add_argument("--system-json", type=Path, help="a full system description to use")
    p_pkg.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="system description field")
    p_pkg.add_argument("--out", required=True, type=Path)
    p_pkg.add_argument(
        "--no-check", action="store_true", help="skip MLPerf's checkers (the harness's own log checks still run)"
    )
    p_proj = sub.add_parser("project", help="project the v0.7 score (5 runs) from the first minutes of a log")
    p_proj.add_argument("paths", nargs="+", type=Path, help="log files or folders of result_*.txt[.xz]")
    p_proj.add_argument("--minutes", type=float, default=projection.DEFAULT_MINUTES, help="minutes after run_start")
    p_proj.add_argument("--epochs", type=float, help="epochs to target (default: MLPerf's RCP at the log's batch)")
    p_proj.add_argument("--json", action="store_true", help="print every figure as JSON")
    p_data = sub.add_parser("data", help="site data preparation")
    data_sub = p_data.add_subparsers(dest="data_command", required=True)
    p_verify = data_sub.add_parser("verify", help="check a COCO 2017 tree against the manifest")
    p_verify.add_argument("root", type=Path)
    p_verify.add_argument("--manifest", type=Path, help="default: resources/datasets/coco2017.yaml")
    p_verify.add_argument("--quick", action="store_true", help="counts and checksums only, no image reading")
    p_layout = data_sub.add_parser("layout", help="make the /coco tree from the site's downloads (no image copied)")
    p_layout.add_argument("dest", type=Path, help="the tree to create (extras coco_dir in config/)")
    p_layout.add_argument("--from", dest="base", type=Path, help="folder holding train2017/ val2017/ annotations/")
    p_layout.add_argument("--train2017", type=Path)
    p_layout.add_argument("--val2017", type=Path)
    p_layout.add_argument("--annotations", type=Path, help="folder with instances_{train,val}2017.json")
    p_layout.add_argument("--weights", type=Path, help="R-50.pkl (default: FROM/R-50.pkl or FROM/models/R-50.pkl)")
    p_manifest = data_sub.add_parser("manifest", help="print the manifest (counts, checksums) of a verified tree")
    p_manifest.add_argument("root", type=Path)
    p_manifest.add_argument("--source", default="a site's verified copy", help="where the tree came from")
    history_cli.register(sub)
    args = parser.parse_args(argv)
    try:
        return _dispatch(parser, args)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


def _data(args: argparse.Namespace) -> int:
    if args.data_command == "layout":
        sources = datasets.Sources(args.base, args.train2017, args.val2017, args.annotations, args.weights)
        dest = datasets.layout(args.dest, sources)
        print(f"layout: {dest} (next: acceptance data verify {dest})")
        return 0
    if args.data_command == "manifest":
        if not args.root.is_dir():
            raise ValueError(f"{args.root}: data set folder not found")
        print(yaml.safe_dump(datasets.manifest_of(args.root, args.source), sort_keys=False), end="")
        return 0
    found = datasets.verify(args.root, args.manifest, images=not args.quick)
    for line in found.checked:
        print(f"ok: {line}")
    for line in found.problems:
        print(f"problem: {line}")
    print(f"problems: {len(found.problems)}")
    print(f"verdict: {'OK' if found.ok else 'FAILED'}")
    return 0 if found.ok else 1


def _dispatch(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    if args.command == "report":
        if not args.run_reports and not args.logs:
            parser.error("report needs a ReFrame run report or --logs")
        from .report import collect, render

        # A file that cannot be read as what it was given as is refused by name (main: exit 2).
        data = collect.collect(args.run_reports, args.logs, args.title, args.system_json)
        page, summary = render.write(data, args.out, args.history)
        print(f"report: {page}")
        print(f"summary: {summary}")
        return 0
    if args.command == "package":
        return _package(args)
    if args.command == "data":
        return _data(args)
    if args.command == "history":
        return history_cli.run(args)
    if args.command == "project":
        return _project(args)
    if args.command == "score":
        report = score_logs(parse.collect_logs(args.paths), run_compliance=not args.no_compliance)
        print(json.dumps(report, indent=2) if args.json else render_table(report))
        return 0 if score_passed(report) else 1
    return 2


def _project(args: argparse.Namespace) -> int:
    if args.minutes <= 0:
        raise ValueError(f"--minutes {args.minutes:g}: give the minutes after run_start to read (more than 0)")
    found = [projection.project(p, args.minutes, args.epochs) for p in parse.collect_logs(args.paths)]
    if args.json:
        print(json.dumps([p.to_dict() for p in found], indent=2))
        return 0
    for p in found:
        print(f"{p.path}: projected v0.7 score {p.projected_min:.2f} min from its first {p.minutes:g} min "
              f"({p.used_min:.1f} min of log read)")  # fmt: skip
        print(f"  startup + epochs x (epoch + evaluation pause) + last evaluation: {p.formula()}")
        print(f"  rate {p.rate:.1f} img/s at global batch {p.batch}; epochs {p.epochs:.2f} ({p.epochs_from}); "
              f"evaluation pause {p.eval_pause_from}")  # fmt: skip
        for note in p.notes:
            print(f"  note: {note}")
    return 0


def _package(args: argparse.Namespace) -> int:
    overrides = {}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--set {item!r}: give KEY=VALUE")
        overrides[key] = value
    root = package.export(parse.collect_logs(args.paths), args.out, args.org, args.system, args.system_json, overrides)
    print(f"package: {root}")
    verdict = package.check(root, official=not args.no_check)
    for each in verdict.verdicts:
        print(f"{each.name}: {'SUCCESS' if each.passed else 'FAILED'}")
        for line in each.messages:
            print(f"  {line}")
    return 0 if verdict.passed else 1


if __name__ == "__main__":
    sys.exit(main())
