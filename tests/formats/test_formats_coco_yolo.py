"""COCO and YOLO predictions through the real CLI into the sandbox.

COCO results in the shapes common frameworks emit are cross-checked against
pycocotools (``COCO.loadRes``) as an independent reader: the boxes and
polygons the sandbox stored must be the ones pycocotools reads from the same
files. YOLO files follow the Ultralytics layout, with and without confidences
and segments; pixel sizes come from the images' headers.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from pycocotools.coco import COCO

from upload_preds.matching import Matcher
from upload_preds.preflight import SampleIndex

from .conftest import CATEGORIES, FormatsEnv

# COCO ids deliberately differ from the dataset's (car is 3 here, 1 in the dataset).
GT = {
    "images": [
        {"id": 11, "file_name": "img_0001.jpg", "width": 640, "height": 480},
        {"id": 12, "file_name": "img_0002.jpg", "width": 640, "height": 480},
        {"id": 13, "file_name": "val/img_0004.png", "width": 320, "height": 240},
    ],
    "categories": [
        {"id": 3, "name": "car"},
        {"id": 8, "name": "truck"},
        {"id": 1, "name": "person"},
    ],
    "annotations": [],
}


def detectron2() -> list[dict[str, Any]]:
    return [
        {"image_id": 11, "category_id": 3, "bbox": [10.5, 20.25, 100.0, 50.0], "score": 0.98},
        {"image_id": 12, "category_id": 8, "bbox": [0.0, 0.0, 30.0, 40.0], "score": 0.51},
        {"image_id": 11, "category_id": 1, "bbox": [200.0, 100.0, 20.0, 60.0], "score": 0.7},
    ]


def mmdet_polygons() -> list[dict[str, Any]]:
    return [
        {
            "image_id": 11,
            "category_id": 3,
            "bbox": [10.0, 20.0, 30.0, 30.0],
            "score": 0.9,
            "segmentation": [[10.0, 20.0, 40.0, 20.0, 40.0, 50.0, 10.0, 50.0]],
        },
        {
            "image_id": 13,
            "category_id": 1,
            "bbox": [1.0, 2.0, 3.0, 4.0],
            "score": 0.4,
            "segmentation": [[1.0, 2.0, 4.0, 2.0, 4.0, 6.0], [5.0, 5.0, 9.0, 5.0, 9.0, 9.0]],
        },
    ]


def ultralytics() -> list[dict[str, Any]]:
    # Ultralytics save_json rounds to 3 decimals and keys images by id.
    return [
        {"image_id": 13, "category_id": 8, "bbox": [12.345, 6.789, 50.5, 20.25], "score": 0.876},
        {"image_id": 13, "category_id": 3, "bbox": [100.0, 100.0, 10.0, 10.0], "score": 0.301},
    ]


def torchvision() -> list[dict[str, Any]]:
    # torchvision's reference evaluation converts xyxy to xywh and emits ints for labels.
    return [
        {"image_id": 12, "category_id": 1, "bbox": [5.0, 6.0, 7.0, 8.0], "score": 0.66},
    ]


def expected_from_pycocotools(gt_path: Path, results: list[dict[str, Any]]) -> dict[str, Any]:
    """file name → sorted shapes, as pycocotools reads them (the independent reader)."""
    coco = COCO(str(gt_path))
    dt = coco.loadRes(copy.deepcopy(results))  # loadRes adds keys to what it is given
    by_file: dict[str, list[tuple[Any, ...]]] = {}
    dataset_id = {c["name"]: c["id"] for c in CATEGORIES}
    for ann in dt.loadAnns(dt.getAnnIds()):
        name = coco.loadImgs(ann["image_id"])[0]["file_name"]
        cat = dataset_id[coco.loadCats(ann["category_id"])[0]["name"]]
        seg = ann.get("segmentation")
        shapes = by_file.setdefault(name, [])
        # loadRes numbers the results 1, 2, ... in order and adds a box polygon to
        # box-only results: only a polygon the result itself carried is a polygon.
        if isinstance(seg, list) and "segmentation" in results[ann["id"] - 1]:
            for part in seg:
                pts = [(round(part[k], 3), round(part[k + 1], 3)) for k in range(0, len(part), 2)]
                shapes.append((cat, "polygon", tuple(pts)))
        else:
            x, y, w, h = ann["bbox"]
            box = ((round(x, 3), round(y, 3)), (round(x + w, 3), round(y + h, 3)))
            shapes.append((cat, "bbox", box))
    return {k: sorted(v) for k, v in by_file.items()}


def stored_shapes(label: dict[str, Any]) -> list[tuple[Any, ...]]:
    out = []
    for a in label["attributes"]["annotations"]:
        pts = tuple((round(p[0], 3), round(p[1], 3)) for p in a["points"])
        out.append((a["category_id"], a["type"], pts))
    return sorted(out)


@pytest.mark.parametrize(
    "results",
    [detectron2(), mmdet_polygons(), ultralytics(), torchvision()],
    ids=["detectron2", "mmdetection-polygons", "ultralytics", "torchvision"],
)
def test_coco_results_match_pycocotools(fenv: FormatsEnv, results: list[dict[str, Any]]) -> None:
    gt = fenv.tmp / "instances.json"
    gt.write_text(json.dumps(GT))
    res_path = fenv.tmp / "results.json"
    res_path.write_text(json.dumps(results))
    res = fenv.run(res_path, "--format", "coco", "--coco-gt", gt, "--match", "path")
    assert res.code == 0, res.stderr
    assert res.report()["counts"]["uploaded"] == len(results)
    expected = expected_from_pycocotools(gt, results)
    for name, shapes in expected.items():
        label = fenv.label(name)
        assert label is not None, name
        assert stored_shapes(label) == shapes, name
        assert label["label_status"] == "PRELABELED"


def test_coco_instances_file_as_predictions(fenv: FormatsEnv) -> None:
    doc = dict(GT)
    doc["annotations"] = [
        {"id": 1, "image_id": 12, "category_id": 3, "bbox": [1, 2, 3, 4], "area": 12, "iscrowd": 0}
    ]
    path = fenv.tmp / "instances_pred.json"
    path.write_text(json.dumps(doc))
    res = fenv.run(path, "--format", "coco")
    assert res.code == 0, res.stderr
    label = fenv.label("img_0002.jpg")
    assert label is not None
    assert stored_shapes(label) == [(1, "bbox", ((1, 2), (4, 6)))]


def test_coco_mismatches_are_counted_or_fail_clearly(fenv: FormatsEnv) -> None:
    gt = dict(GT)
    gt["images"] = [
        *GT["images"],
        {"id": 14, "file_name": "  img_0003.jpg ", "width": 9, "height": 9},
    ]
    gt["images"].append({"id": 15, "file_name": "missing.jpg", "width": 9, "height": 9})
    gt["categories"] = [*GT["categories"], {"id": 20, "name": "dog"}, {"id": 21, "name": "Truck"}]
    (fenv.tmp / "gt.json").write_text(json.dumps(gt))
    results = [
        {"image_id": 14, "category_id": 3, "bbox": [1, 1, 2, 2], "score": 0.5},  # whitespace
        {"image_id": 11, "category_id": 0, "bbox": [1, 1, 2, 2], "score": 0.5},  # id 0
        {"image_id": 12, "category_id": 20, "bbox": [1, 1, 2, 2], "score": 0.5},  # unknown
        {"image_id": 15, "category_id": 3, "bbox": [1, 1, 2, 2], "score": 0.5},  # no sample
        {"image_id": 13, "category_id": 21, "bbox": [1, 1, 2, 2], "score": 0.5},  # case only
    ]
    (fenv.tmp / "r.json").write_text(json.dumps(results))
    res = fenv.run("r.json", "--format", "coco", "--coco-gt", "gt.json", "--match", "path")
    assert res.code == 1
    report = res.report()
    failed = report["failed_by_reason"]
    assert failed == {"unknown COCO category id": 1, "unknown category": 1, "unknown sample": 1}
    examples = json.dumps(report["failure_examples"])
    assert "r.json:2: category_id: category id 0" in examples
    assert "r.json:3" in examples
    assert "'dog'" in examples
    assert "missing.jpg" in examples
    dry = fenv.run("r.json", "--format", "coco", "--coco-gt", "gt.json", "--dry-run")
    assert "class 'Truck' was taken for category 'truck' (the case differs)" in dry.stderr
    assert fenv.label("img_0003.jpg") is not None
    assert report["counts"]["uploaded"] == 2
    # The same with the unknown class skipped on purpose and id 0 fixed.
    results[1]["category_id"] = 3
    (fenv.tmp / "r.json").write_text(json.dumps(results[:3]))
    res = fenv.run(
        "r.json", "--format", "coco", "--coco-gt", "gt.json", "--skip-unknown-categories"
    )
    assert res.code == 0, res.stderr
    assert res.report()["skipped_by_reason"]["unknown category skipped"] == 1


@pytest.mark.parametrize(
    ("map_text", "suffix"),
    [('{"dog": "car", "person": null}', ".json"), ("model,dataset\ndog,car\nperson,\n", ".csv")],
    ids=["json-map", "csv-map"],
)
def test_category_map_renames_and_drops(fenv: FormatsEnv, map_text: str, suffix: str) -> None:
    gt = dict(GT)
    gt["categories"] = [*GT["categories"], {"id": 20, "name": "dog"}]
    (fenv.tmp / "gt.json").write_text(json.dumps(gt))
    results = [
        {"image_id": 11, "category_id": 20, "bbox": [1, 1, 2, 2], "score": 0.5},
        {"image_id": 11, "category_id": 1, "bbox": [1, 1, 2, 2], "score": 0.5},
    ]
    (fenv.tmp / "r.json").write_text(json.dumps(results))
    (fenv.tmp / f"map{suffix}").write_text(map_text)
    res = fenv.run(
        "r.json", "--format", "coco", "--coco-gt", "gt.json", "--category-map", f"map{suffix}"
    )
    assert res.code == 0, res.stderr
    report = res.report()
    assert report["skipped_by_reason"] == {"category mapped to null": 1}
    assert report["counts"] == {"rows": 2, "uploaded": 1, "skipped": 1, "failed": 0}
    label = fenv.label("img_0001.jpg")
    assert label is not None
    assert [a["category_id"] for a in label["attributes"]["annotations"]] == [1]


def write_yolo(root: Path) -> tuple[Path, Path, Path]:
    images, labels = root / "images", root / "labels"
    (images / "val").mkdir(parents=True)
    labels.mkdir()
    Image.new("RGB", (640, 480)).save(images / "img_0001.jpg")
    Image.new("RGB", (200, 100)).save(images / "img_0002.jpg")
    Image.new("RGB", (320, 240)).save(images / "val" / "img_0004.png")
    (labels / "img_0001.txt").write_text("0 0.5 0.5 0.25 0.5\n1 0.1 0.1 0.1 0.1\n")
    (labels / "img_0002.txt").write_text("2 0.5 0.5 0.5 0.5 0.875\n")
    (labels / "img_0004.txt").write_text(
        "0 0.1 0.1 0.5 0.1 0.5 0.5 0.9\n1 0.1 0.1 0.2 0.1 0.2 0.2\n"
    )
    data = root / "data.yaml"
    data.write_text("path: .\nnames:\n  0: car\n  1: truck\n  2: person\n")
    return images, labels, data


def test_yolo_ultralytics_layout(fenv: FormatsEnv) -> None:
    images, labels, data = write_yolo(fenv.tmp)
    res = fenv.run(
        labels, "--format", "yolo", "--yolo-names", data, "--images", images, "--match", "stem"
    )
    assert res.code == 0, res.stderr
    assert res.report()["counts"]["uploaded"] == 5
    one = fenv.label("img_0001.jpg")
    assert one is not None
    assert stored_shapes(one) == [
        (1, "bbox", ((240.0, 120.0), (400.0, 360.0))),
        (2, "bbox", ((32.0, 24.0), (96.0, 72.0))),
    ]
    two = fenv.label("img_0002.jpg")
    assert two is not None
    assert stored_shapes(two) == [(3, "bbox", ((50.0, 25.0), (150.0, 75.0)))]
    four = fenv.label("val/img_0004.png")
    assert four is not None
    assert stored_shapes(four) == [
        (1, "polygon", ((32.0, 24.0), (160.0, 24.0), (160.0, 120.0))),
        (2, "polygon", ((32.0, 24.0), (64.0, 24.0), (64.0, 48.0))),
    ]


def test_yolo_names_file_and_missing_image(fenv: FormatsEnv) -> None:
    images, labels, _data = write_yolo(fenv.tmp)
    names = fenv.tmp / "classes.names"
    names.write_text("car\ntruck\nperson\n")
    (labels / "img_0003.txt").write_text("0 0.5 0.5 0.1 0.1\n")  # no image in --images
    (labels / "other.txt").write_text("7 0.5 0.5 0.1 0.1\n")  # class 7 has no name
    Image.new("RGB", (10, 10)).save(images / "other.jpg")
    res = fenv.run(labels, "--format", "yolo", "--yolo-names", names, "--images", images)
    assert res.code == 1
    report = res.report()
    assert report["failed_by_reason"] == {"image not found": 1, "unknown YOLO class": 1}
    examples = json.dumps(report["failure_examples"])
    assert "img_0003.txt:1" in examples
    assert "no image named img_0003" in examples
    assert "other.txt:1: class: class 7 has no name" in examples


def test_unmatched_stems_suggest_the_closest_samples(fenv: FormatsEnv) -> None:
    gt = dict(GT)
    gt["images"] = [{"id": 1, "file_name": "img_001.jpg", "width": 9, "height": 9}]
    (fenv.tmp / "gt.json").write_text(json.dumps(gt))
    (fenv.tmp / "r.json").write_text(
        json.dumps([{"image_id": 1, "category_id": 3, "bbox": [1, 1, 2, 2], "score": 0.5}])
    )
    res = fenv.run("r.json", "--format", "coco", "--coco-gt", "gt.json", "--match", "stem")
    assert res.code == 1
    assert "0 match a sample, 1 do not" in res.stderr
    examples = json.dumps(res.report()["failure_examples"])
    assert "no sample in test/det matches 'img_001.jpg' by file stem" in examples
    assert "img_0001.jpg" in examples
    dry = fenv.run("r.json", "--format", "coco", "--coco-gt", "gt.json", "--dry-run")
    assert "0 match a sample, 1 do not" in dry.stderr


def index_of(names: list[str]) -> SampleIndex:
    index = SampleIndex()
    for i, n in enumerate(names):
        index.add({"uuid": f"u{i}", "name": n})
    return index


@pytest.mark.parametrize(
    ("mode", "key", "expected"),
    [
        ("name", " a/img_1.jpg  ", "u0"),
        ("name", "img_1.jpg", None),
        ("stem", "x/y/img_1.png", "u0"),
        ("stem", "img_2", None),  # two samples share the stem
        ("path", "./a/img_1.jpg", "u0"),
        ("path", "root/a/img_1.jpg", "u0"),
        ("path", "b\\img_2.jpg", "u1"),
        ("path", "img_2.jpg", "u1"),
        ("uuid", "u2.jpg", "u2"),
        ("uuid", "nope", None),
    ],
    ids=lambda v: str(v),
)
def test_matcher_modes(mode: Any, key: str, expected: str | None) -> None:
    matcher = Matcher(index_of(["a/img_1.jpg", "b/img_2.jpg", "c/img_2.png"]), mode)
    assert matcher.uuid_for(key) == expected
