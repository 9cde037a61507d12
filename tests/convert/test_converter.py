"""JSON/JSONL rows through ``Converter.convert``: every rule and every error.

Each valid case also goes through the SDK's own model (``sdk_check_job``).
"""

from __future__ import annotations

from typing import Any

import pytest
from convkit import errs, ok, record, sdk_check_job

from upload_preds.convert import Converter, ConvertOptions
from upload_preds.convert.categories import Categories
from upload_preds.errors import UsageError

U = "77db0d1f-7fd6-501c-add0-3efa2b6f5006"


def box(**kw: Any) -> dict[str, Any]:
    return {"category_id": 1, "bbox": [10.0, 20.0, 30.0, 40.0], **kw}


def row(*anns: dict[str, Any], **kw: Any) -> dict[str, Any]:
    return {"sample_uuid": U, "annotations": list(anns), **kw}


def bbox_ann(i: int, cid: int, pts: list[list[float]], **kw: Any) -> dict[str, Any]:
    return {"id": i, "category_id": cid, "type": "bbox", "points": pts, **kw}


# --- valid rows: (id, row, options, expected attributes) -------------------------------

VALID: list[tuple[str, dict[str, Any], dict[str, Any], dict[str, Any]]] = [
    (
        "bbox-xyxy",
        row(box()),
        {},
        {"format_version": "0.1", "annotations": [bbox_ann(1, 1, [[10.0, 20.0], [30.0, 40.0]])]},
    ),
    (
        "bbox-corners-swapped",
        row(box(bbox=[90.12, 34.56, 12.34, 56.78])),
        {},
        {
            "format_version": "0.1",
            "annotations": [bbox_ann(1, 1, [[12.34, 34.56], [90.12, 56.78]])],
        },
    ),
    (
        "bbox-integers",
        row(box(bbox=[1, 2, 3, 4])),
        {},
        {"format_version": "0.1", "annotations": [bbox_ann(1, 1, [[1, 2], [3, 4]])]},
    ),
    (
        "bbox-xywh",
        row(box(bbox=[10.0, 20.0, 5.0, 6.0])),
        {"bbox_format": "xywh"},
        {"format_version": "0.1", "annotations": [bbox_ann(1, 1, [[10.0, 20.0], [15.0, 26.0]])]},
    ),
    (
        "bbox-cxcywh",
        row(box(bbox=[10.0, 20.0, 4.0, 6.0])),
        {"bbox_format": "cxcywh"},
        {"format_version": "0.1", "annotations": [bbox_ann(1, 1, [[8.0, 17.0], [12.0, 23.0]])]},
    ),
    (
        "bbox-as-points-swapped",
        row({"category_id": 2, "points": [[50, 60], [5, 6]]}),
        {},
        {"format_version": "0.1", "annotations": [bbox_ann(1, 2, [[5, 6], [50, 60]])]},
    ),
    (
        "polygon-polyline-point",
        row(
            {"category_id": 8, "type": "polygon", "points": [[0, 0], [5, 0], [5, 5]]},
            {"category_id": 7, "type": "polyline", "points": [[0, 0], [1, 1]]},
            {"category_id": 5, "type": "point", "points": [[3.5, 4.5]]},
        ),
        {},
        {
            "format_version": "0.1",
            "annotations": [
                {"id": 1, "category_id": 8, "type": "polygon", "points": [[0, 0], [5, 0], [5, 5]]},
                {"id": 2, "category_id": 7, "type": "polyline", "points": [[0, 0], [1, 1]]},
                {"id": 3, "category_id": 5, "type": "point", "points": [[3.5, 4.5]]},
            ],
        },
    ),
    (
        "category-names-and-image-attributes",
        row(
            {"category": "truck", "bbox": [1.0, 2.0, 3.0, 4.0], "attributes": {"occluded": True}},
            image_attributes={"weather": "rain", "night": False},
        ),
        {},
        {
            "format_version": "0.1",
            "annotations": [
                bbox_ann(1, 2, [[1.0, 2.0], [3.0, 4.0]], attributes={"occluded": True})
            ],
            "image_attributes": {"weather": "rain", "night": False},
        },
    ),
    (
        "object-score-attribute",
        row(box(score=0.75), box(score=0.5, attributes={"occluded": False})),
        {"object_score_attribute": "confidence"},
        {
            "format_version": "0.1",
            "annotations": [
                bbox_ann(1, 1, [[10.0, 20.0], [30.0, 40.0]], attributes={"confidence": 0.75}),
                bbox_ann(
                    2,
                    1,
                    [[10.0, 20.0], [30.0, 40.0]],
                    attributes={"occluded": False, "confidence": 0.5},
                ),
            ],
        },
    ),
    (
        "given-ids-kept",
        row(box(id=7), box(id=3)),
        {},
        {
            "format_version": "0.1",
            "annotations": [
                bbox_ann(7, 1, [[10.0, 20.0], [30.0, 40.0]]),
                bbox_ann(3, 1, [[10.0, 20.0], [30.0, 40.0]]),
            ],
        },
    ),
    (
        # Missing ids take the smallest numbers not given explicitly, in input order.
        "mixed-ids-fill-gaps",
        row(box(id=2), box(), box(), box(id=4), box()),
        {},
        {
            "format_version": "0.1",
            "annotations": [bbox_ann(n, 1, [[10.0, 20.0], [30.0, 40.0]]) for n in (2, 1, 3, 4, 5)],
        },
    ),
    (
        "empty-annotations",
        row(),
        {},
        {"format_version": "0.1", "annotations": []},
    ),
]


