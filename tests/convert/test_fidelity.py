"""Labels as users write them (issue 12): box corners in any order in complete
``attributes`` of every task type with boxes, and the default label score of
detector output (``--score-from``), on the full path and the fast path alike.

The upload round trips (sandbox, official SDK) are in
``tests/formats/test_formats_fidelity.py``.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import pytest
from convkit import ok, record, sdk_check

from upload_preds.convert import Converter, ConvertOptions
from upload_preds.convert.categories import Categories
from upload_preds.errors import UsageError
from upload_preds.plan import Tally

CATS = [(i, f"c{i}") for i in range(1, 9)]
# The platform's example box, corners as its docs print them (y0 > y1).
DOC_BOX = [[12.34, 56.78], [90.12, 34.56]]
ORDERED = [[12.34, 34.56], [90.12, 56.78]]


def convert(row: dict[str, Any], task_type: str | None = "vector", **opts: Any) -> Any:
    conv = Converter(ConvertOptions(**opts), Categories(CATS, task_type))
    return conv.convert(record(row))


def test_complete_vector_bbox_corners_are_ordered_and_counted() -> None:
    attrs = {
        "format_version": "0.1",
        "annotations": [
            {"id": 1, "category_id": 1, "type": "bbox", "points": DOC_BOX},
            {"id": 2, "category_id": 2, "type": "bbox", "points": [[1, 2], [3, 4]]},
            {"id": 3, "category_id": 2, "type": "polygon", "points": [[9, 9], [1, 1], [5, 0]]},
        ],
    }
    job = ok(convert({"sample_uuid": "u", "attributes": attrs}))
    anns = job.attributes["annotations"]
    assert anns[0]["points"] == ORDERED
    assert anns[1]["points"] == [[1, 2], [3, 4]]
    assert anns[2]["points"] == [[9, 9], [1, 1], [5, 0]]  # polygons keep their order
    assert job.bbox_reordered == 1
    sdk_check("vector", job.attributes)


def test_complete_sequence_bbox_corners_are_ordered(full_labels: dict[str, Any]) -> None:
    attrs = copy.deepcopy(full_labels["image-vector-sequence"])
    boxes = [a for f in attrs["frames"] for a in f["annotations"] if a.get("type") == "bbox"]
    assert boxes, "the fixture has boxes"
    for a in boxes:
        a["points"] = DOC_BOX
    job = ok(convert({"sample_uuid": "u", "attributes": attrs}, "image-vector-sequence"))
    out = [a for f in job.attributes["frames"] for a in f["annotations"] if a["type"] == "bbox"]
    assert [a["points"] for a in out] == [ORDERED] * len(boxes)
    assert job.bbox_reordered == len(boxes)


def test_complete_multisensor_camera_boxes_are_ordered(full_labels: dict[str, Any]) -> None:
    attrs = copy.deepcopy(full_labels["multisensor-sequence"])
    camera = next(s for s in attrs["sensors"] if s["task_type"] == "image-vector-sequence")
    camera["attributes"]["frames"][0]["annotations"][0]["points"] = [[90.12, 56.78], [12.34, 34.56]]
    job = ok(convert({"sample_uuid": "u", "attributes": attrs}, "multisensor-sequence"))
    out = next(s for s in job.attributes["sensors"] if s["name"] == camera["name"])
    assert out["attributes"]["frames"][0]["annotations"][0]["points"] == ORDERED
    assert job.bbox_reordered == 1


def test_the_plan_counts_reordered_corners() -> None:
    attrs = {
        "format_version": "0.1",
        "annotations": [{"id": 1, "category_id": 1, "type": "bbox", "points": DOC_BOX}],
    }
    tally = Tally()
    conv = Converter(ConvertOptions(), Categories(CATS, "vector"))
    for line in (1, 2):
        tally.add(ok(conv.plan(record({"sample_uuid": f"u{line}", "attributes": attrs}, line))))
    assert tally.bbox_reordered == 2


# --- the label score of detector output ------------------------------------------------

SCORES = [0.9, 0.2, 0.7]


def scored_row(**extra: Any) -> dict[str, Any]:
    anns = [{"category": "c1", "bbox": [1.0, 2.0, 30.0, 40.0], "score": s} for s in SCORES]
    return {"sample_uuid": "u", "annotations": anns, **extra}


@pytest.mark.parametrize(
    ("how", "expected"),
    [
        (None, math.fsum(SCORES) / 3),  # the default: the mean
        ("mean", math.fsum(SCORES) / 3),
        ("max", 0.9),
        ("min", 0.2),
        ("none", None),
    ],
)
@pytest.mark.parametrize("path", ["fast", "full"])
def test_score_from_each_rule(how: str | None, expected: float | None, path: str) -> None:
    opts: dict[str, Any] = {} if how is None else {"score_from": how}
    row = scored_row()
    if path == "full":  # an explicit id sends the row down the full path
        row["annotations"][0]["id"] = 1
    job = ok(convert(row, **opts))
    if expected is None:
        assert job.score is None
    else:
        assert job.score == pytest.approx(expected)
    assert job.score_derived is (expected is not None)


def test_default_score_is_the_mean_of_the_kept_annotations() -> None:
    job = ok(convert(scored_row(), min_score=0.5))
    assert job.score == pytest.approx(0.8)  # 0.2 was dropped by --min-score
    assert job.filtered_annotations == 1


@pytest.mark.parametrize("how", ["mean", "max", "min", "none"])
def test_a_rows_own_score_wins(how: str) -> None:
    job = ok(convert(scored_row(score=0.11), score_from=how))
    assert job.score == 0.11
    assert not job.score_derived


def test_csv_records_take_the_mean(tmp_path: Any) -> None:
    conv = Converter(ConvertOptions(), Categories(CATS, "vector"))
    items = []
    for line, s in enumerate(SCORES, 2):
        cells = {
            "sample_uuid": "u",
            "category": "c1",
            "x0": "1",
            "y0": "2",
            "x1": "30",
            "y1": "40",
            "score": str(s),
        }
        part = conv.csv_part(record(cells, line, "csv", "preds.csv"))
        assert isinstance(part, tuple), part
        items.append((record(cells, line, "csv", "preds.csv").loc, part[1]))
    job = ok(conv.convert_group(part[0], items))
    assert job.score == pytest.approx(math.fsum(SCORES) / 3)
    assert job.score_derived


def test_unknown_score_rule_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="median") as exc:
        ConvertOptions(score_from="median")  # type: ignore[arg-type]
    assert exc.value.hint == "use max, mean, min, none"


def test_unscored_rows_get_no_score() -> None:
    row = {"sample_uuid": "u", "annotations": [{"category": "c1", "bbox": [1.0, 2.0, 3.0, 4.0]}]}
    job = ok(convert(row))
    assert job.score is None
    assert not job.score_derived
