"""Detector files and the platform's own example, taken as written (issue 12).

Each test uploads through the real CLI into the sandbox and reads back with the
official SDK (``client.get_label``) or checks against pycocotools:

* the platform's prediction example (complete attributes, bbox corners
  ``[[12.34, 56.78], [90.12, 34.56]]``) uploads with ordered corners, and the
  plan counts the swaps;
* COCO, YOLO and shorthand detections get the mean of their kept annotation
  scores as the label score by default (``--score-from`` changes it);
* cocoapi's segm results (RLE, no ``bbox``) get their mask's extent, as
  pycocotools' ``loadRes``/``toBbox`` derive it;
* a COCO file read without ``--format coco`` is one clear file error;
* ``--version``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pycocotools.mask as mask_utils
import pytest
import segments
from PIL import Image
from pycocotools.coco import COCO

from clikit import write_jsonl
from upload_preds.formats.coco import mask_box
from upload_preds.masks import MaskError, rle_box
from upload_preds.sandbox.cli import main as sandbox_main

from .conftest import NAMESPACE, FormatsEnv
from .formatskit import sample_uuid

GT = {
    "images": [
        {"id": 11, "file_name": "img_0001.jpg", "width": 64, "height": 48},
        {"id": 12, "file_name": "img_0002.jpg", "width": 64, "height": 48},
    ],
    "categories": [{"id": 3, "name": "car"}, {"id": 8, "name": "truck"}],
    "annotations": [],
}


def sdk(env: FormatsEnv) -> segments.SegmentsClient:
    return segments.SegmentsClient(api_key=env.key, api_url=env.sandbox.url)


def sdk_label(env: FormatsEnv, name: str, labelset: str = "ground-truth") -> Any:
    return sdk(env).get_label(sample_uuid(NAMESPACE, name), labelset)


# --- 1. the platform's own prediction example ---------------------------------------------


def platform_example_rows() -> list[dict[str, Any]]:
    """The two examples of the platform's "Upload model predictions" page, as printed
    there (docs.segments.ai, guides/upload-model-predictions), one per row: in
    ground-truth, and in a named label set with ``score = 0.92``. Only the sample uuid
    is the sandbox's."""
    attributes = {
        "format_version": "0.1",
        "annotations": [
            {
                "id": 1,
                "category_id": 1,
                "type": "bbox",
                "points": [[12.34, 56.78], [90.12, 34.56]],
            }
        ],
    }
    uuid = sample_uuid(NAMESPACE, "img_0001.jpg")
    return [
        {"sample_uuid": uuid, "labelset": "ground-truth", "attributes": attributes},
        {
            "sample_uuid": uuid,
            "labelset": "name-of-your-labelset",
            "attributes": attributes,
            "score": 0.92,
        },
    ]


def test_the_platforms_prediction_example_uploads_with_ordered_corners(
    fenv: FormatsEnv,
) -> None:
    preds = write_jsonl(fenv.tmp / "example.jsonl", platform_example_rows())
    plan = fenv.run(preds, "--dry-run", "--create-labelset")
    assert plan.code == 0, plan.stderr
    assert "bbox corners reordered  2" in plan.stderr
    assert plan.report()["annotations"]["bbox_corners_reordered"] == 2

    res = fenv.run(preds, "--create-labelset")
    assert res.code == 0, res.stderr
    assert res.report()["counts"]["uploaded"] == 2
    for labelset, score in (("ground-truth", None), ("name-of-your-labelset", 0.92)):
        label = sdk_label(fenv, "img_0001.jpg", labelset)
        (ann,) = label.attributes.annotations
        assert ann.type == "bbox"
        assert ann.points == [[12.34, 34.56], [90.12, 56.78]], labelset
        assert label.score == score
        assert getattr(label.label_status, "value", label.label_status) == "PRELABELED"


# --- 2. a label score for detector output ----------------------------------------------------


def coco_results() -> list[dict[str, Any]]:
    return [
        {"image_id": 11, "category_id": 3, "bbox": [1.0, 2.0, 10.0, 5.0], "score": 0.98},
        {"image_id": 11, "category_id": 8, "bbox": [20.0, 2.0, 10.0, 5.0], "score": 0.7},
        {"image_id": 11, "category_id": 8, "bbox": [30.0, 2.0, 10.0, 5.0], "score": 0.1},
        {"image_id": 12, "category_id": 3, "bbox": [0.0, 0.0, 30.0, 40.0], "score": 0.51},
    ]