@pytest.mark.parametrize(
    ("row_", "opts", "expected"), [c[1:] for c in VALID], ids=[c[0] for c in VALID]
)
def test_valid_rows(
    convert: Any, row_: dict[str, Any], opts: dict[str, Any], expected: dict[str, Any]
) -> None:
    job = ok(convert(row_, **opts))
    assert job.attributes == expected
    sdk_check_job(job)


def test_label_fields_and_defaults(convert: Any) -> None:
    job = ok(convert(row(box())))
    assert (job.sample_uuid, job.sample_name) == (U, None)
    assert job.labelset == "ground-truth"
    assert job.label_status == "PRELABELED"
    assert job.score is None
    assert job.body() == {"attributes": job.attributes, "label_status": "PRELABELED"}
    assert [str(loc) for loc in job.locs] == ["preds.jsonl:1"]


def test_row_overrides_options(convert: Any) -> None:
    data = {
        "sample_name": "img_0001.jpg",
        "labelset": "predictions",
        "score": 0.25,
        "label_status": "LABELED",
        "annotations": [box()],
    }
    job = ok(convert(data, default_labelset="other", label_status="REVIEWED"))
    assert (job.sample_uuid, job.sample_name) == (None, "img_0001.jpg")
    assert (job.labelset, job.score, job.label_status) == ("predictions", 0.25, "LABELED")


def test_options_label_status(convert: Any) -> None:
    job = ok(convert(row(box()), label_status="reviewed"))
    assert job.label_status == "REVIEWED"


@pytest.mark.parametrize(
    ("how", "expected"), [("max", 0.9), ("min", 0.3), ("mean", 0.6)], ids=["max", "min", "mean"]
)
def test_score_from(convert: Any, how: str, expected: float) -> None:
    job = ok(convert(row(box(score=0.9), box(score=0.3), box(score=0.6)), score_from=how))
    assert job.score == pytest.approx(expected)


def test_score_from_does_not_override_row_score(convert: Any) -> None:
    job = ok(convert(row(box(score=0.9), score=0.1), score_from="max"))
    assert job.score == 0.1


def test_score_from_uses_kept_annotations_only(convert: Any) -> None:
    job = ok(convert(row(box(score=0.9), box(score=0.2)), score_from="min", min_score=0.5))
    assert job.score == 0.9


def test_score_from_without_scores_leaves_none(convert: Any) -> None:
    job = ok(convert(row(box()), score_from="max"))
    assert job.score is None


def test_min_score_drops_and_counts(convert: Any) -> None:
    job = ok(convert(row(box(score=0.9), box(score=0.1), box(), box(score=0.5)), min_score=0.5))
    assert job.filtered_annotations == 1
    # Unscored annotations are kept; ids stay 1..n over what is kept.
    assert [a["id"] for a in job.attributes["annotations"]] == [1, 2, 3]


