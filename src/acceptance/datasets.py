"""Site data preparation: verify a COCO 2017 tree against a manifest (``resources/datasets``),
write a manifest from a verified tree, and lay out the ``/coco`` tree both implementations read.
Torch-free: it runs on a login node.

The tree::

    annotations/instances_train2017.json  annotations/instances_val2017.json
    train2017/*.jpg  val2017/*.jpg  models/R-50.pkl
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from mlperf_maskrcnn.resources import resource

# Names listed one by one before the rest are only counted.
MAX_NAMED = 20
# JPEG start-of-image; a complete file ends with end-of-image (trailing padding is tolerated).
_SOI = b"\xff\xd8"
_EOI = b"\xff\xd9"
_TAIL = 64


@dataclass
class Verification:
    root: str
    problems: list[str] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def manifest_path(name: str = "coco2017") -> Path:
    return resource("datasets", f"{name}.yaml")


def md5(path: Path, chunk: int = 1 << 22) -> str:
    digest = hashlib.md5()
    with path.open("rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _named(paths: list[str], what: str) -> list[str]:
    """One problem per path for the first MAX_NAMED, then one line counting the rest."""
    lines = [f"{p}: {what}" for p in paths[:MAX_NAMED]]
    if len(paths) > MAX_NAMED:
        lines.append(f"... and {len(paths) - MAX_NAMED} more {what}")
    return lines


def read_manifest(path: Path) -> dict:
    try:
        spec = yaml.safe_load(path.read_text())
    except OSError as err:
        raise ValueError(f"manifest {path}: {err.strerror}") from err
    except yaml.YAMLError as err:
        raise ValueError(f"manifest {path}: not valid YAML ({err})") from err
    if not isinstance(spec, dict):
        raise ValueError(f"manifest {path}: expected a mapping with folders/files/annotations")
    return spec


def jpeg_problem(path: Path) -> str:
    """'' for a file that starts and ends as a JPEG does; else what is wrong with it."""
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            head = handle.read(2)
            handle.seek(max(0, size - _TAIL))
            tail = handle.read(_TAIL)
    except OSError as err:
        return f"unreadable ({err.strerror})"
    if size == 0:
        return "empty file"
    if head != _SOI:
        return "not a JPEG (no start-of-image marker)"
    if _EOI not in tail:
        return "truncated JPEG (no end-of-image marker)"
    return ""


def _read_annotations(path: Path, result: Verification) -> dict | None:
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        result.problems.append(f"{path}: not valid JSON (line {err.lineno} column {err.colno}: {err.msg})")
        return None
    except (OSError, UnicodeDecodeError) as err:
        result.problems.append(f"{path}: unreadable ({err})")
        return None
    if not isinstance(data, dict):
        result.problems.append(f"{path}: not a COCO instances file (a JSON {type(data).__name__}, not an object)")
        return None
    missing = [k for k in ("images", "annotations", "categories") if not isinstance(data.get(k), list)]
    if missing:
        result.problems.append(f"{path}: not a COCO instances file (no list {', '.join(map(repr, missing))})")
        return None
    bad = [str(n) for n, im in enumerate(data["images"]) if not isinstance(im, dict) or "file_name" not in im]
    if bad:
        result.problems.append(f"{path}: images[{bad[0]}] has no file_name ({len(bad)} such entries)")
        return None
    return data


def verify(
    root: str | Path, manifest: str | Path | None = None, images: bool = True, workers: int = 16
) -> Verification:
    """Every missing folder or file, wrong count and wrong checksum, each named; with ``images``,
    every image an annotation file lists but the tree lacks, and every image file that is not a
    whole JPEG."""
    root = Path(root)
    spec = read_manifest(Path(manifest or manifest_path()))
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
        _progress(f"md5 {path} ...")
        got = md5(path)
        if got != expected:
            result.problems.append(f"{path}: md5 {got}, expected {expected} (corrupt or a different file)")
        else:
            result.checked.append(f"{name}: md5 ok")
    if images:
        for name, folder in (spec.get("annotations") or {}).items():
            _check_images(root, root / name, root / folder, result, workers)
    return result


def _check_images(root: Path, annotation: Path, folder: Path, result: Verification, workers: int) -> None:
    if not annotation.is_file() or not folder.is_dir():
        return  # already named above
    _progress(f"reading {annotation} ...")
    data = _read_annotations(annotation, result)
    if data is None:
        return
    listed = [im["file_name"] for im in data["images"]]
    present = {p.name for p in folder.iterdir()}
    missing = [str(folder / n) for n in listed if n not in present]
    result.problems += _named(missing, f"image listed in {annotation.name} but missing")
    paths = [folder / n for n in listed if n in present]
    broken: list[str] = []
    done = 0
    with ThreadPoolExecutor(max_workers=workers) as pool:  # file-system latency, not CPU, bounds this
        for path, why in zip(paths, pool.map(jpeg_problem, paths, chunksize=256)):
            done += 1
            if why:
                broken.append(f"{path}: {why}")
            if done % 10000 == 0:
                _progress(f"  {folder.name}: {done}/{len(paths)} images read")
    result.problems += broken[:MAX_NAMED]
    if len(broken) > MAX_NAMED:
        result.problems.append(f"... and {len(broken) - MAX_NAMED} more broken images in {folder}")
    if not missing and not broken:
        result.checked.append(f"{folder.relative_to(root)}: all {len(listed)} images of {annotation.name} whole")


def manifest_of(root: str | Path, source: str) -> dict:
    """The manifest of a tree as it is (counts and checksums), to record a verified copy."""
    root = Path(root)
    spec: dict = {"source": source, "folders": {}, "files": {}, "annotations": {}}
    for split in ("train2017", "val2017"):
        if (root / split).is_dir():
            spec["folders"][split] = {"files": sum(1 for p in (root / split).iterdir() if p.suffix == ".jpg"),
                                      "suffix": ".jpg"}  # fmt: skip
            annotation = f"annotations/instances_{split}.json"
            if (root / annotation).is_file():
                spec["annotations"][annotation] = split
    for name in [*spec["annotations"], "models/R-50.pkl"]:
        if (root / name).is_file():
            _progress(f"md5 {root / name} ...")
            spec["files"][name] = {"md5": md5(root / name)}
    return spec


@dataclass
class Sources:
    """Where the site's downloads are; any left empty are looked up under ``base``."""

    base: Path | None = None
    train2017: Path | None = None
    val2017: Path | None = None
    annotations: Path | None = None
    weights: Path | None = None

    def resolve(self) -> dict[str, Path]:
        base = self.base
        found = {
            "train2017": self.train2017 or (base / "train2017" if base else None),
            "val2017": self.val2017 or (base / "val2017" if base else None),
            "annotations": self.annotations or (base / "annotations" if base else None),
            "weights": self.weights or _first(base, ("R-50.pkl", "models/R-50.pkl")),
        }
        missing = [f"{k} ({v or 'not given'})" for k, v in found.items() if v is None or not Path(v).exists()]
        if missing:
            raise ValueError("data layout: not found: " + ", ".join(missing) + " (give --from DIR or each path)")
        return {k: Path(v) for k, v in found.items()}