def write_coco(env: FormatsEnv) -> tuple[Path, Path]:
    gt = env.tmp / "instances.json"
    gt.write_text(json.dumps(GT))
    res = env.tmp / "results.json"
    res.write_text(json.dumps(coco_results()))
    return gt, res


@pytest.mark.parametrize(
    ("flags", "one", "two"),
    [
        ((), (0.98 + 0.7 + 0.1) / 3, 0.51),
        (("--min-score", "0.5"), (0.98 + 0.7) / 2, 0.51),
        (("--score-from", "max"), 0.98, 0.51),
        (("--score-from", "min"), 0.1, 0.51),
        (("--score-from", "none"), None, None),
    ],
    ids=["default-mean", "mean-of-kept", "max", "min", "none"],
)
def test_coco_results_get_a_label_score(
    fenv: FormatsEnv, flags: tuple[str, ...], one: float | None, two: float | None
) -> None:
    gt, results = write_coco(fenv)
    res = fenv.run(results, "--format", "coco", "--coco-gt", gt, *flags)
    assert res.code == 0, res.stderr
    report = res.report()
    rule = flags[1] if flags[:1] == ("--score-from",) else "mean"
    assert report["labels"]["score_from"] == rule
    assert report["labels"]["scores_derived"] == (0 if rule == "none" else 2)
    assert f"--score-from {rule}" in res.stderr  # the summary names the rule
    for name, want in (("img_0001.jpg", one), ("img_0002.jpg", two)):
        score = sdk_label(fenv, name).score
        if want is None:
            assert score is None
        else:
            assert score == pytest.approx(want), name


def test_yolo_confidences_give_the_mean_score(fenv: FormatsEnv) -> None:
    images, labels = fenv.tmp / "images", fenv.tmp / "labels"
    images.mkdir()
    labels.mkdir()
    Image.new("RGB", (64, 48)).save(images / "img_0001.jpg")
    Image.new("RGB", (64, 48)).save(images / "img_0002.jpg")
    (labels / "img_0001.txt").write_text("0 0.5 0.5 0.25 0.5 0.9\n1 0.2 0.2 0.1 0.1 0.4\n")
    (labels / "img_0002.txt").write_text("2 0.5 0.5 0.5 0.5\n")  # no confidences
    names = fenv.tmp / "data.yaml"
    names.write_text("names:\n  0: car\n  1: truck\n  2: person\n")
    res = fenv.run(labels, "--format", "yolo", "--yolo-names", names, "--images", images)
    assert res.code == 0, res.stderr
    assert res.report()["labels"]["scores_derived"] == 1
    assert sdk_label(fenv, "img_0001.jpg").score == pytest.approx(0.65)
    assert sdk_label(fenv, "img_0002.jpg").score is None


def test_shorthand_rows_get_the_mean_score_and_their_own_wins(fenv: FormatsEnv) -> None:
    box = [1.0, 2.0, 10.0, 20.0]
    rows = [
        {
            "sample_name": "img_0001.jpg",
            "annotations": [
                {"category": "car", "bbox": box, "score": 0.8},
                {"category": "truck", "bbox": box, "score": 0.3},
            ],
        },
        {
            "sample_name": "img_0002.jpg",
            "score": 0.05,
            "annotations": [{"category": "car", "bbox": box, "score": 0.8}],
        },
    ]
    res = fenv.run(write_jsonl(fenv.tmp / "preds.jsonl", rows))
    assert res.code == 0, res.stderr
    assert sdk_label(fenv, "img_0001.jpg").score == pytest.approx(0.55)
    assert sdk_label(fenv, "img_0002.jpg").score == 0.05
    plan = fenv.run(write_jsonl(fenv.tmp / "preds.jsonl", rows), "--dry-run")
    assert "1 label scored by the mean of their kept annotation scores" in plan.stderr


# --- 3. cocoapi's segm results: RLE and no bbox -----------------------------------------------


def segm_results() -> list[dict[str, Any]]:
    """Results as cocoapi's own segm example writes them: compressed RLE, no bbox."""
    out = []
    for image_id, cid, (y0, y1, x0, x1), score in (
        (11, 3, (5, 20, 3, 9), 0.9),
        (11, 8, (0, 48, 40, 41), 0.6),  # a one-pixel-wide full-height stripe
        (12, 3, (10, 11, 0, 64), 0.8),  # one row across every column
    ):
        m = np.zeros((48, 64), dtype=np.uint8)
        m[y0:y1, x0:x1] = 1
        m[y0 + 1 : y1, x0] = 0  # not a plain rectangle: a notch down its left column
        rle = mask_utils.encode(np.asfortranarray(m))
        rle["counts"] = rle["counts"].decode("ascii")
        out.append({"image_id": image_id, "category_id": cid, "segmentation": rle, "score": score})
    return out