@pytest.mark.parametrize(
    ("anns", "opts", "dropped"),
    [
        ([box(score=0.5)], {}, True),
        ([box()], {}, False),
        ([box(score=0.5)], {"object_score_attribute": "confidence"}, False),
        ([box(score=0.1)], {"min_score": 0.5}, True),
    ],
    ids=["scores-unused", "no-scores", "scores-stored", "scores-only-filtered"],
)
def test_object_scores_dropped_flag(
    convert: Any, anns: list[dict[str, Any]], opts: dict[str, Any], dropped: bool
) -> None:
    assert ok(convert(row(*anns), **opts)).object_scores_dropped is dropped


def test_case_insensitive_category_matches(convert: Any) -> None:
    job = ok(convert(row({"category": "Car", "bbox": [1.0, 2.0, 3.0, 4.0]})))
    assert job.attributes["annotations"][0]["category_id"] == 1


def test_category_ids_unchecked_without_categories(convert: Any) -> None:
    job = ok(convert(row(box(category_id=99)), categories=None))
    assert job.attributes["annotations"][0]["category_id"] == 99


def test_input_row_is_not_modified(convert: Any) -> None:
    data = row(box(score=0.5, attributes={"occluded": True}, bbox=[5.0, 5.0, 1.0, 1.0]))
    snapshot = repr(data)
    ok(convert(data, object_score_attribute="confidence"))
    assert repr(data) == snapshot


# --- cuboids and task types ------------------------------------------------------------

CUBOID = {
    "category_id": 1,
    "type": "cuboid",
    "position": {"x": 1.0, "y": 2.0, "z": 0.5},
    "dimensions": [4.0, 2.0, 1.5],
    "yaw": 0.3,
}


def test_cuboid_without_task_type(convert: Any) -> None:
    job = ok(convert(row(CUBOID, dict(CUBOID, rotation=[0, 0, 0, 1])), categories=None))
    assert job.attributes == {
        "format_version": "0.2",
        "annotations": [
            {
                "id": n,
                "category_id": 1,
                "type": "cuboid",
                "position": {"x": 1.0, "y": 2.0, "z": 0.5},
                "dimensions": {"x": 4.0, "y": 2.0, "z": 1.5},
                "yaw": 0.3,
                **extra,
            }
            for n, extra in ((1, {}), (2, {"rotation": {"qx": 0, "qy": 0, "qz": 0, "qw": 1}}))
        ],
    }
    sdk_check_job(job)


def test_cuboid_task_type_makes_cuboid_format(convert: Any) -> None:
    cats = Categories([(1, "car")], "pointcloud-cuboid")
    job = ok(convert(row(), categories=cats))
    assert job.attributes == {"format_version": "0.2", "annotations": []}
    sdk_check_job(job)


# --- errors: (id, row, options, [(field, reason, message fragment), ...]) -----------------

