"""What a ReFrame run report says of each criterion, read strictly: a test case's result and why,
whether the session was a dry run and in which mode, why a Mask R-CNN run is no MLPerf result.

Pure functions of the report's records (``collect`` reads the files and builds the criteria), so
that the reading that decides PASS or FAIL is tested as tables and mutation-tested
(``benchmarks/mutation.sh``) with the verdict itself (``verdict``).
"""

from __future__ import annotations

import shlex

from mlperf_maskrcnn import recipe as recipes

from .modes import DEFAULT


def judged_cases(run: dict) -> list[tuple[dict, str, str]]:
    """(case, pass / fail / skip, why) for each test case of one run of a ReFrame report that is a
    criterion. Fixtures are none: a failed fixture fails its dependants (fail_deps), which name it."""
    cases = run.get("testcases") or []
    by_name = {(c.get("unique_name"), f"{c.get('system')}:{c.get('partition')}"): c for c in cases}
    return [(case, *case_result(case, by_name)) for case in cases if not case.get("fixture")]


def case_result(case: dict, others: dict[tuple[str, str], dict]) -> tuple[str, str]:
    """(pass / fail / skip, why): anything but a pass or a plain skip is a failure (ReFrame's
    abort, fail_deps, xfail, or no result at all); a case skipped because a test it depends on did
    not pass names those tests. ``others``: the run's cases by (unique_name, system:partition)."""
    result = case.get("result")
    if result == "skip":
        return "skip", case.get("skip_reason") or case.get("fail_reason") or "skipped"
    if result == "fail_deps":
        failed = []
        for name, where, *_ in case.get("dependencies_actual") or []:
            dep = others.get((name, where), {})
            if dep.get("result") != "pass":
                failed.append(f"{dep.get('display_name') or name} ({dep.get('result') or 'not run'})")
        return "fail", "dependencies failed: " + (", ".join(failed) or "(not named in the run report)")
    if result != "pass":
        return "fail", f"{case.get('fail_phase')}: {case.get('fail_reason')}"
    return "pass", ""


def _words(cmdline: str) -> list[str]:
    try:
        return shlex.split(cmdline)
    except ValueError:  # an unbalanced quote: read the words as they are
        return cmdline.split()


def session_mode(cmdline: str) -> str:
    """The suite's mode on ReFrame's command line (``--mode NAME`` or ``--mode=NAME``), else 'default'.
    (``--mode`` cannot be shortened: ReFrame's ``--module*`` options make every prefix ambiguous.)"""
    words = _words(cmdline)
    for index, word in enumerate(words):
        if word == "--mode" and index + 1 < len(words):
            return words[index + 1]
        if word.startswith("--mode="):
            return word.split("=", 1)[1]
    return DEFAULT


# ReFrame's parser takes any unambiguous prefix of a long option; no other option begins "--dr".
_DRY_RUN, _DRY_RUN_SHORTEST = "--dry-run", "--dr"


def is_dry_run(cmdline: str) -> bool:
    """Whether ReFrame ran with --dry-run, or a prefix of it that ReFrame takes as it (``--dry``):
    nothing ran, so nothing passed."""
    return any(w.startswith(_DRY_RUN_SHORTEST) and _DRY_RUN.startswith(w) for w in _words(cmdline))


def not_mlperf(banner: str, division: str, recipe: str) -> str:
    """Why a Mask R-CNN run is no MLPerf result ('' when nothing says so): the check's banner, the
    division its MLPerf log declares, the division of its recipe (read only when the check gave no
    banner: the banner already says why)."""
    reasons = [banner] if banner else []
    if division and division != "closed":
        reasons.append(f"its MLPerf log declares the {division} division")
    if recipe and not banner:
        try:
            if recipes.load(recipe).division != "closed":
                reasons.append(f"recipe {recipe} is open division")
        except (ValueError, OSError):  # a recipe this checkout does not have: the log still says
            pass
    return "; ".join(reasons)
