"""Mistyped records never crash the judge, and never turn into a pass.

Each case takes the MLLOG records of a real NVIDIA v0.7 log and gives one field of one record a
value of the wrong kind (seeded, so a failure reproduces).
"""

import json
import lzma
import random
from pathlib import Path

import pytest

from acceptance import cli
from acceptance.mlperf import analysis, score
from conftest import NVIDIA_LOGS

WRONG = ["", "x", "1.2.3", None, True, -1, 0, 10**400, 1e308, float("nan"), [], [1], {}, {"a": 1}, -0.5]
FIELDS = ["time_ms", "key", "value", "metadata", "epoch_num", "status", "BBOX", "first_epoch_num", "epoch_count"]


@pytest.fixture(scope="module")
def records() -> list[dict]:
    text = lzma.decompress((NVIDIA_LOGS / "dgx1_ngc20.06_pytorch" / "result_0.txt.xz").read_bytes()).decode()
    return [json.loads(line.split(":::MLLOG", 1)[1]) for line in text.splitlines() if ":::MLLOG" in line]


def _mutate(record: dict, field: str, value) -> dict:
    record = json.loads(json.dumps(record))
    if field in ("time_ms", "key", "value", "metadata"):
        record[field] = value
    elif field == "BBOX" and isinstance(record.get("value"), dict):
        record["value"]["BBOX"] = value
    elif isinstance(record.get("metadata"), dict):
        record["metadata"][field] = value
    return record


@pytest.mark.parametrize("seed", range(16))
def test_wrong_values_never_crash_and_never_pass(tmp_path, records, seed):
    rng = random.Random(seed)
    original = analysis.summarize(_write(tmp_path / "original.txt", records))
    assert original.converged and not original.problems
    for case in range(40):
        index = rng.randrange(len(records))
        field, value = rng.choice(FIELDS), rng.choice(WRONG)
        mutated = list(records)
        mutated[index] = _mutate(records[index], field, value)
        summary = analysis.summarize(_write(tmp_path / f"case{case}.txt", mutated))
        # Never a crash; a pass only if the judge saw nothing wrong, and then with real figures.
        if summary.converged:
            assert not summary.problems and summary.time_to_train_min > 0
        else:
            assert score.olympic([summary]).value is None or not summary.refused
        # The CLI can print it.
        report = {"runs": [dict(summary.to_dict(), compliance=None)], "sets": []}
        assert Path(summary.path).name in cli.render_table(report)
        json.dumps(report)


def _write(path, records: list[dict]):
    path.write_text("".join(f":::MLLOG {json.dumps(r)}\n" for r in records))
    return path