ERRORS: list[tuple[str, Any, dict[str, Any], list[tuple[str | None, str, str]]]] = [
    ("not-an-object", [1, 2], {}, [(None, "invalid value", "should be a JSON object")]),
    (
        "unknown-row-key",
        row(box(), sample_id="x"),
        {},
        [("sample_id", "unknown field", "unknown field")],
    ),
    (
        "unknown-row-key-suggests",
        row(box(), labelst="x"),
        {},
        [("labelst", "unknown field", "did you mean 'labelset'?")],
    ),
    (
        "no-sample",
        {"annotations": [box()]},
        {},
        [("sample_uuid", "invalid sample reference", "give sample_uuid or sample_name")],
    ),
    (
        "both-samples",
        row(box(), sample_name="a.jpg"),
        {},
        [("sample_name", "invalid sample reference", "not both")],
    ),
    (
        "sample-not-string",
        {"sample_uuid": 5, "annotations": [box()]},
        {},
        [("sample_uuid", "invalid sample reference", "non-empty string")],
    ),
    (
        "sample-with-slash",
        {"sample_name": "a/b.jpg", "annotations": [box()]},
        {},
        [("sample_name", "invalid sample reference", "without '/'")],
    ),
    ("bad-labelset", row(box(), labelset=""), {}, [("labelset", "invalid value", "label set")]),
    ("score-string", row(box(), score="high"), {}, [("score", "invalid value", "number")]),
    ("score-bool", row(box(), score=True), {}, [("score", "invalid value", "number")]),
    (
        "score-nan",
        row(box(), score=float("nan")),
        {},
        [("score", "non-finite number", "finite")],
    ),
    (
        "bad-label-status",
        row(box(), label_status="DONE"),
        {},
        [("label_status", "invalid value", "PRELABELED")],
    ),
    (
        "neither-annotations-nor-attributes",
        {"sample_uuid": U},
        {},
        [("annotations", "missing field", "'annotations'")],
    ),
    (
        "both-annotations-and-attributes",
        row(box(), attributes={"annotations": []}),
        {},
        [("annotations", "invalid value", "not both")],
    ),
    (
        "annotations-not-list",
        row(annotations={"a": 1}),
        {},
        [("annotations", "invalid value", "list of objects")],
    ),
    (
        "annotation-not-object",
        row(box(), 5),
        {},
        [("annotations[1]", "invalid value", "should be an object")],
    ),
    (
        "unknown-annotation-key",
        row(box(), box(), box(conf=0.5)),
        {},
        [("annotations[2].conf", "unknown field", "goes in 'score'")],
    ),
    (
        "unknown-annotation-key-suggests",
        row(box(attribute={"a": 1})),
        {},
        [("annotations[0].attribute", "unknown field", "did you mean 'attributes'?")],
    ),
    (
        "bbox-on-polygon",
        row({"category_id": 1, "type": "polygon", "bbox": [1, 2, 3, 4]}),
        {},
        [
            ("annotations[0].bbox", "unknown field", "does not apply to type polygon"),
            ("annotations[0].points", "missing field", "a polygon needs points"),
        ],
    ),
    (
        "cuboid-key-on-bbox",
        row(box(yaw=1.0)),
        {},
        [("annotations[0].yaw", "unknown field", "for type cuboid")],
    ),
    (
        "unknown-type",
        row(box(type="box")),
        {},
        [("annotations[0].type", "invalid value", "bbox, polygon, polyline, point, cuboid")],
    ),
    (
        "bbox-and-points",
        row(box(points=[[1, 2], [3, 4]])),
        {},
        [("annotations[0].bbox", "invalid value", "not both")],
    ),
    (
        "bbox-missing",
        row({"category_id": 1}),
        {},
        [("annotations[0].points", "missing field", "bbox or points")],
    ),
    (
        "bbox-three-numbers",
        row(box(bbox=[1, 2, 3])),
        {},
        [("annotations[0].bbox", "invalid bbox", "list of 4 numbers")],
    ),
    (
        "bbox-string-number",
        row(box(bbox=[1, "2", 3, 4])),
        {},
        [("annotations[0].bbox", "invalid value", "should be a number, got '2'")],
    ),
    (
        "bbox-bool",
        row(box(bbox=[1.0, True, 3.0, 4.0])),
        {},
        [("annotations[0].bbox", "invalid value", "should be a number, got True")],
    ),
    (
        "bbox-infinite",
        row(box(bbox=[1.0, 2.0, float("inf"), 4.0])),
        {},
        [("annotations[0].bbox", "non-finite number", "finite number, got inf")],
    ),
    (
        "bbox-nan",
        row(box(bbox=[float("nan"), 2.0, 3.0, 4.0])),
        {},
        [("annotations[0].bbox", "non-finite number", "finite number, got nan")],
    ),
    (
        "bbox-huge-int",
        row(box(bbox=[1, 2, 3, 10**30])),
        {},
        [("annotations[0].bbox", "invalid value", "too large")],
    ),
    (
        "bbox-zero-width",
        row(box(bbox=[5.0, 1.0, 5.0, 9.0])),
        {},
        [("annotations[0].bbox", "zero-area bbox", "zero area")],
    ),
    (
        "bbox-zero-height-points",
        row({"category_id": 1, "points": [[1, 2], [5, 2]]}),
        {},
        [("annotations[0].points", "zero-area bbox", "zero area")],
    ),
    (
        "bbox-xywh-negative-width",
        row(box(bbox=[10.0, 20.0, -5.0, 6.0])),
        {"bbox_format": "xywh"},
        [("annotations[0].bbox", "invalid bbox", "use --bbox-format xyxy")],
    ),
    (
        "bbox-xywh-zero-width",
        row(box(bbox=[10.0, 20.0, 0.0, 6.0])),
        {"bbox_format": "xywh"},
        [("annotations[0].bbox", "zero-area bbox", "zero area")],
    ),
    (
        "bbox-three-points",
        row({"category_id": 1, "points": [[1, 2], [3, 4], [5, 6]]}),
        {},
        [("annotations[0].points", "invalid points", "two opposite corners")],
    ),
    (
        "polygon-two-points",
        row({"category_id": 1, "type": "polygon", "points": [[1, 2], [3, 4]]}),
        {},
        [("annotations[0].points", "invalid points", "at least 3 points, got 2 points")],
    ),
    (
        "polyline-one-point",
        row({"category_id": 1, "type": "polyline", "points": [[1, 2]]}),
        {},
        [("annotations[0].points", "invalid points", "at least 2 points, got 1 point")],
    ),
    (
        "point-two-pairs",
        row({"category_id": 1, "type": "point", "points": [[1, 2], [3, 4]]}),
        {},
        [("annotations[0].points", "invalid points", "exactly one point")],
    ),
    (
        "point-zero-pairs",
        row({"category_id": 1, "type": "point", "points": []}),
        {},
        [("annotations[0].points", "invalid points", "exactly one point")],
    ),
    (
        "point-three-coordinates",
        row({"category_id": 1, "type": "point", "points": [[1, 2, 3]]}),
        {},
        [("annotations[0].points", "invalid points", "point 0 should be [x, y]")],
    ),
    (
        "polygon-nan",
        row({"category_id": 1, "type": "polygon", "points": [[1, 2], [3, float("nan")], [0, 0]]}),
        {},
        [("annotations[0].points", "non-finite number", "point 1")],
    ),
    (
        "points-not-list",
        row({"category_id": 1, "type": "polygon", "points": "1,2 3,4"}),
        {},
        [("annotations[0].points", "invalid points", "at least 3 points")],
    ),
    (
        "both-category-and-id",
        row(box(category="car")),
        {},
        [("annotations[0].category", "invalid value", "not both")],
    ),
    (
        "no-category",
        row({"bbox": [1.0, 2.0, 3.0, 4.0]}),
        {},
        [("annotations[0].category_id", "missing field", "give category_id or category")],
    ),
    (
        "unknown-category-suggests",
        row({"category": "traffic lite", "bbox": [1.0, 2.0, 3.0, 4.0]}),
        {},
        [
            (
                "annotations[0].category",
                "unknown category",
                "did you mean 'traffic_light' or 'traffic_sign'?",
            )
        ],
    ),
    (
        "unknown-category-lists-known",
        row({"category": "zebra", "bbox": [1.0, 2.0, 3.0, 4.0]}),
        {},
        [("annotations[0].category", "unknown category", "1 car, 2 truck")],
    ),
    (
        "category-name-without-categories",
        row({"category": "car", "bbox": [1.0, 2.0, 3.0, 4.0]}),
        {"categories": None},
        [
            (
                "annotations[0].category",
                "category names need categories",
                "pass --categories FILE",
            )
        ],
    ),
    (
        "unknown-category-id",
        row(box(category_id=42)),
        {},
        [("annotations[0].category_id", "unknown category id", "category id 42 is not in")],
    ),
    (
        "category-id-string",
        row(box(category_id="1")),
        {},
        [("annotations[0].category_id", "invalid value", "should be an integer, got '1'")],
    ),
    (
        "annotation-score-string",
        row(box(score="0.5")),
        {},
        [("annotations[0].score", "invalid value", "should be a number")],
    ),
    (
        "annotation-score-inf",
        row(box(score=float("-inf"))),
        {},
        [("annotations[0].score", "non-finite number", "finite")],
    ),
    (
        "attributes-not-map",
        row(box(attributes=["occluded"])),
        {},
        [("annotations[0].attributes", "invalid attributes", "name → value")],
    ),
    (
        "attribute-nested",
        row(box(attributes={"occluded": {"yes": True}})),
        {},
        [("annotations[0].attributes.occluded", "invalid attributes", "list of strings or null")],
    ),
    (
        "attribute-nan",
        row(box(attributes={"c": float("nan")})),
        {},
        [("annotations[0].attributes.c", "invalid attributes", "finite number")],
    ),
    (
        "image-attribute-bad",
        row(box(), image_attributes={"weather": [1, 2]}),
        {},
        [("image_attributes.weather", "invalid attributes", "list of strings")],
    ),
    (
        "score-attribute-conflict",
        row(box(score=0.5, attributes={"confidence": 0.9})),
        {"object_score_attribute": "confidence"},
        [("annotations[0].attributes.confidence", "invalid attributes", "would overwrite")],
    ),
    (
        "id-zero",
        row(box(id=0)),
        {},
        [("annotations[0].id", "invalid value", "positive integer")],
    ),
    (
        "id-float",
        row(box(id=1.0)),
        {},
        [("annotations[0].id", "invalid value", "positive integer")],
    ),
    (
        "duplicate-ids",
        row(box(id=1), box(), box(id=1)),
        {},
        [("annotations[2].id", "duplicate annotation id", "already used by annotations[0]")],
    ),
    (
        "duplicate-ids-even-if-filtered",
        row(box(id=1, score=0.1), box(id=1, score=0.9)),
        {"min_score": 0.5},
        [("annotations[1].id", "duplicate annotation id", "id 1 is already used")],
    ),
    (
        "cuboid-mixed-with-bbox",
        row(box(), CUBOID),
        {"categories": None},
        [
            (
                "annotations[1].type",
                "mixed annotation kinds",
                "cannot mix cuboids with 2-D shapes: this is a cuboid, annotations[0] is a bbox",
            )
        ],
    ),
    (
        "cuboid-in-vector-dataset",
        row(CUBOID),
        {},
        [("annotations[0].type", "wrong shape for the task type", "task type vector")],
    ),
    (
        "cuboid-missing-parts",
        row({"category_id": 1, "type": "cuboid", "position": [0, 0, 0]}),
        {"categories": None},
        [
            ("annotations[0].dimensions", "missing field", "a cuboid needs dimensions"),
            ("annotations[0].yaw", "missing field", "a cuboid needs yaw"),
        ],
    ),
    (
        "cuboid-bad-vectors",
        row(
            dict(
                CUBOID,
                position={"x": 1, "y": 2},
                dimensions=[1, 0, 1],
                rotation=[0, 0, "a", 1],
                yaw=float("nan"),
            )
        ),
        {"categories": None},
        [
            ("annotations[0].position", "invalid cuboid", "exactly the keys x, y, z"),
            ("annotations[0].rotation", "invalid value", "rotation qz"),
            ("annotations[0].dimensions", "invalid cuboid", "greater than 0"),
            ("annotations[0].yaw", "non-finite number", "finite"),
        ],
    ),
    (
        "cuboid-points-key",
        row(dict(CUBOID, points=[[1, 2]])),
        {"categories": None},
        [("annotations[0].points", "unknown field", "a cuboid takes position")],
    ),
]


