"""Records a job script prints (NVIDIA path) and image digests: fast, no ReFrame run."""

from __future__ import annotations

import hashlib
import os
import subprocess

from acceptance import containers
from acceptance.mlperf import parse, records


def test_image_digest_uses_a_fresh_sidecar_and_ignores_a_stale_one(tmp_path):
    image = tmp_path / "x.sif"
    image.write_bytes(b"STUB image bytes")
    real = "sha256:" + hashlib.sha256(b"STUB image bytes").hexdigest()
    assert containers.digest(image) == real
    sidecar = tmp_path / "x.sif.sha256"
    sidecar.write_text("ab" * 32 + "  x.sif\n")
    image.write_bytes(b"STUB image bytes, rebuilt")  # new mtime/size: the cache does not answer
    os.utime(sidecar, ns=(image.stat().st_mtime_ns - 10**9,) * 2)  # stale: older than the image
    assert containers.digest(image) == "sha256:" + hashlib.sha256(b"STUB image bytes, rebuilt").hexdigest()
    os.utime(sidecar, ns=(image.stat().st_mtime_ns + 10**9,) * 2)
    assert containers.digest(image) == "sha256:" + "ab" * 32
    assert containers.digest(tmp_path / "missing.sif") == ""


def test_job_script_records_are_valid_mllog_lines(tmp_path):
    lines = [
        records.shell_event("submission_org", 'Thai "SC" \'s'),
        records.shell_event("cache_clear", records.CACHE_CLEARED),
        "export MLPERF_CACHE_CLEARED=1",
        records.shell_event("cache_clear", records.CACHE_CLEARED),
    ]
    out = subprocess.run(["bash", "-c", "\n".join(lines)], capture_output=True, text=True, check=True).stdout
    log = tmp_path / "log.txt"
    log.write_text(out)
    parsed = parse.parse(log)
    assert not parsed.problems
    assert [(r.key, r.value) for r in parsed.records] == [
        ("submission_org", 'Thai "SC" \'s'),
        ("cache_clear", False),
        ("cache_clear", True),
    ]
    assert all(r.time_ms > 1.7e12 for r in parsed.records)