def test_rle_results_without_bbox_get_the_masks_extent(fenv: FormatsEnv) -> None:
    gt = fenv.tmp / "instances.json"
    gt.write_text(json.dumps(GT))
    results = fenv.tmp / "segm.json"
    results.write_text(json.dumps(segm_results()))
    res = fenv.run(results, "--format", "coco", "--coco-gt", gt)
    assert res.code == 0, res.stderr
    assert res.report()["counts"]["uploaded"] == 3
    # pycocotools' loadRes derives each missing bbox with toBbox: the independent check.
    coco = COCO(str(gt)).loadRes(str(results))
    expected: dict[str, list[tuple[int, list[list[float]]]]] = {}
    cat_ids = {3: 1, 8: 2}  # COCO id → the dataset's id, by name (car, truck)
    for ann in coco.dataset["annotations"]:
        x, y, w, h = ann["bbox"]
        name = coco.imgs[ann["image_id"]]["file_name"]
        expected.setdefault(name, []).append(
            (cat_ids[ann["category_id"]], [[x, y], [x + w, y + h]])
        )
    for name, boxes in expected.items():
        label = sdk_label(fenv, name)
        got = [(a.category_id, a.points) for a in label.attributes.annotations]
        assert sorted(got) == sorted(boxes), name


@pytest.mark.parametrize("compressed", [True, False])
def test_rle_box_matches_pycocotools(compressed: bool) -> None:
    rng = np.random.default_rng(12)
    for _ in range(40):
        h, w = (int(v) for v in rng.integers(1, 30, size=2))
        m = (rng.random((h, w)) < rng.random() * 0.2).astype(np.uint8)
        rle = mask_utils.encode(np.asfortranarray(m))
        if compressed:
            ours = {"size": [h, w], "counts": rle["counts"].decode("ascii")}
        else:  # uncompressed counts, runs over the column-major pixels
            flat = m.flatten(order="F").tolist()
            counts, cur, run = [], 0, 0
            for v in flat:
                if v != cur:
                    counts.append(run)
                    cur, run = v, 0
                run += 1
            counts.append(run)
            ours = {"size": [h, w], "counts": counts}
        if not m.any():
            with pytest.raises(MaskError, match="empty"):
                rle_box(ours)
            continue
        assert list(rle_box(ours)) == mask_utils.toBbox(rle).tolist()


def test_polygons_box_is_their_extent() -> None:
    seg = [[10.5, 20.0, 40.0, 22.0, 30.0, 50.25], [5.0, 30.0, 8.0, 31.0, 6.0, 35.0]]
    assert mask_box(seg) == [5.0, 20.0, 35.0, 30.25]
    with pytest.raises(MaskError, match="neither"):
        mask_box([[1, 2, 3]])


# --- 4. a COCO file without --format coco ------------------------------------------------------


def test_coco_results_without_format_is_one_file_error(fenv: FormatsEnv) -> None:
    _gt, results = write_coco(fenv)
    res = fenv.run(results)
    assert res.code == 2, res.stderr
    assert "results.json: this is a COCO results list (4 detections" in res.stderr
    assert "--format coco --coco-gt" in res.stderr
    assert "results.json:1" not in res.stderr  # no row errors


def test_coco_instances_without_format_is_one_file_error(fenv: FormatsEnv) -> None:
    path = fenv.tmp / "instances.json"
    path.write_text(json.dumps(GT))
    res = fenv.run(path)
    assert res.code == 2, res.stderr
    assert "instances.json: this is a COCO dataset (instances) file" in res.stderr
    assert "--format coco" in res.stderr


def test_rows_with_image_id_fields_are_still_rows(fenv: FormatsEnv) -> None:
    row = {
        "sample_name": "img_0001.jpg",
        "image_id": 1,
        "category_id": 1,
        "bbox": [1, 2, 3, 4],
    }
    path = fenv.tmp / "rows.json"
    path.write_text(json.dumps([row]))
    res = fenv.run(path)
    assert res.code == 1  # a row error (unknown fields), not a file error
    assert "unknown field" in res.stderr


# --- 5. --version ------------------------------------------------------------------------------


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    from upload_preds import __version__

    proc = subprocess.run(
        [sys.executable, "-m", "upload_preds", "--version"], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"upload-preds {__version__}\n"
    with pytest.raises(SystemExit) as exc:
        sandbox_main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out == f"upload-preds-sandbox {__version__}\n"
