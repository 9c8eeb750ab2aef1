"""Verify a COCO 2017 tree against a manifest (``resources/datasets/*.yaml``); torch-free."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import yaml


@dataclass
class Verification:
    root: str
    problems: list[str] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def manifest_path(name: str = "coco2017") -> Path:
    return Path(__file__).resolve().parents[2] / "resources" / "datasets" / f"{name}.yaml"


def md5(path: Path, chunk: int = 1 << 22) -> str:
    digest = hashlib.md5()
    with path.open("rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def verify(root: str | Path, manifest: str | Path | None = None) -> Verification:
    """Every missing folder or file, wrong count and wrong checksum, each named."""
    root = Path(root)
    spec = yaml.safe_load(Path(manifest or manifest_path()).read_text())
    result = Verification(str(root))
    if not root.is_dir():
        result.problems.append(f"{root}: data set folder not found")
        return result
    for folder, want in (spec.get("folders") or {}).items():
        path = root / folder
        if not path.is_dir():
            result.problems.append(f"{path}: folder missing")
            continue
        count = sum(1 for p in path.iterdir() if p.name.endswith(want.get("suffix", "")))
        if count != int(want["files"]):
            result.problems.append(f"{path}: {count} files, expected {want['files']}")
        else:
            result.checked.append(f"{folder}: {count} files")
    for name, want in (spec.get("files") or {}).items():
        path = root / name
        if not path.is_file():
            result.problems.append(f"{path}: file missing")
            continue
        expected = (want or {}).get("md5")
        if not expected:
            result.checked.append(f"{name}: present (no checksum recorded)")
            continue
        got = md5(path)
        if got != expected:
            result.problems.append(f"{path}: md5 {got}, expected {expected} (corrupt or a different file)")
        else:
            result.checked.append(f"{name}: md5 ok")
    return result