@pytest.mark.parametrize(
    ("row_", "opts", "expected"), [c[1:] for c in ERRORS], ids=[c[0] for c in ERRORS]
)
def test_row_errors(
    convert: Any,
    row_: Any,
    opts: dict[str, Any],
    expected: list[tuple[str | None, str, str]],
) -> None:
    errors = errs(convert(row_, **opts))
    got = [(e.field, e.reason) for e in errors]
    assert got == [(f, r) for f, r, _ in expected], [str(e) for e in errors]
    for e, (_, _, fragment) in zip(errors, expected, strict=True):
        assert fragment in e.message, str(e)
        assert str(e.loc) == "preds.jsonl:1"


def test_all_errors_of_a_row_are_reported(convert: Any) -> None:
    data = {
        "sample_uuid": 3,
        "score": "x",
        "annotations": [box(category_id=99), box(bbox=[1, 1, 1, 1]), {"category": "bus"}],
        "extra": 1,
    }
    fields = [e.field for e in errs(convert(data))]
    assert fields == [
        "extra",
        "sample_uuid",
        "score",
        "annotations[0].category_id",
        "annotations[1].bbox",
        "annotations[2].category",
        "annotations[2].points",
    ]


def test_shorthand_refused_for_other_task_types(convert: Any) -> None:
    cats = Categories([(1, "car")], "segmentation-bitmap")
    (e,) = errs(convert(row(box()), categories=cats))
    assert (e.field, e.reason) == ("annotations", "wrong shape for the task type")
    assert "give the complete label as 'attributes'" in e.message


