"""The sequence converter's parts: the fast path agrees with the full path, sample shapes."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from seqkit import CATEGORIES

from upload_preds.convert import Converter, ConvertOptions
from upload_preds.convert.categories import Categories
from upload_preds.convert.seqlines import _fast_line, _json_line
from upload_preds.records import Location, RowError
from upload_preds.sampleshape import SampleShapes, frame_count, sensor_shapes

CATS = Categories([(c["id"], c["name"]) for c in CATEGORIES], "image-vector-sequence")
LOC = Location("p.jsonl", 3)

ROWS: list[dict[str, Any]] = [
    {
        "sample_uuid": "u",
        "frame": 2,
        "annotations": [{"category": "car", "bbox": [1, 2.5, 30, 40], "track_id": 4}],
    },
    {
        "sample_uuid": "u",
        "annotations": [
            {
                "category_id": 2,
                "bbox": [9.0, 9.0, 1.0, 2.0],
                "track_id": 1,
                "frame": 0,
                "score": 0.4,
                "is_keyframe": False,
            }
        ],
    },
    {
        "sample_name": "n",
        "frame": 1,
        "labelset": "x",
        "annotations": [
            {
                "category": "bike",
                "type": "bbox",
                "bbox": [1.0, 2.0, 3.0, 4.0],
                "track_id": 9,
                "score": 1,
            }
        ],
    },
    {"sample_uuid": "u", "frame": 1, "annotations": []},
]
DECLINED: list[dict[str, Any]] = [
    {
        "sample_uuid": "u",
        "frame": 1,
        "annotations": [{"category": ["car"], "bbox": [1, 2, 3, 4], "track_id": 1}],
    },
    {
        "sample_uuid": "u",
        "frame": 1,
        "annotations": [{"category": "Car", "bbox": [1, 2, 3, 4], "track_id": 1}],
    },
    {
        "sample_uuid": "u",
        "frame": 1,
        "annotations": [
            {"category": "car", "bbox": [1, 2, 3, 4], "track_id": 1, "attributes": {"a": 1}}
        ],
    },
    {
        "sample_uuid": "u",
        "frame": 1,
        "annotations": [{"category": "car", "bbox": [1, 2, 1, 4], "track_id": 1}],
    },
    {
        "sample_uuid": "u",
        "frame": 1,
        "annotations": [{"category": "car", "bbox": [1, 2, 3, 4], "track_id": 0}],
    },
    {"sample_uuid": "u", "annotations": [{"category": "car", "bbox": [1, 2, 3, 4], "track_id": 1}]},
    {"sample_uuid": "u", "frame": 1, "score": 0.3, "annotations": []},
]


def _rules() -> Any:
    rules = Converter(ConvertOptions(), CATS).sequence
    assert rules is not None
    assert rules.fast
    return rules


@pytest.mark.parametrize("row", ROWS)
def test_fast_path_agrees_with_the_full_path(row: dict[str, Any]) -> None:
    rules = _rules()
    errors: list[RowError] = []
    full = _json_line(rules, row, LOC, errors)
    assert not errors
    assert _fast_line(rules, row, LOC) == full


@pytest.mark.parametrize("row", DECLINED)
def test_fast_path_declines_what_it_does_not_handle(row: dict[str, Any]) -> None:
    assert _fast_line(_rules(), row, LOC) is None


def test_frame_counts_from_sample_attributes() -> None:
    assert frame_count({"frames": [{"image": {"url": "a"}}] * 3}) == 3
    assert frame_count({"image": {"url": "a"}}) is None
    sensors = {
        "sensors": [
            {
                "name": "lidar",
                "task_type": "pointcloud-cuboid-sequence",
                "attributes": {"frames": [{}] * 5},
            },
            {
                "name": "cam",
                "task_type": "image-vector-sequence",
                "attributes": {"frames": [{}] * 4},
            },
        ]
    }
    assert sensor_shapes(sensors) == {
        "lidar": ("pointcloud-cuboid-sequence", 5),
        "cam": ("image-vector-sequence", 4),
    }
    shapes = SampleShapes()
    shapes.add({"uuid": "a", "attributes": {"frames": [{}] * 7}})
    shapes.add({"uuid": "m", "attributes": sensors})
    shapes.add({"uuid": "i", "attributes": {"image": {"url": "x"}}})
    assert (shapes.frames("a"), shapes.frames("m"), shapes.frames("i"), shapes.frames(None)) == (
        7,
        5,
        None,
        None,
    )
    assert shapes.sensors("m") == sensor_shapes(sensors)


def test_print_schema_documents_the_per_frame_fields() -> None:
    from upload_preds.convert.seqlines import ANN_KEYS, ROW_KEYS
    from upload_preds.convert.shorthand import ANN_KEYS as SHORTHAND_ANN_KEYS
    from upload_preds.rowschema import row_json_schema
    from upload_preds.seqschema import SequenceAnnotation, SequenceRow

    schema = row_json_schema()
    assert "SequenceRow" in {item["$ref"].rsplit("/", 1)[1] for item in schema["anyOf"]}
    props = schema["$defs"]["SequenceAnnotation"]["properties"]
    for key in ("frame", "track_id", "is_keyframe"):
        assert props[key]["description"], key
    # The documented fields are the ones the converter takes.
    assert set(SequenceRow.model_fields) == ROW_KEYS
    assert set(SequenceAnnotation.model_fields) == SHORTHAND_ANN_KEYS | ANN_KEYS
    rules = Converter(ConvertOptions(), CATS).sequence
    assert rules is not None
    for example in SequenceRow.model_json_schema()["examples"]:
        SequenceRow.model_validate(example)
        errors: list[RowError] = []
        assert _json_line(rules, example, LOC, errors) is not None, errors


def test_single_frame_rules_apply_with_the_sequence_task_type_named() -> None:
    rules = _rules()
    box = {
        "sample_uuid": "u",
        "frame": 0,
        "annotations": [{"category": "car", "bbox": [5, 5, 5, 9], "track_id": 1}],
    }
    cuboid = {
        "sample_uuid": "u",
        "frame": 0,
        "annotations": [
            {
                "category": "car",
                "type": "cuboid",
                "track_id": 2,
                "position": [0, 0, 0],
                "dimensions": [1, 1, 1],
                "yaw": 0,
            }
        ],
    }
    text = []
    for row in (box, cuboid):
        errors: list[RowError] = []
        assert _json_line(rules, row, LOC, errors) is None
        text += [str(e) for e in errors]
    assert text[0].startswith("p.jsonl:3: annotations[0].bbox: box has zero area")
    assert text[1] == (
        "p.jsonl:3: annotations[0].type: a cuboid cannot go in a image vector label "
        "(task type image-vector-sequence): it takes 2-D shapes"
    )


_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-2, 12),
    st.floats(-5, 700),
    st.sampled_from([float("nan"), float("inf")]),
    st.sampled_from(["car", "Car", "bike", "", "bbox", "cuboid"]),
    st.lists(st.integers(0, 3), max_size=2),
)
_boxes = st.one_of(
    st.lists(st.one_of(st.integers(0, 640), st.floats(0, 640)), min_size=3, max_size=5), _values
)
_annotations = st.dictionaries(
    st.sampled_from(
        [
            "category",
            "category_id",
            "bbox",
            "track_id",
            "frame",
            "score",
            "is_keyframe",
            "type",
            "id",
            "attributes",
        ]
    ),
    _values,
).flatmap(lambda d: st.builds(lambda box: {**d, "bbox": box} if "bbox" in d else d, _boxes))
_rows = st.fixed_dictionaries(
    {"sample_uuid": st.just("u"), "annotations": st.lists(_annotations, max_size=3)},
    optional={"frame": _values, "labelset": st.just("x"), "score": _values},
)


@settings(max_examples=400, deadline=None)
@given(row=_rows)
def test_fast_path_answers_only_as_the_full_path_would(row: dict[str, Any]) -> None:
    rules = _rules()
    fast = _fast_line(rules, row, LOC)
    if fast is None:
        return
    errors: list[RowError] = []
    assert _json_line(rules, row, LOC, errors) == fast
    assert not errors
