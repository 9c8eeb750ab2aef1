"""Site data preparation on a SYNTHETIC COCO-shaped tree (no COCO here): ``acceptance data
manifest | verify | layout``, through the command line a site runs."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from acceptance import cli, datasets
from conftest import ROOT


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("synthetic") / "coco"
    subprocess.run(
        [sys.executable, "-m", "mlperf_maskrcnn", "synth", "--out", str(root), "--train-images", "12",
         "--val-images", "4"], check=True, capture_output=True, timeout=600,
    )  # fmt: skip
    return root


@pytest.fixture
def tree(pristine, tmp_path) -> tuple[Path, Path]:
    """A copy of the synthetic tree and the manifest recorded from it."""
    root = tmp_path / "coco"
    shutil.copytree(pristine, root)
    manifest = tmp_path / "manifest.yaml"
    manifest.write_text(yaml.safe_dump(datasets.manifest_of(root, "SYNTHETIC test tree")))
    return root, manifest


def _verify(capsys, root: Path, manifest: Path, *extra: str) -> tuple[int, list[str]]:
    code = cli.main(["data", "verify", str(root), "--manifest", str(manifest), *extra])
    out = capsys.readouterr().out
    return code, [line.removeprefix("problem: ") for line in out.splitlines() if line.startswith("problem: ")]


def test_intact_tree_verifies_against_its_own_manifest(tree, capsys):
    root, manifest = tree
    code, problems = _verify(capsys, root, manifest)
    assert (code, problems) == (0, [])
    spec = yaml.safe_load(manifest.read_text())
    assert spec["folders"]["val2017"]["files"] == len(list((root / "val2017").glob("*.jpg")))
    assert spec["annotations"] == {
        "annotations/instances_train2017.json": "train2017",
        "annotations/instances_val2017.json": "val2017",
    }


def test_each_missing_or_corrupt_image_is_named(tree, capsys):
    root, manifest = tree
    train = sorted((root / "train2017").glob("*.jpg"))
    val = sorted((root / "val2017").glob("*.jpg"))
    train[0].unlink()  # missing
    data = val[1].read_bytes()
    val[1].write_bytes(data[: len(data) // 2])  # truncated by an interrupted copy
    val[2].write_bytes(b"<html>404 Not Found</html>")  # a failed download saved as the image
    val[3].write_bytes(b"")
    code, problems = _verify(capsys, root, manifest)
    assert code == 1
    assert f"{root / 'train2017'}: {len(train) - 1} files, expected {len(train)}" in problems
    assert f"{train[0]}: image listed in instances_train2017.json but missing" in problems
    assert f"{val[1]}: truncated JPEG (no end-of-image marker)" in problems
    assert f"{val[2]}: not a JPEG (no start-of-image marker)" in problems
    assert f"{val[3]}: empty file" in problems
    assert not any(str(val[0]) in p for p in problems)
    # --quick reads no image: only the count is wrong.
    code, problems = _verify(capsys, root, manifest, "--quick")
    assert code == 1 and problems == [f"{root / 'train2017'}: {len(train) - 1} files, expected {len(train)}"]


def test_corrupt_annotation_and_wrong_weights_are_named(tree, capsys):
    root, manifest = tree
    val_json = root / "annotations" / "instances_val2017.json"
    val_json.write_text(val_json.read_text()[:-40])  # cut short
    weights = root / "models" / "R-50.pkl"
    weights.write_bytes(weights.read_bytes()[:-1] + b"X")
    (root / "annotations" / "instances_train2017.json").write_text(json.dumps({"images": []}))
    code, problems = _verify(capsys, root, manifest)
    assert code == 1
    assert any(p.startswith(f"{val_json}: md5 ") for p in problems)
    assert any(p.startswith(f"{val_json}: not valid JSON (line 1 column") for p in problems)
    assert any(p.startswith(f"{weights}: md5 ") and "corrupt or a different file" in p for p in problems)
    train_json = root / "annotations" / "instances_train2017.json"
    assert f"{train_json}: not a COCO instances file (no list 'annotations', 'categories')" in problems
    train_json.write_text("[1, 2]")
    _, problems = _verify(capsys, root, manifest)
    assert f"{train_json}: not a COCO instances file (a JSON list, not an object)" in problems


def test_missing_or_broken_manifest_is_named(tree, tmp_path, capsys):
    root, _ = tree
    assert cli.main(["data", "verify", str(root), "--manifest", str(tmp_path / "none.yaml")]) == 2
    assert f"manifest {tmp_path / 'none.yaml'}: No such file or directory" in capsys.readouterr().err
    bad = tmp_path / "bad.yaml"
    bad.write_text("folders: [unclosed\n")
    assert cli.main(["data", "verify", str(root), "--manifest", str(bad)]) == 2
    assert f"manifest {bad}: not valid YAML" in capsys.readouterr().err


def test_project_manifest_names_counts_and_the_r50_checksum(tree, capsys):
    root, _ = tree
    code, problems = _verify(capsys, root, ROOT / "resources" / "datasets" / "coco2017.yaml", "--quick")
    assert code == 1
    assert any(p.startswith(f"{root / 'train2017'}: ") and p.endswith("expected 118287") for p in problems)
    assert any(p.startswith(f"{root / 'val2017'}: ") and p.endswith("expected 5000") for p in problems)
    assert any("expected b19105fdd7baafb40480251377de18f2" in p for p in problems)


def test_layout_links_images_copies_the_rest_and_verifies(tree, tmp_path, capsys):
    downloads, manifest = tree
    # A site's downloads: R-50.pkl next to the unpacked folders rather than under models/.
    (downloads / "models" / "R-50.pkl").rename(downloads / "R-50.pkl")
    dest = tmp_path / "project" / "coco"
    assert cli.main(["data", "layout", str(dest), "--from", str(downloads)]) == 0
    assert "next: acceptance data verify" in capsys.readouterr().out
    assert (dest / "train2017").is_symlink() and (dest / "train2017").resolve() == downloads / "train2017"
    assert not (dest / "models" / "R-50.pkl").is_symlink()
    assert (dest / "models" / "R-50.pkl").read_bytes() == (downloads / "R-50.pkl").read_bytes()
    code, problems = _verify(capsys, dest, manifest)
    assert (code, problems) == (0, [])
    # Nothing is overwritten, and a missing source is named.
    assert cli.main(["data", "layout", str(dest), "--from", str(downloads)]) == 2
    assert f"already there, not overwritten: {dest / 'train2017'}" in capsys.readouterr().err
    assert cli.main(["data", "layout", str(tmp_path / "other"), "--from", str(tmp_path / "nowhere")]) == 2
    assert f"train2017 ({tmp_path / 'nowhere' / 'train2017'})" in capsys.readouterr().err