def test_bbox_in_cuboid_dataset(convert: Any) -> None:
    cats = Categories([(1, "car")], "pointcloud-cuboid")
    (e,) = errs(convert(row(box()), categories=cats))
    assert (e.field, e.reason) == ("annotations[0].type", "wrong shape for the task type")
    assert "point cloud cuboid label" in e.message


def test_ambiguous_category_name(convert: Any) -> None:
    cats = Categories([(1, "Car"), (2, "car")])
    assert ok(convert(row({"category": "car", "bbox": [1.0, 2.0, 3.0, 4.0]}), categories=cats))
    (e,) = errs(convert(row({"category": "CAR", "bbox": [1.0, 2.0, 3.0, 4.0]}), categories=cats))
    assert e.reason == "unknown category"
    assert "several categories are named 'CAR'" in e.message


# --- options -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("opts", "fragment"),
    [
        ({"label_status": "DONE"}, "--label-status 'DONE' is not a label status"),
        ({"bbox_format": "yxyx"}, "--bbox-format 'yxyx'"),
        ({"min_score": float("nan")}, "--min-score nan"),
        ({"score_from": "median"}, "--score-from 'median'"),
        ({"object_score_attribute": " "}, "--object-score-attribute"),
        ({"default_labelset": "a/b"}, "--labelset 'a/b'"),
    ],
    ids=["status", "bbox-format", "min-score", "score-from", "score-attribute", "labelset"],
)
def test_bad_options(opts: dict[str, Any], fragment: str) -> None:
    with pytest.raises(UsageError) as info:
        ConvertOptions(**opts)
    assert fragment in str(info.value)


