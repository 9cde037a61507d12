"""Failures files of --format coco and yolo: the failed detections, in their own format.

A COCO results list with bad detections gets ``<input>.failed.json``: a
results list of exactly the failed detections with an ``_error`` each, which
pycocotools still loads and which, fixed, the same command uploads. A YOLO
folder gets ``<folder>.failed/`` with each failed line under its file's path.
"""

from __future__ import annotations

import json

from PIL import Image
from pycocotools.coco import COCO

from .conftest import COCO_GT_TWO_IMAGES, FormatsEnv


def test_coco_failures_are_a_results_list_that_retries(fenv: FormatsEnv) -> None:
    good = {"image_id": 1, "category_id": 5, "bbox": [1.0, 2.0, 3.0, 4.0], "score": 0.9}
    bad_cat = {"image_id": 2, "category_id": 99, "bbox": [1.0, 2.0, 3.0, 4.0], "score": 0.8}
    bad_box = {"image_id": 2, "category_id": 6, "bbox": [1.0, 2.0, 3.0], "score": 0.7}
    (fenv.tmp / "gt.json").write_text(json.dumps(COCO_GT_TWO_IMAGES))
    (fenv.tmp / "res.json").write_text(json.dumps([good, bad_cat, bad_box]))
    res = fenv.run("res.json", "--format", "coco", "--coco-gt", "gt.json")
    assert res.code == 1, res.stderr
    failed_path = fenv.tmp / "res.failed.json"
    assert res.report()["failures_files"] == ["res.failed.json"]  # as the input was named
    failed = json.loads(failed_path.read_text())
    assert [{k: v for k, v in d.items() if k != "_error"} for d in failed] == [bad_cat, bad_box]
    assert "category id 99" in failed[0]["_error"]
    assert "[x, y, width, height]" in failed[1]["_error"]
    # An independent reader still takes the file (it ignores _error).
    coco = COCO(str(fenv.tmp / "gt.json"))
    fixed = [{**d, "category_id": 6, "bbox": [1.0, 2.0, 3.0, 4.0]} for d in failed]
    failed_path.write_text(json.dumps(fixed))
    assert len(coco.loadRes(str(failed_path)).getAnnIds()) == 2
    again = fenv.run(failed_path, "--format", "coco", "--coco-gt", "gt.json")
    assert again.code == 0, again.stderr
    label = fenv.label("img_0002.jpg")
    assert label is not None
    assert [a["category_id"] for a in label["attributes"]["annotations"]] == [2, 2]


def test_yolo_failures_keep_their_paths(fenv: FormatsEnv) -> None:
    images, labels = fenv.tmp / "images", fenv.tmp / "labels"
    (labels / "val").mkdir(parents=True)
    images.mkdir()
    Image.new("RGB", (64, 48)).save(images / "img_0001.jpg")
    Image.new("RGB", (64, 48)).save(images / "img_0002.jpg")
    (labels / "img_0001.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    (labels / "val" / "img_0002.txt").write_text("0 0.5 0.5 0.2 0.2\n9 0.1 0.1 0.1 0.1\n")
    (fenv.tmp / "data.yaml").write_text("names:\n  0: car\n  1: truck\n")
    res = fenv.run(
        labels, "--format", "yolo", "--yolo-names", "data.yaml", "--images", images,
        "--match", "stem",
    )  # fmt: skip
    assert res.code == 1, res.stderr
    root = fenv.tmp / "labels.failed"
    assert res.report()["failures_files"] == [str(root)]
    assert sorted(p.relative_to(root).as_posix() for p in root.rglob("*.txt")) == [
        "val/img_0002.txt"
    ]
    # The whole label failed: both lines of the file come back, as written.
    assert (root / "val" / "img_0002.txt").read_text() == ("0 0.5 0.5 0.2 0.2\n9 0.1 0.1 0.1 0.1\n")
