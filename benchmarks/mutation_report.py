"""The score of a finished mutmut run (``benchmarks/mutation.sh``): killed per module, and every
mutant that was not killed with its file, line and change, checked against the explanations in
``benchmarks/mutation-survivors.md``.

Run from the repository root after ``mutmut run`` (it reads ``mutants/``)::

    .venv/bin/python benchmarks/mutation_report.py [--out mutants/survivors.md] [--min-score 90]

Exit status 0 when the score reaches ``--min-score`` and every mutant that was not killed has an
entry in the survivors file (by its mutmut name); 1 otherwise, naming what is missing.
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import sys
from collections import Counter
from pathlib import Path

from mutmut.mutation.diff_apply import get_diff_for_mutant
from mutmut.stats import status_by_exit_code

ROOT = Path(__file__).resolve().parents[1]
EXPLAINED = ROOT / "benchmarks" / "mutation-survivors.md"
# A mutant that made a test fail, crash or run past its time limit was detected.
DETECTED = ("killed", "timeout", "caught by type check")
SEPARATOR = "ǁ"  # mutmut's separator of class and method in a mutant's name
SHOWN = 20


def results(mutants: Path) -> dict[str, dict[str, str]]:
    """module file (src/...) -> mutant name -> status, from mutmut's ``.meta`` files."""
    found: dict[str, dict[str, str]] = {}
    for meta in sorted(mutants.rglob("*.py.meta")):
        source = str(meta.relative_to(mutants))[: -len(".meta")]
        codes = json.loads(meta.read_text())["exit_code_by_key"]
        found[source] = {name: status_by_exit_code[code] for name, code in codes.items()}
    return found


def function_line(source: Path, mangled: str) -> int:
    """The line of ``def`` of a mutmut function name (``x_name`` or ``xǁClassǁname``) in ``source``."""
    parts = mangled.split(SEPARATOR)
    cls, name = (parts[1], parts[2]) if len(parts) == 3 else (None, mangled[2:])
    for node in ast.walk(ast.parse(source.read_text())):
        if isinstance(node, ast.ClassDef) and node.name == cls:
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and item.name == name:
                    return item.lineno
        if cls is None and isinstance(node, ast.FunctionDef) and node.name == name:
            return node.lineno
    return 0


def changed(diff: str) -> tuple[list[str], list[str]]:
    """(removed, added) lines of a unified diff."""
    lines = [line for line in diff.splitlines() if not line.startswith(("---", "+++", "@@"))]
    return [line[1:] for line in lines if line.startswith("-")], [line[1:] for line in lines if line.startswith("+")]


def locate(source: Path, start: int, removed: list[str]) -> int:
    """The file line of the first removed line, searched from the function's ``def``."""
    text = source.read_text().splitlines()
    wanted = removed[0].strip() if removed else ""
    for number in range(max(start, 1), len(text) + 1):
        if text[number - 1].strip() == wanted:
            return number
    return start


def survivor_entries(found: dict[str, dict[str, str]]) -> list[dict]:
    entries = []
    for source, statuses in found.items():
        for name, status in sorted(statuses.items(), key=lambda kv: _order(kv[0])):
            if status in DETECTED:
                continue
            mangled = name.rsplit(".", 1)[1].rsplit("__mutmut_", 1)[0]
            removed, added = changed(get_diff_for_mutant(name, path=source))
            line = locate(ROOT / source, function_line(ROOT / source, mangled), removed)
            entries.append(
                {"name": name, "status": status, "source": source, "line": line, "removed": removed, "added": added}
            )
    return entries


def _order(name: str) -> tuple[str, int]:
    base, _, number = name.rpartition("__mutmut_")
    return base, int(number or 0)


def explained_names(path: Path) -> set[str]:
    """Mutant names the survivors file explains (each entry names its mutant in backticks)."""
    if not path.is_file():
        return set()
    return set(re.findall(r"`([\w.ǁ]+__mutmut_\d+)`", path.read_text()))


def markdown(entries: list[dict]) -> str:
    out = []
    for e in entries:
        change = "; ".join(f"`{line.strip()}`" for line in e["removed"]) or "(nothing)"
        into = "; ".join(f"`{line.strip()}`" for line in e["added"]) or "(nothing)"
        out.append(f"- `{e['name']}` ({e['status']}), {e['source']}:{e['line']}: {change} -> {into}")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mutants", type=Path, default=ROOT / "mutants")
    parser.add_argument("--out", type=Path, default=ROOT / "mutants" / "survivors.md")
    parser.add_argument("--explained", type=Path, default=EXPLAINED)
    parser.add_argument("--min-score", type=float, default=90.0)
    args = parser.parse_args(argv)
    found = results(args.mutants)
    if not found:
        print(f"error: no mutmut results in {args.mutants}: run `mutmut run` first", file=sys.stderr)
        return 2
    totals: Counter = Counter()
    print(f"{'module':<42} {'killed':>7} {'total':>6} {'score':>7}  not killed")
    for source, statuses in found.items():
        counts = Counter(statuses.values())
        detected = sum(counts[s] for s in DETECTED)
        totals.update(counts)
        rest = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()) if s not in DETECTED) or "-"
        score = 100.0 * detected / len(statuses) if statuses else 100.0
        print(f"{source:<42} {detected:>7} {len(statuses):>6} {score:>6.1f}%  {rest}")
    total = sum(totals.values())
    detected = sum(totals[s] for s in DETECTED)
    score = 100.0 * detected / total
    print(f"{'all':<42} {detected:>7} {total:>6} {score:>6.1f}%  (timeouts counted as killed: {totals['timeout']})")
    entries = survivor_entries(found)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(markdown(entries))
    print(f"{len(entries)} mutants not killed, listed in {args.out}")
    missing = [e["name"] for e in entries if e["name"] not in explained_names(args.explained)]
    for name in missing[:SHOWN]:
        print(f"not explained in {args.explained.relative_to(ROOT)}: {name}")
    if len(missing) > SHOWN:
        print(f"... and {len(missing) - SHOWN} more not explained (all in {args.out})")
    if score < args.min_score:
        print(f"score {score:.1f}% is under {args.min_score:g}%")
    return 0 if score >= args.min_score and not missing else 1


if __name__ == "__main__":
    sys.exit(main())
