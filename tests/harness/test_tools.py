"""MLPerf's own tools as the harness runs them (``tools``, ``compliance``, ``package``), on small logs
and packages so that each run takes a fraction of a second: what a verdict keeps of what a tool
said, a crash as one line, and this harness's own package checks."""

from __future__ import annotations

import json
import lzma
from pathlib import Path

import pytest

from acceptance.mlperf import compliance, package, tools
from conftest import NVIDIA_LOGS, mllog, short_run, write_log

DGX1 = NVIDIA_LOGS / "dgx1_ngc20.06_pytorch"
MISSING = [  # what the 0.7.0 checker misses in short_run's log, in its order
    "Required EXACTLY_ONE occurrence of 'submission_org' but found 0",
    "Required EXACTLY_ONE occurrence of 'submission_platform' but found 0",
    "Required EXACTLY_ONE occurrence of 'submission_status' but found 0",
    "Required AT_LEAST_ONE occurrence of 'cache_clear' but found 0",
    "Required EXACTLY_ONE occurrence of 'eval_samples' but found 0",
    "Required EXACTLY_ONE occurrence of 'submission_benchmark' but found 0",
]


# ---- tools: what a tool said, and its crash --------------------------------------------------------------
def test_a_tool_run_keeps_what_it_said_beyond_its_chatter(tmp_path):
    log = write_log(tmp_path, short_run())
    ran = tools.run("compliance_checker", ["--usage", "training", "--ruleset", "0.7.0", str(log)])
    assert ran.returncode == 1 and ran.crash == ""
    assert ran.said == [f"WARNING -  {MISSING[0]}", *MISSING[1:], "ERROR - FAILED"]
    assert ran.warnings == [MISSING[0]]
    assert ran.output[0] == "** Logging output also at compliance_checker.log"
    assert f"INFO - Running compliance on file: {log}" in ran.output and "-" * 30 in ran.output
    assert not (tmp_path / "compliance_checker.log").exists()  # the tool ran in a folder of its own
    here = tools.run("compliance_checker", ["--usage", "training", "--ruleset", "0.7.0", str(log)], cwd=tmp_path)
    assert here.said == ran.said and (tmp_path / "compliance_checker.log").is_file()


def test_a_crashed_tool_is_one_line_and_a_slow_one_times_out(tmp_path):
    ran = tools.run("system_desc_checker", [str(tmp_path / "none.json"), "training", "0.7.0"])
    assert ran.returncode == 1 and ran.said == []
    assert ran.crash == (
        f"FileNotFoundError: [Errno 2] No such file or directory: '{tmp_path / 'none.json'}' "
        "(at system_desc_checker.py:37: with open(json_file, 'r') as f:)"
    )
    slow = tools.run("compliance_checker", ["--help"], timeout_s=0.001)
    assert (slow.returncode, slow.said, slow.crash, slow.output) == (-1, [], "timed out after 0 s", [])