def _first(base: Path | None, names: tuple[str, ...]) -> Path | None:
    if base is None:
        return None
    return next((base / n for n in names if (base / n).is_file()), None)


def layout(dest: str | Path, sources: Sources, log: Callable[[str], None] = print) -> Path:
    """Make the ``/coco`` tree at ``dest``: the image folders as symbolic links (no image is
    copied; the check binds their targets into the container), the annotation files and the
    weights copied (small, read at start-up). Refuses to overwrite anything already there."""
    dest = Path(dest)
    found = sources.resolve()
    (dest / "annotations").mkdir(parents=True, exist_ok=True)
    (dest / "models").mkdir(exist_ok=True)
    plan = [(dest / "train2017", found["train2017"]), (dest / "val2017", found["val2017"])]
    copies = [(dest / "annotations" / f"instances_{s}2017.json", found["annotations"] / f"instances_{s}2017.json")
              for s in ("train", "val")]  # fmt: skip
    copies.append((dest / "models" / "R-50.pkl", found["weights"]))
    clashes = [str(p) for p, _ in plan + copies if p.exists() or p.is_symlink()]
    if clashes:
        raise ValueError("data layout: already there, not overwritten: " + ", ".join(clashes))
    absent = [str(s) for _, s in copies if not s.is_file()]
    if absent:
        raise ValueError("data layout: not found: " + ", ".join(absent))
    for link, target in plan:
        link.symlink_to(target.resolve(), target_is_directory=True)
        log(f"link {link} -> {target.resolve()}")
    for copy, source in copies:
        shutil.copyfile(source, copy)
        log(f"copy {source} -> {copy} ({os.path.getsize(copy) / 1e6:.1f} MB)")
    return dest
