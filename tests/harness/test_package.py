"""``acceptance package``: every checker's own message, the system description checker that the
0.7.0 package checker skips, and this harness's checks on what the official tools let through."""

import json
import lzma

import pytest

from acceptance import cli
from acceptance.mlperf import package
from conftest import NVIDIA_LOGS

DGX1 = NVIDIA_LOGS / "dgx1_ngc20.06_pytorch"
LOGS = sorted(DGX1.glob("result_*.txt.xz"))
SYSTEM = "dgx1_ngc20.06_pytorch"


def description(tmp_path, rename: dict[str, str] | None = None, drop: tuple[str, ...] = ()):
    """NVIDIA's DGX-1 description with keys renamed or dropped, as a vendor's file might have them."""
    data = json.loads((DGX1 / "system.json").read_text())
    for old, new in (rename or {}).items():
        data[new] = data.pop(old)
    for key in drop:
        del data[key]
    path = tmp_path / "system.json"
    path.write_text(json.dumps(data))
    return path


def make(tmp_path, system_json, logs=LOGS):
    return package.export(list(logs), tmp_path / "out", "NVIDIA", SYSTEM, system_json)


def verdict_of(check: package.PackageCheck, name: str) -> package.Verdict:
    return next(v for v in check.verdicts if v.name.startswith(name))


@pytest.mark.tools
def test_a_description_lacking_number_of_nodes_fails(tmp_path, capsys):
    # As DellEMC's v0.7 file has it: "number of nodes", with spaces.
    system_json = description(tmp_path, rename={"number_of_nodes": "number of nodes"})
    check = package.check(make(tmp_path, system_json))
    assert verdict_of(check, "package checker").passed  # 0.7.0 does not look at descriptions
    desc = verdict_of(check, "system description checker")
    assert not desc.passed and not check.passed
    assert desc.messages == [
        f"{SYSTEM}.json: ERROR -   System description checker failed for {SYSTEM} : ['Missing field number_of_nodes']"
    ]
    code = cli.main(["package", str(DGX1), "--org", "NVIDIA", "--system", SYSTEM, "--system-json", str(system_json),
                     "--out", str(tmp_path / "cli")])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 1
    assert "system description checker (training 0.7.0): FAILED" in out and "Missing field number_of_nodes" in out


@pytest.mark.tools
def test_the_package_checker_crash_is_shown(tmp_path, capsys):
    # As Tencent's v0.7 file has it: "divison". The official checker raises KeyError: 'division'.
    system_json = description(tmp_path, rename={"division": "divison"})
    code = cli.main(["package", *map(str, LOGS), "--org", "NVIDIA", "--system", SYSTEM,
                     "--system-json", str(system_json), "--out", str(tmp_path / "cli")])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 1
    assert "package checker (training 0.7.0): FAILED" in out
    assert "package checker crashed: KeyError: 'division' (at package_checker.py:" in out
    assert "Missing field division" in out
    assert "Traceback" not in out


@pytest.mark.tools
def test_a_generated_description_must_be_filled_in(tmp_path, capsys):
    args = ["package", str(DGX1), "--org", "ThaiSC", "--system", "tara_dgx1", "--no-check"]
    assert cli.main([*args, "--out", str(tmp_path / "a")]) == 1
    out = capsys.readouterr().out
    assert "acceptance checks (logs, descriptions): FAILED" in out
    assert "still 'unknown: fill in': number_of_nodes, host_processors_per_node" in out
    known = json.loads((DGX1 / "system.json").read_text())
    filled = [f"--set={key}={known[key]}" for key in package.FILL_IN]
    assert cli.main([*args, *filled, "--out", str(tmp_path / "b")]) == 0
    out = capsys.readouterr().out
    assert "acceptance checks (logs, descriptions): SUCCESS" in out and "package checker" not in out
    written = json.loads((tmp_path / "b" / "ThaiSC" / "systems" / "tara_dgx1.json").read_text())
    assert written["number_of_nodes"] == "1" and written["division"] == "closed"


@pytest.mark.tools
def test_a_forged_log_fails_the_package_though_mlperf_passes_it(tmp_path):
    lines = lzma.decompress(LOGS[2].read_bytes()).decode().splitlines()
    start = next(i for i, line in enumerate(lines) if '"key": "run_start"' in line)
    stop = next(i for i, line in enumerate(lines) if '"key": "run_stop"' in line)
    lines.insert(stop, lines[start])
    forged = tmp_path / "result_2.txt"
    forged.write_text("\n".join(lines) + "\n")
    root = make(tmp_path, DGX1 / "system.json", [LOGS[0], LOGS[1], forged, LOGS[3], LOGS[4]])
    check = package.check(root)
    assert verdict_of(check, "package checker").passed
    assert verdict_of(check, "system description checker").passed
    ours = verdict_of(check, "acceptance checks")
    assert not ours.passed and not check.passed
    assert f"{root}/results/{SYSTEM}/maskrcnn/result_2.txt:{stop + 1}: a second run_start" in ours.messages[0]


def test_the_same_log_twice_fails_the_package(tmp_path):
    root = make(tmp_path, DGX1 / "system.json", [*LOGS[:4], LOGS[0]])
    ours = verdict_of(package.check(root, official=False), "acceptance checks")
    assert ours.messages == [f"{root}/results/{SYSTEM}/maskrcnn/result_4.txt is the same log as "
                             f"{root}/results/{SYSTEM}/maskrcnn/result_0.txt"]  # fmt: skip


def test_a_damaged_xz_stops_the_export_naming_it(tmp_path, capsys):
    bad = tmp_path / "logs" / "result_9.txt.xz"
    bad.parent.mkdir()
    bad.write_bytes(b"\xfd7zXZ\x00 broken")
    code = cli.main(["package", str(LOGS[0]), str(bad), "--org", "X", "--system", "s", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith(f"error: {bad}: cannot be read (")
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()  # nothing half-written left


def test_set_needs_key_and_value(tmp_path, capsys):
    code = cli.main(
        ["package", str(LOGS[0]), "--org", "X", "--system", "s", "--set", "cooling", "--out", str(tmp_path)]
    )
    assert code == 2 and "--set 'cooling': give KEY=VALUE" in capsys.readouterr().err
