"""The cuboid fast path (convert/cuboidfast.py) against the full way (seqlines._json_line).

Generated LiDAR rows, common and unusual: when the fast path answers, its line
is the full way's, object for object; labels of shuffled rows (duplicates,
``--on-duplicate last``, category changes, frames out of range) are byte-identical
with the fast path on and off, and every label passes the SDK's model.
"""

from __future__ import annotations

import random
from typing import Any

import orjson
import segments.typing as st
from hypothesis import given, settings
from hypothesis import strategies as hs

from upload_preds.convert import Converter, ConvertOptions
from upload_preds.convert.categories import Categories
from upload_preds.convert.cuboidfast import cuboid_line
from upload_preds.convert.seqlines import FrameRules, Line, _json_line, check_line
from upload_preds.convert.sequences import convert_sequence
from upload_preds.records import LabelJob, Location, Record, RowError

NAMES = ["car", "person", "bike"]
TASK = "pointcloud-cuboid-sequence"


def _rules(**options: Any) -> FrameRules:
    rules = Converter(
        ConvertOptions(**options), Categories(list(enumerate(NAMES, 1)), TASK)
    ).sequence
    assert isinstance(rules, FrameRules)
    return rules


# Mostly what a tracker writes, now and then something the fast path must decline.
_good = hs.one_of(hs.integers(-5, 5), hs.floats(-10, 10, allow_nan=False))
_num = hs.one_of(_good, _good, _good, hs.sampled_from([True, "1", 1e300 * 10, 2**70]))
_vec3 = hs.one_of(
    hs.lists(_num, min_size=3, max_size=3),
    hs.lists(_num, min_size=3, max_size=3),
    hs.fixed_dictionaries({"x": _num, "y": _num, "z": _num}),
    hs.lists(_num, min_size=2, max_size=4),
    hs.fixed_dictionaries({"x": _num, "y": _num}),
    hs.none(),
)
_size = hs.one_of(
    hs.integers(1, 5), hs.floats(0.1, 9), hs.integers(1, 5), hs.sampled_from([0, -1.5])
)
_dims = hs.one_of(
    hs.lists(_size, min_size=3, max_size=3),
    hs.fixed_dictionaries({"x": _size, "y": _size, "z": _size}),
    _vec3,
)
_quat = hs.one_of(
    hs.lists(_num, min_size=4, max_size=4),
    hs.fixed_dictionaries({"qx": _num, "qy": _num, "qz": _num, "qw": _num}),
    hs.lists(_num, min_size=3, max_size=5),
    hs.none(),
)
_category = hs.one_of(
    hs.fixed_dictionaries({"category": hs.sampled_from([*NAMES, "tree", 3])}),
    hs.fixed_dictionaries({"category_id": hs.sampled_from([1, 2, 9, "1"])}),
    hs.fixed_dictionaries({"category": hs.just("car"), "category_id": hs.just(1)}),
)
_optional: dict[str, Any] = {
    "score": hs.one_of(hs.floats(0, 1), hs.integers(0, 1), hs.just(None), hs.just("high")),
    "is_keyframe": hs.sampled_from([True, False, True, False, 1, None]),
    "frame": hs.sampled_from([0, 1, 3, -1, "2"]),
    "rotation": _quat,
}
_rare = hs.one_of(
    hs.just({}),
    hs.just({}),
    hs.just({}),
    hs.sampled_from([{"attributes": {"occluded": True}}, {"id": 4}, {"bbox": [1, 2, 3, 4]}]),
)
_annotation = hs.builds(
    # (type None: no type at all, which in a cuboid dataset is a cuboid)
    lambda base, cat, rare: {
        k: v for k, v in {**base, **cat, **rare}.items() if k != "type" or v is not None
    },
    hs.fixed_dictionaries(
        {
            "type": hs.sampled_from(["cuboid", "cuboid", None, "bbox"]),
            "position": _vec3,
            "dimensions": _dims,
            "yaw": _num,
            "track_id": hs.sampled_from([1, 2, 7, 1, 2, 0, -1, True, "3"]),
        },
        optional=_optional,
    ),
    _category,
    _rare,
)
_row = hs.builds(
    lambda base, extra: {**base, **extra},
    hs.fixed_dictionaries(
        {"sample_uuid": hs.just("u1"), "annotations": hs.lists(_annotation, max_size=3)}
    ),
    hs.one_of(
        hs.fixed_dictionaries({"frame": hs.sampled_from([0, 1, 3])}),
        hs.fixed_dictionaries({"frame": hs.sampled_from([0, 1, 3])}),
        hs.just({}),
        hs.sampled_from([{"frame": -2}, {"frame": 1, "score": 0.5}]),
    ),
)