def test_a_refused_command_line_keeps_the_tools_own_layout(tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")  # argparse wraps its usage to the terminal's width
    ran = tools.run("system_desc_checker", [str(tmp_path / "x.json"), "training", "9.9.9"])
    assert (ran.returncode, ran.crash) == (2, "")
    assert ran.said[0].startswith("usage: mlperf_logging.system_desc_checker [-h]")
    assert len(ran.said) > 2 and all(line.startswith(" ") and line.strip() for line in ran.said[1:-1])
    refused = "mlperf_logging.system_desc_checker: error: argument ruleset: invalid choice: '9.9.9'"
    assert ran.said[-1].startswith(refused)


TRACE = ["Traceback (most recent call last):", '  File "/x/a.py", line 3, in <module>', "    main()"]


@pytest.mark.parametrize(
    ("output", "crash"),
    [
        (["all good", "INFO - done"], ""),
        ([*TRACE, '  File "/x/pkg/b.py", line 89, in f', "    d['division']", "KeyError: 'division'"],
         "KeyError: 'division' (at b.py:89: d['division'])"),
        ([*TRACE[:2], '  File "/x/c.py", line 7, in g', "ValueError: bad"], "ValueError: bad (at c.py:7)"),
        (["Traceback (most recent call last):", "SystemExit: 3", ""], "SystemExit: 3"),
        ([*TRACE, "OSError: first", "said on", *TRACE[:2], '  File "/y/d.py", line 5, in h', "    x = 1 / 0",
          "ZeroDivisionError: division by zero", "   "], "ZeroDivisionError: division by zero (at d.py:5: x = 1 / 0)"),
        # A message of several lines, its later ones indented: the exception is its first line.
        ([*TRACE, "ValueError: 2 problems:", "  a is missing", "  b is missing"],
         "ValueError: 2 problems: (at a.py:3: main())"),
        # Output cut off inside the traceback (a killed tool): where it was is all there is.
        (TRACE, "Traceback (most recent call last): (at a.py:3: main())"),
        (TRACE[:2], "Traceback (most recent call last): (at a.py:3)"),
    ],
)  # fmt: skip
def test_the_crash_is_the_last_traceback_s_exception_and_where_it_was_raised(output, crash):
    assert tools._crash(output) == crash


# ---- compliance ------------------------------------------------------------------------------------------
def test_a_failed_verdict_keeps_the_reasons_not_the_repeated_verdict(tmp_path):
    log = write_log(tmp_path, short_run())
    found = compliance.check(log)
    assert (found.path, found.passed, found.warnings) == (str(log), False, [])
    assert found.messages == [f"WARNING -  {MISSING[0]}", *MISSING[1:]]
    assert found.to_dict() == {"path": str(log), "passed": False, "messages": found.messages, "warnings": []}


def test_the_verdict_is_the_checkers_not_any_line_ending_in_success(tmp_path):
    # The checker names the file it checks: a failing log named so must not read as a pass.
    found = compliance.check(write_log(tmp_path, short_run(), "run-SUCCESS"))
    assert not found.passed and found.messages == [f"WARNING -  {MISSING[0]}", *MISSING[1:]]


def test_a_passing_verdict_with_its_warnings(tmp_path):
    lines = lzma.decompress((DGX1 / "result_0.txt.xz").read_bytes()).decode().splitlines()
    batch = next(i for i, line in enumerate(lines) if '"key": "global_batch_size"' in line)
    lines.insert(batch, lines[batch])  # a key given twice: 0.7.0 warns, and passes
    found = compliance.check(write_log(tmp_path, lines))
    warning = "Required EXACTLY_ONE occurrence of 'global_batch_size' but found 2"
    assert found.passed and found.warnings == [warning] and found.messages == [f"WARNING -  {warning}"]


def test_compliance_of_files_that_are_not_there_or_not_readable(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    missing = compliance.check("runs/result_0.txt")
    assert (missing.path, missing.passed, missing.messages) == (
        "runs/result_0.txt", False, ["runs/result_0.txt: file not found"]
    )  # fmt: skip
    (tmp_path / "bad.txt.gz").write_bytes(b"not gzip")
    damaged = compliance.check("bad.txt.gz")
    why = "bad.txt.gz: compressed data is damaged (Not a gzipped file (b'no')); not checked"
    assert damaged.to_dict() == {"path": "bad.txt.gz", "passed": False, "messages": [why], "warnings": []}


def test_compliance_runs_the_ruleset_asked_for_within_its_time(tmp_path):
    log = tmp_path / "result_0.txt"
    log.write_bytes(lzma.decompress((DGX1 / "result_0.txt.xz").read_bytes()))
    assert compliance.check(log).passed  # NVIDIA's v0.7 log: a 0.7.0 log
    later = compliance.check(log, ruleset="1.0.0")
    assert not later.passed and later.messages[0] == (
        "WARNING -  Required EXACTLY_ONE occurrence of 'gradient_accumulation_steps' but found 0"
    )
    slow = compliance.check(log, timeout_s=0.001)
    assert not slow.passed and slow.messages == ["compliance checker crashed: timed out after 0 s"]


def test_a_compressed_log_is_checked_as_plain_text(tmp_path):
    text = "\n".join(short_run()) + "\n"
    path = tmp_path / "result_0.txt.xz"
    path.write_bytes(lzma.compress(text.encode()))
    assert compliance.check(path).messages == compliance.check(write_log(tmp_path / "plain", short_run())).messages


# ---- package ---------------------------------------------------------------------------------------------
# What short_run's log lacks for the 0.7.0 checker beyond the submission keys (MISSING).
COMPLIANT = (("cache_clear", True), ("eval_samples", 5000), ("submission_benchmark", "maskrcnn"))


def _logs(tmp_path: Path, count: int = 2, more: tuple = ()) -> list[Path]:
    submission = (("submission_org", "ThaiSC"), ("submission_status", "onprem"), ("submission_platform", "2xCPU"))
    extra = [mllog(key, value, 969_000.0) for key, value in (*submission, *more)]
    return [write_log(tmp_path / "logs", extra + short_run(start_ms=1e6 + i), f"result_{i}.txt") for i in range(count)]


def test_a_generated_description_says_what_the_logs_know(tmp_path):
    found = package.system_description(_logs(tmp_path), "ThaiSC", "tara")
    assert (found["submitter"], found["division"], found["status"], found["system_name"]) == (
        "ThaiSC", "open", "available", "tara"
    )  # fmt: skip
    assert all(found[key] == package.PLACEHOLDER for key in package.FILL_IN)
    assert all(found[key] == "" for key in package.MAY_BE_EMPTY)
    assert found["sw_notes"] == "generated by `acceptance package` from 2 MLPerf log(s); platform 2xCPU"
    assert package.system_description(_logs(tmp_path), "O", "s", {"division": "closed"})["division"] == "closed"
    bare = write_log(tmp_path / "bare", short_run())
    found = package.system_description([bare], "O", "s")
    assert (found["status"], found["sw_notes"][-16:]) == ("research", "platform unknown")


@pytest.mark.parametrize(
    ("said", "division", "status"),
    [
        ({"submission_division": "closed", "submission_status": "onprem"}, "closed", "available"),
        ({"submission_division": "open", "submission_status": "cloud"}, "open", "available"),
        ({"submission_division": "closed", "submission_status": "research"}, "closed", "research"),
        ({}, "open", "research"),  # a log that says neither: the least it could claim
    ],
)
def test_a_generated_description_takes_division_and_status_from_the_log(tmp_path, said, division, status):
    lines = [line for line in short_run() if '"key": "submission_division"' not in line]
    log = write_log(tmp_path, [mllog(key, value, 969_000.0) for key, value in said.items()] + lines)
    found = package.system_description([log], "O", "s")
    assert (found["division"], found["status"]) == (division, status)


def test_an_exported_package_is_mlperfs_layout(tmp_path):
    logs = _logs(tmp_path)
    root = package.export(logs, tmp_path / "out", "ThaiSC", "tara", overrides={"cooling": "air"})
    assert root == tmp_path / "out" / "ThaiSC"
    results = root / "results" / "tara" / "maskrcnn"
    assert sorted(p.name for p in results.iterdir()) == ["result_0.txt", "result_1.txt"]
    assert (results / "result_1.txt").read_text() == logs[1].read_text()
    text = (root / "systems" / "tara.json").read_text()
    # Written to be filled in by hand: one field a line, indented as MLPerf's published files are.
    assert text.startswith('{\n  "submitter": "ThaiSC",\n  "division": "open",\n') and text.endswith('"\n}\n')
    written = json.loads(text)
    assert written["cooling"] == "air" and written["number_of_nodes"] == package.PLACEHOLDER
    given = tmp_path / "given.json"
    given.write_text(json.dumps({"number_of_nodes": "1", "cooling": "water"}))
    again = package.export(logs, tmp_path / "given", "ThaiSC", "tara", given, {"cooling": "air"})
    assert json.loads((again / "systems" / "tara.json").read_text()) == {"number_of_nodes": "1", "cooling": "air"}


def test_a_second_system_joins_its_organisations_package(tmp_path):
    logs = _logs(tmp_path)
    first = package.export(logs, tmp_path / "out", "ThaiSC", "tara")
    second = package.export(logs, tmp_path / "out", "ThaiSC", "lanta")
    assert second == first
    assert sorted(p.name for p in (first / "systems").iterdir()) == ["lanta.json", "tara.json"]
    assert sorted(p.name for p in (first / "results").iterdir()) == ["lanta", "tara"]
    assert json.loads((first / "systems" / "tara.json").read_text())["system_name"] == "tara"


def test_inputs_that_make_no_package_are_named(tmp_path):
    logs = _logs(tmp_path)
    cases = [
        ([], None, "no MLPerf logs given"),
        ([tmp_path / "none.txt"], None, f"{tmp_path / 'none.txt'}: file not found"),
    ]
    for given_logs, system_json, message in cases:
        with pytest.raises(package.PackageError) as err:
            package.export(given_logs, tmp_path / "o", "O", "s", system_json)
        assert str(err.value) == message
    package.export(logs, tmp_path / "twice", "O", "s")
    with pytest.raises(package.PackageError) as err:
        package.export(logs, tmp_path / "twice", "O", "s")
    assert (
        str(err.value)
        == f"{tmp_path / 'twice' / 'O' / 'results' / 's' / 'maskrcnn'} already exists: choose an empty --out"
    )
    listed = tmp_path / "list.json"
    listed.write_text("[1]")
    with pytest.raises(package.PackageError) as err:
        package.export(logs, tmp_path / "o2", "O", "s", listed)
    assert str(err.value) == f"{listed}: not a system description (a JSON list)"
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    with pytest.raises(package.PackageError) as err:
        package.export(logs, tmp_path / "o3", "O", "s", broken)
    assert str(err.value).startswith(f"{broken}: not a readable system description (Expecting property name")
    assert not (tmp_path / "o2").exists() and not (tmp_path / "o3").exists()


def test_a_damaged_log_leaves_nothing_half_written(tmp_path):
    bad = tmp_path / "result_1.txt.xz"
    bad.write_bytes(b"\xfd7zXZ\x00 broken")
    (tmp_path / "out" / "O" / "results").mkdir(parents=True)  # the export creates only what is missing
    with pytest.raises(package.PackageError):
        package.export([*_logs(tmp_path, 1), bad], tmp_path / "out", "O", "s")
    assert sorted(p.name for p in (tmp_path / "out" / "O" / "results").iterdir()) == []


def test_this_harnesss_checks_on_a_package(tmp_path):
    root = package.export(_logs(tmp_path), tmp_path / "out", "ThaiSC", "tara")
    found = package.check(root, official=False)
    assert found.root == str(root) and [v.name for v in found.verdicts] == ["acceptance checks (logs, descriptions)"]
    assert not found.passed
    assert found.messages == [
        f"{root / 'systems' / 'tara.json'}: still 'unknown: fill in': {', '.join(package.FILL_IN)} (give them with "
        "--set KEY=VALUE or a full --system-json)"
    ]
    filled = {key: "1" for key in package.FILL_IN}
    (root / "systems" / "tara.json").write_text(json.dumps(filled))
    (root / "systems" / "other.json").write_text("[2]")
    (root / "systems" / "broken.json").write_text("{")
    empty = root / "results" / "empty" / "maskrcnn"
    empty.mkdir(parents=True)
    messages = package.check(root, official=False).messages
    assert messages[0].startswith(f"{root / 'systems' / 'broken.json'}: not readable JSON (Expecting property name")
    assert messages[1:] == [f"{root / 'systems' / 'other.json'}: not a system description (a JSON list)",
                            f"{empty}: no result_*.txt"]  # fmt: skip
    (root / "systems" / "other.json").unlink()
    (root / "systems" / "broken.json").unlink()
    empty.rmdir()
    assert package.check(root, official=False).passed
    assert package.PackageCheck("x").passed is False  # no checker ran: no pass


def test_a_refused_log_and_a_repeated_one_fail_the_package(tmp_path):
    logs = _logs(tmp_path, 3)
    lines = logs[1].read_text().splitlines()
    lines.insert(-1, mllog("run_start", None, 1_130_600.0))  # after the last evaluation
    logs[1].write_text("\n".join(lines) + "\n")
    logs[2].write_text(logs[0].read_text())
    root = package.export(logs, tmp_path / "out", "O", "s", overrides={key: "1" for key in package.FILL_IN})
    folder = root / "results" / "s" / "maskrcnn"
    assert package.check(root, official=False).messages == [
        f"{folder / 'result_1.txt'}:{len(lines) - 1}: a second run_start (the first is at line 9); a log holds "
        "exactly one",
        f"{folder / 'result_1.txt'}: refused (1 problem(s)), so the set has no score",
        f"{folder / 'result_2.txt'} is the same log as {folder / 'result_0.txt'}",
    ]


def test_the_official_checkers_on_a_small_package(tmp_path):
    root = package.export(_logs(tmp_path), tmp_path / "out", "ThaiSC", "tara")
    found = package.check(root)
    names = [v.name for v in found.verdicts]
    assert names == ["package checker (training 0.7.0)", "system description checker (training 0.7.0)",
                     "acceptance checks (logs, descriptions)"]  # fmt: skip
    official, described, _ = found.verdicts
    assert not official.passed and any(
        "Required AT_LEAST_ONE occurrence of 'cache_clear'" in m for m in official.messages
    )
    assert described.passed and described.messages == []  # placeholders are text: MLPerf's checker takes them
    (root / "systems" / "tara.json").write_text(json.dumps({"submitter": "ThaiSC"}))
    described = package.system_desc_checker(root)
    assert not described.passed and described.messages[0].startswith("tara.json: ERROR - ")
    (root / "systems" / "tara.json").unlink()
    assert package.system_desc_checker(root) == package.Verdict(
        "system description checker (training 0.7.0)", False, [f"{root / 'systems'}: no system description (*.json)"]
    )
    (root / "systems" / "tara.json").write_text("[")
    crashed = package.system_desc_checker(root)
    assert not crashed.passed and crashed.messages[-1].startswith("tara.json: system description checker crashed: ")
    slow = package.package_checker(root, timeout_s=0.001)
    assert not slow.passed and slow.messages == ["package checker crashed: timed out after 0 s"]


def test_five_sound_runs_pass_every_checker_and_leave_nothing_beside_the_package(tmp_path):
    logs = _logs(tmp_path, 5, COMPLIANT)  # five runs: a whole maskrcnn set
    root = package.export(logs, tmp_path / "out", "ThaiSC", "tara", overrides={key: "1" for key in package.FILL_IN})
    found = package.check(root)
    assert found.verdicts == [
        package.Verdict("package checker (training 0.7.0)", True, []),
        package.Verdict("system description checker (training 0.7.0)", True, []),
        package.Verdict("acceptance checks (logs, descriptions)", True, []),
    ]
    assert found.passed
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["ThaiSC"]  # no checker log beside it


def test_a_ruleset_the_official_checkers_do_not_know_fails_them_saying_so(tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")  # argparse wraps its usage to the terminal's width
    root = package.export(_logs(tmp_path), tmp_path / "out", "ThaiSC", "tara")
    (root / "systems" / "lanta.json").write_text((root / "systems" / "tara.json").read_text())
    official, described, _ = package.check(root, "9.9.9").verdicts
    refused = "error: argument ruleset: invalid choice: '9.9.9'"
    assert (official.name, official.passed) == ("package checker (training 9.9.9)", False)
    assert official.messages[0].startswith("usage: mlperf_logging.package_checker [-h]")
    wrapped = official.messages[1:-1]  # its usage, wrapped and indented as it wrote it
    assert wrapped and all(line.startswith(" ") and line.strip() for line in wrapped)
    assert official.messages[-1].startswith(f"mlperf_logging.package_checker: {refused}")
    assert (described.name, described.passed) == ("system description checker (training 9.9.9)", False)
    # Each description's refusal, in order: usage first, the error last.
    ends = [m for m in described.messages if refused in m]
    assert [m.split(":")[0] for m in ends] == ["lanta.json", "tara.json"]
    assert described.messages[0].startswith("lanta.json: usage: ") and described.messages[-1] == ends[-1]
