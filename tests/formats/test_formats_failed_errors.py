"""The error text of each failed detection, next to it in the failures file or folder.

An image's detections make one label, so one bad YOLO line or COCO object
fails the whole image; the failures must say which detection is wrong.
YOLO: ``<folder>.failed/_errors.jsonl`` names each failed line (where it is in
the failures folder, its error, its text, where it came from), and feeding
the fixed folder back reads the txt files only. COCO: each failed object's
``_error`` is its own error, and the file stays readable by pycocotools.
All through the real CLI against the in-process sandbox.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

from PIL import Image
from pycocotools.coco import COCO

from upload_preds.formats import YOLO_ERRORS_FILE

from .conftest import COCO_GT_TWO_IMAGES, FormatsEnv

NOT_OWN = "no error of its own; not uploaded because its image's label failed: "


def _yolo_inputs(tmp: Path) -> tuple[Path, Path]:
    images, labels = tmp / "images", tmp / "labels"
    (labels / "val").mkdir(parents=True)
    images.mkdir()
    for name in ("img_0001.jpg", "img_0002.jpg", "img_0003.jpg", "unknown.jpg"):
        Image.new("RGB", (64, 48)).save(images / name)
    (labels / "img_0001.txt").write_text("0 0.5 0.5 0.2 0.2\n")  # uploads
    (labels / "val" / "img_0002.txt").write_text(
        "0 0.5 0.5 0.2 0.2\n"  # fine, fails with its image
        "7 0.1 0.1 0.1 0.1\n"  # class 7 has no name
        "\n"
        "1 0.3 0.3 0.1\n"  # four values: neither a box nor a segment
    )
    (labels / "img_0003.txt").write_text("1 0.5 0.5 nan 0.2\n")  # the converter refuses NaN
    (labels / "unknown.txt").write_text("0 0.5 0.5 0.2 0.2\n1 0.2 0.2 0.1 0.1\n")  # no sample
    (tmp / "data.yaml").write_text("names:\n  0: car\n  1: truck\n")
    return images, labels


def _sidecar(root: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (root / YOLO_ERRORS_FILE).read_text().splitlines()]


def _retry_args(stderr: str) -> list[str]:
    """The arguments of the retry command the summary printed."""
    (line,) = [ln for ln in stderr.splitlines() if "retry with:" in ln]
    args = shlex.split(line.split("retry with:", 1)[1])
    assert args[0] == "upload-preds"
    return args[1:]


def test_yolo_failures_folder_names_each_line_with_its_error(fenv: FormatsEnv) -> None:
    images, labels = _yolo_inputs(fenv.tmp)
    res = fenv.run(labels, "--format", "yolo", "--yolo-names", "data.yaml", "--images", images)
    assert res.code == 1, res.stderr
    root = fenv.tmp / "labels.failed"
    report = res.report()
    assert report["failures_files"] == [str(root)]
    assert report["counts"] == {"rows": 7, "uploaded": 1, "skipped": 0, "failed": 6}

    entries = _sidecar(root)
    where = [(e["file"], e["line"], e["text"], e["input"]) for e in entries]
    assert where == [
        ("img_0003.txt", 1, "1 0.5 0.5 nan 0.2", f"{labels / 'img_0003.txt'}:1"),
        ("unknown.txt", 1, "0 0.5 0.5 0.2 0.2", f"{labels / 'unknown.txt'}:1"),
        ("unknown.txt", 2, "1 0.2 0.2 0.1 0.1", f"{labels / 'unknown.txt'}:2"),
        ("val/img_0002.txt", 1, "0 0.5 0.5 0.2 0.2", f"{labels / 'val' / 'img_0002.txt'}:1"),
        ("val/img_0002.txt", 2, "7 0.1 0.1 0.1 0.1", f"{labels / 'val' / 'img_0002.txt'}:2"),
        # the blank line 3 is not written back: line 4 becomes line 3
        ("val/img_0002.txt", 3, "1 0.3 0.3 0.1", f"{labels / 'val' / 'img_0002.txt'}:4"),
    ]
    # Each entry's file and line point at its text in the failures folder.
    for e in entries:
        assert (root / e["file"]).read_text().splitlines()[e["line"] - 1] == e["text"]
    errors = {(e["file"], e["line"]): e["error"] for e in entries}
    assert errors[("val/img_0002.txt", 2)].startswith("class: class 7 has no name")
    assert errors[("val/img_0002.txt", 3)].startswith("has 4 values; a box is class cx cy w h")
    # The fine line says so, and names what failed its image.
    fine = errors[("val/img_0002.txt", 1)]
    assert fine.startswith(NOT_OWN), fine
    assert "class 7 has no name" in fine
    assert "has 4 values" in fine
    assert "bbox" in errors[("img_0003.txt", 1)], errors
    assert not errors[("img_0003.txt", 1)].startswith(NOT_OWN)
    # A failure of the whole image (no such sample) is every line's error alike.
    assert errors[("unknown.txt", 1)] == errors[("unknown.txt", 2)]
    assert "no sample named 'unknown.jpg'" in errors[("unknown.txt", 1)]
    for path in root.rglob("*"):
        if path.is_file():
            assert fenv.key not in path.read_text(), path

    # The summary's retry command names the folder, not the sidecar.
    args = _retry_args(res.stderr)
    assert args[0] == str(root)
    assert not any(YOLO_ERRORS_FILE in a for a in args)

    # Fix the lines the sidecar blames, drop the image that has no sample, retry.
    fixes = {"7 0.1 0.1 0.1 0.1": "1 0.1 0.1 0.1 0.1", "1 0.3 0.3 0.1": "1 0.3 0.3 0.1 0.1"}
    fixes["1 0.5 0.5 nan 0.2"] = "1 0.5 0.5 0.25 0.5"
    for e in entries:
        path = root / e["file"]
        if e["file"] == "unknown.txt":
            path.unlink(missing_ok=True)
            continue
        lines = path.read_text().splitlines()
        lines[e["line"] - 1] = fixes.get(e["text"], e["text"])
        path.write_text("".join(line + "\n" for line in lines))
    again = fenv.run(*args)
    assert again.code == 0, again.stderr
    # 4 lines in the txt files: the sidecar's 6 entries were not read as labels.
    assert again.report()["counts"] == {"rows": 4, "uploaded": 4, "skipped": 0, "failed": 0}
    assert not (fenv.tmp / "labels.failed.failed").exists()
    two = fenv.label("img_0002.jpg")
    assert two is not None
    assert sorted(a["category_id"] for a in two["attributes"]["annotations"]) == [1, 2, 2]
    three = fenv.label("img_0003.jpg")
    assert three is not None
    assert three["attributes"]["annotations"][0]["points"] == [[24.0, 12.0], [40.0, 36.0]]

    # Named one by one (as a shell glob would), the sidecar is passed over too.
    named = sorted(str(p) for p in root.rglob("*") if p.is_file())
    assert str(root / YOLO_ERRORS_FILE) in named
    glob = fenv.run(*named, "--format", "yolo", "--yolo-names", "data.yaml", "--images", images)
    assert glob.code == 0, glob.stderr
    assert glob.report()["counts"]["rows"] == 4


def test_coco_failures_carry_each_detections_own_error(fenv: FormatsEnv) -> None:
    fine = {"image_id": 2, "category_id": 5, "bbox": [1.0, 2.0, 3.0, 4.0], "score": 0.9}
    bad_cat = {"image_id": 2, "category_id": 99, "bbox": [5.0, 6.0, 7.0, 8.0], "score": 0.8}
    other = {"image_id": 1, "category_id": 6, "bbox": [1.0, 2.0, 3.0, 4.0], "score": 0.7}
    (fenv.tmp / "gt.json").write_text(json.dumps(COCO_GT_TWO_IMAGES))
    (fenv.tmp / "res.json").write_text(json.dumps([fine, bad_cat, other]))
    res = fenv.run("res.json", "--format", "coco", "--coco-gt", "gt.json")
    assert res.code == 1, res.stderr
    failed_path = fenv.tmp / "res.failed.json"
    failed = json.loads(failed_path.read_text())
    assert [{k: v for k, v in d.items() if k != "_error"} for d in failed] == [fine, bad_cat]
    assert failed[0]["_error"].startswith(NOT_OWN), failed[0]
    assert "category id 99" in failed[0]["_error"]
    assert "category id 99" in failed[1]["_error"]
    assert not failed[1]["_error"].startswith(NOT_OWN)
    assert fenv.key not in failed_path.read_text()
    args = _retry_args(res.stderr)
    assert args[0] == str(failed_path) or args[0] == "res.failed.json"

    # pycocotools reads it as it is (the _error keys included); fixed, it uploads.
    coco = COCO(str(fenv.tmp / "gt.json"))
    assert len(coco.loadRes(str(failed_path)).getAnnIds()) == 2
    failed_path.write_text(json.dumps([failed[0], {**failed[1], "category_id": 6}]))
    again = fenv.run(*args)
    assert again.code == 0, again.stderr
    label = fenv.label("img_0002.jpg")
    assert label is not None
    assert sorted(a["category_id"] for a in label["attributes"]["annotations"]) == [1, 2]


def test_yolo_failures_folder_of_a_rerun_drops_lines_that_fail_no_more(fenv: FormatsEnv) -> None:
    images, labels = _yolo_inputs(fenv.tmp)
    args = (labels, "--format", "yolo", "--yolo-names", "data.yaml", "--images", images)
    assert fenv.run(*args).code == 1
    root = fenv.tmp / "labels.failed"
    assert {e["file"] for e in _sidecar(root)} == {
        "img_0003.txt",
        "unknown.txt",
        "val/img_0002.txt",
    }
    (root / "mine.txt").write_text("0 0.5 0.5 0.2 0.2\n")  # not ours: must stay
    # The model is fixed for two images; the original command runs again.
    (labels / "val" / "img_0002.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    (labels / "img_0003.txt").write_text("1 0.5 0.5 0.25 0.5\n")
    res = fenv.run(*args)
    assert res.code == 1, res.stderr
    assert res.report()["counts"] == {"rows": 5, "uploaded": 2, "skipped": 1, "failed": 2}
    assert [(e["file"], e["line"]) for e in _sidecar(root)] == [
        ("unknown.txt", 1),
        ("unknown.txt", 2),
    ]
    # The retry would read exactly the lines that still fail (and the user's own file).
    txt = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.txt"))
    assert txt == ["mine.txt", "unknown.txt"]