@settings(max_examples=1500, deadline=None)
@given(row=_row)
def test_the_fast_paths_line_is_the_full_ways(row: dict[str, Any]) -> None:
    rules = _rules()
    loc = Location("c.jsonl", 3)
    fast = cuboid_line(rules, row, loc)
    if fast is None:
        return
    errors: list[RowError] = []
    full = _json_line(rules, row, loc, errors)
    assert errors == []
    assert isinstance(full, Line)
    assert fast.loc == full.loc
    assert fast.image_attributes == full.image_attributes
    assert [(o.frame, o.track, o.keyframe, o.score, o.index) for o in fast.objects] == [
        (o.frame, o.track, o.keyframe, o.score, o.index) for o in full.objects
    ]
    # Byte for byte: key order and int/float kept as given.
    assert [orjson.dumps(o.out) for o in fast.objects] == [
        orjson.dumps(o.out) for o in full.objects
    ]


def _cuboid(rng: random.Random, track: int, frame: int) -> dict[str, Any]:
    a: dict[str, Any] = {
        "type": "cuboid",
        "category": NAMES[track % 3],
        "position": rng.choice([[frame * 0.5, track, 0.7], {"x": frame, "y": 1.5, "z": 0}]),
        "dimensions": rng.choice([[4.2, 1.8, 1.5], {"x": 4, "y": 2, "z": 1}]),
        "yaw": rng.choice([0, 0.25]),
        "track_id": track,
    }
    if rng.random() < 0.5:
        a["score"] = round(rng.random(), 3)
    if rng.random() < 0.2:
        a["rotation"] = [0, 0, 0, 1]
    if rng.random() < 0.2:
        a["is_keyframe"] = False
    return a


def _rows(seed: int, frames: int, trouble: bool) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    rows = []
    for f in range(frames):
        anns = [_cuboid(rng, t, f) for t in range(1, 5) if rng.random() < 0.8]
        rows.append({"sample_uuid": "u1", "frame": f, "annotations": anns})
        if rng.random() < 0.2:  # the frame split over two rows
            rows.append({"sample_uuid": "u1", "frame": f, "annotations": [_cuboid(rng, 6, f)]})
    if trouble:
        what = rng.choice(["duplicate", "category", "range", "unusual"])
        if what == "duplicate":
            rows.append({"sample_uuid": "u1", "frame": 0, "annotations": [_cuboid(rng, 6, 0)]})
        elif what == "category":
            a = _cuboid(rng, 6, 1)
            a["category"] = NAMES[(6 + 1) % 3]  # track 6 is NAMES[0] elsewhere
            rows.append({"sample_uuid": "u1", "frame": 1, "annotations": [a]})
        elif what == "range":
            rows.append(
                {"sample_uuid": "u1", "frame": frames + 2, "annotations": [_cuboid(rng, 2, 0)]}
            )
        else:
            a = _cuboid(rng, 3, 0)
            a["attributes"] = {"occluded": True}
            rows.append({"sample_uuid": "u1", "frame": 0, "annotations": [a]})
    rng.shuffle(rows)
    return rows