def test_unknown_task_type_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="task type 'text' is not one upload-preds can write"):
        Converter(ConvertOptions(), None, task_type="text")
    with pytest.raises(UsageError) as info:
        Converter(ConvertOptions(), Categories([(1, "a")], "text-named-entities"))
    assert info.value.hint is not None
    assert "pointcloud-cuboid" in info.value.hint


def test_fast_and_full_paths_agree(street_categories: Categories) -> None:
    """The same rows give the same labels whether or not the fast path takes them:
    an explicit id on the last annotation sends a row down the full path."""
    conv = Converter(
        ConvertOptions(score_from="mean", object_score_attribute="confidence", min_score=0.2),
        street_categories,
    )
    anns = [
        {"category": "car", "bbox": [5.0, 6.0, 1.0, 2.0], "score": 0.5},
        {"category_id": 2, "bbox": [1.0, 2.0, 3.0, 4.0], "score": 0.1, "attributes": {"a": 1}},
        {"category": "Truck", "bbox": [1.0, 2.0, 3.0, 4.0], "score": 0.7, "attributes": {"b": "x"}},
    ]
    base = {"sample_name": "s.jpg", "image_attributes": {"night": True}}
    fast = ok(conv.convert(record({**base, "annotations": anns})))
    full = ok(conv.convert(record({**base, "annotations": [*anns, {**anns[0], "id": 9}]})))
    assert full.attributes["annotations"][:2] == fast.attributes["annotations"]
    assert full.attributes["image_attributes"] == fast.attributes["image_attributes"]
    assert (fast.filtered_annotations, full.filtered_annotations) == (1, 1)
    assert fast.score == pytest.approx(0.6)
    assert fast.extra == full.extra == {}
