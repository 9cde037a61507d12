"""``pointcloud-vector-sequence`` labels: per-frame 3-D shapes (and cuboids) with
track ids, grouped into one label through the sequence rules of
``convert/sequences.py`` (the frame kind ``pointcloud-vector`` is one line of
its table), validated with the SDK's ``PointcloudSequenceVectorLabelAttributes``."""

from __future__ import annotations

import random
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from lidarkit import converter, errs, ok, sdk_valid, sequence_label

TT = "pointcloud-vector-sequence"


def lane(frame: int, track: int, y: float = 1.0, **extra: Any) -> dict[str, Any]:
    return {
        "sample_name": "drive-1",
        "frame": frame,
        "annotations": [
            {
                "type": "polyline",
                "category": "lane",
                "track_id": track,
                "points": [[0, y, 0], [10, y + 0.5, 0.1]],
                **extra,
            }
        ],
    }


def test_per_frame_shapes_become_one_sdk_valid_sequence_label() -> None:
    rows = [
        lane(2, 5),
        {
            "sample_name": "drive-1",
            "annotations": [
                {
                    "frame": 0,
                    "type": "point",
                    "category": "pole",
                    "track_id": 9,
                    "points": [[3, -2, 1.5]],
                },
                {
                    "frame": 0,
                    "type": "cuboid",
                    "category": "car",
                    "track_id": 1,
                    "position": [1, 2, 0.5],
                    "dimensions": [4, 2, 1.5],
                    "yaw": 0.1,
                },
                {
                    "frame": 2,
                    "type": "polygon",
                    "category": "lane",
                    "track_id": 4,
                    "is_keyframe": False,
                    "points": [[0, 0, 0], [1, 0, 0], [1, 1, 0]],
                },
            ],
        },
        lane(0, 5),
    ]
    job = ok(sequence_label(converter(TT), rows, frames=4))
    sdk_valid(TT, job.attributes)
    frames = job.attributes["frames"]
    assert len(frames) == 4  # the sample's frame count, empty frames included
    assert job.attributes["format_version"] == "0.2"
    assert [[(a["track_id"], a["type"]) for a in f["annotations"]] for f in frames] == [
        [(1, "cuboid"), (5, "polyline"), (9, "point")],
        [],
        [(4, "polygon"), (5, "polyline")],
        [],
    ]
    polygon = frames[2]["annotations"][0]
    assert polygon == {
        "id": 4,
        "category_id": 2,
        "type": "polygon",
        "points": [[0, 0, 0], [1, 0, 0], [1, 1, 0]],
        "track_id": 4,
        "is_keyframe": False,
    }


def test_csv_records_with_frame_track_and_points() -> None:
    header = ("sample_name", "frame", "track_id", "type", "category", "points", "score")
    lines = [
        ("drive-1", "1", "2", "polyline", "lane", "[[0,0,0],[5,0,0]]", "0.9"),
        ("drive-1", "0", "2", "polyline", "lane", "[[0,0,0],[5,0.5,0]]", "0.7"),
        ("drive-1", "0", "3", "point", "pole", "[[1,2,3]]", ""),
    ]
    rows = [("csv", dict(zip(header, line, strict=True))) for line in lines]
    job = ok(sequence_label(converter(TT), rows, frames=2))
    sdk_valid(TT, job.attributes)
    f0, f1 = job.attributes["frames"]
    assert [a["track_id"] for a in f0["annotations"]] == [2, 3]
    assert f1["annotations"][0]["points"] == [[0, 0, 0], [5, 0, 0]]
    assert job.score is not None
    assert abs(job.score - 0.8) < 1e-9


def test_a_bad_3d_point_fails_the_sequence_and_names_line_and_field() -> None:
    rows = [lane(0, 1), lane(1, 1), lane(2, 1)]
    rows[1]["annotations"][0]["points"] = [[0, 0, 0], [1, 1]]
    res = errs(sequence_label(converter(TT), rows, frames=3))
    assert [e.loc.line for e in res] == [1, 2, 3]
    assert res[1].field == "annotations[0].points[1]"
    assert "[x, y, z]" in res[1].message
    assert "line 2 of the same label" in res[0].message
    assert "line 2 of the same label" in res[2].message


def test_sequence_rules_apply_to_3d_shapes() -> None:
    conv = converter(TT)
    # A track that changes category between frames.
    rows = [lane(0, 1), lane(1, 1)]
    rows[1]["annotations"][0]["category"] = "pole"
    rows[1]["annotations"][0]["type"] = "point"
    rows[1]["annotations"][0]["points"] = [[1, 1, 1]]
    assert "changes category" in errs(sequence_label(conv, rows, frames=2))[1].message
    # A frame out of range, and a missing track id.
    assert "out of range" in errs(sequence_label(conv, [lane(5, 1)], frames=2))[0].message
    no_track = lane(0, 1)
    del no_track["annotations"][0]["track_id"]
    (err,) = errs(sequence_label(conv, [no_track], frames=2))
    assert err.field == "annotations[0].track_id"


@settings(max_examples=30, deadline=None)
@given(st.randoms(use_true_random=False))
def test_shuffled_rows_give_the_same_label(rnd: random.Random) -> None:
    conv = converter(TT)
    rows = [lane(f, t, y=float(t)) for f in range(4) for t in (1, 2, 3) if (f + t) % 3]
    rows.append(
        {
            "sample_name": "drive-1",
            "frame": 3,
            "annotations": [
                {"type": "point", "category": "pole", "track_id": 7, "points": [[0, 0, 2]]}
            ],
        }
    )
    expected = ok(sequence_label(conv, rows, frames=5)).attributes
    shuffled = rows[:]
    rnd.shuffle(shuffled)
    assert ok(sequence_label(conv, shuffled, frames=5)).attributes == expected
    sdk_valid(TT, expected)