def _label(rules: FrameRules, rows: list[dict[str, Any]], frames: int, mode: str) -> Any:
    items = []
    for n, row in enumerate(rows, 1):
        rec = Record(Location("c.jsonl", n), "jsonl", row)
        items.append((rec.loc, check_line(rules, rec) if n % 2 else rec))
    key = orjson.dumps(["ground-truth", "u", "u1"]).decode()
    return convert_sequence(rules, key, items, frames, mode)


def _outcome(job: LabelJob | list[RowError]) -> Any:
    if isinstance(job, LabelJob):
        return (orjson.dumps(job.attributes), job.score, job.filtered_annotations, job.extra)
    return [(e.loc, e.field, e.reason, e.message) for e in job]


@settings(max_examples=150, deadline=None)
@given(
    seed=hs.integers(0, 10_000),
    trouble=hs.booleans(),
    mode=hs.sampled_from(["error", "last"]),
    min_score=hs.sampled_from([None, 0.5]),
)
def test_labels_are_the_same_with_and_without_the_fast_path(
    seed: int, trouble: bool, mode: str, min_score: float | None
) -> None:
    frames = 6
    rows = _rows(seed, frames, trouble)
    fast = _rules(min_score=min_score)
    full = _rules(min_score=min_score)
    full.fast_cuboid = False
    a = _label(fast, rows, frames, mode)
    b = _label(full, rows, frames, mode)
    assert _outcome(a) == _outcome(b)
    if isinstance(a, LabelJob):
        st.PointcloudSequenceCuboidLabelAttributes.model_validate(a.attributes)
        assert len(a.attributes["frames"]) == frames


def test_the_common_lidar_row_takes_the_fast_path() -> None:
    rules = _rules()
    assert rules.fast_cuboid
    row = {
        "sample_uuid": "u1",
        "frame": 2,
        "annotations": [
            {
                "type": "cuboid",
                "category": "car",
                "position": [1.0, 2.0, 0.5],
                "dimensions": [4.5, 1.9, 1.6],
                "yaw": 0.1,
                "track_id": 7,
                "score": 0.9,
            }
        ],
    }
    line = cuboid_line(rules, row, Location("c.jsonl", 1))
    assert line is not None
    assert line.objects[0].out == {
        "id": 7,
        "category_id": 1,
        "type": "cuboid",
        "position": {"x": 1.0, "y": 2.0, "z": 0.5},
        "dimensions": {"x": 4.5, "y": 1.9, "z": 1.6},
        "yaw": 0.1,
        "track_id": 7,
        "is_keyframe": True,
    }
    # A score stored in the attributes is the full way's job.
    assert not _rules(object_score_attribute="score").fast_cuboid


def test_a_cuboid_needs_no_type_in_a_cuboid_dataset() -> None:
    # The shorthand's default type is the dataset's one shape: in a cuboid dataset (or
    # sensor) a row of position/dimensions/yaw is a cuboid, fast way or full way.
    ann = {"category": "car", "position": [1, 2, 0.5], "dimensions": [4, 2, 1.5], "yaw": 0.2}
    row = {"sample_uuid": "u1", "frame": 0, "annotations": [{**ann, "track_id": 3}]}
    rules = _rules()
    fast = cuboid_line(rules, row, Location("c.jsonl", 1))
    errors: list[RowError] = []
    full = _json_line(rules, row, Location("c.jsonl", 1), errors)
    assert errors == []
    assert isinstance(fast, Line)
    assert isinstance(full, Line)
    assert fast.objects[0].out == full.objects[0].out
    assert full.objects[0].out["type"] == "cuboid"
    single = Converter(ConvertOptions(), Categories(list(enumerate(NAMES, 1)), "pointcloud-cuboid"))
    job = single.convert(
        Record(Location("c.jsonl", 1), "jsonl", {"sample_uuid": "u1", "annotations": [ann]})
    )
    assert isinstance(job, LabelJob)
    assert job.attributes["annotations"][0]["type"] == "cuboid"
    st.PointcloudCuboidLabelAttributes.model_validate(job.attributes)
