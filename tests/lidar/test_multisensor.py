"""``multisensor-sequence`` labels: rows of several sensors of one sample become one
label with an entry per declared sensor, each in its own task type's sequence
format with its own categories; validated with the SDK's
``MultiSensorLabelAttributes``. Row errors: no sensor, an unknown sensor (the
message lists the names), a row not in its sensor's form."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path
from typing import Any

import pytest
import segments.typing as sdk
from hypothesis import given, settings
from hypothesis import strategies as st
from lidarkit import categories_of, errs, offline_env, ok, sdk_valid, sequence_label

from clikit import run_cli, write_jsonl
from upload_preds.convert import Converter, ConvertOptions
from upload_preds.convert.categories import Categories
from upload_preds.sampleshape import SampleShapes

TT = "multisensor-sequence"
# The same name has different ids in different sensors: each sensor's own categories.
TASK_ATTRIBUTES: dict[str, Any] = {
    "sensors": [
        {
            "name": "lidar",
            "task_type": "pointcloud-cuboid-sequence",
            "task_attributes": {
                "categories": [{"id": 1, "name": "car"}, {"id": 2, "name": "person"}]
            },
        },
        {
            "name": "front-camera",
            "task_type": "image-vector-sequence",
            "task_attributes": {
                "categories": [{"id": 5, "name": "person"}, {"id": 6, "name": "car"}]
            },
        },
        {
            "name": "lanes",
            "task_type": "pointcloud-vector-sequence",
            "task_attributes": {"categories": [{"id": 1, "name": "lane"}]},
        },
        {
            "name": "rear-camera",
            "task_type": "image-segmentation-sequence",
            "task_attributes": {"categories": [{"id": 1, "name": "road"}]},
        },
    ]
}


def conv(**opts: Any) -> Converter:
    return Converter(ConvertOptions(**opts), categories_of(TT, TASK_ATTRIBUTES))


def cuboid(frame: int, track: int, category: str = "car", **extra: Any) -> dict[str, Any]:
    ann = {
        "type": "cuboid",
        "category": category,
        "track_id": track,
        "position": [float(track), 2.0, 0.5],
        "dimensions": [4.0, 2.0, 1.5],
        "yaw": 0.1,
        **extra,
    }
    return {"sample_name": "scene-1", "sensor": "lidar", "frame": frame, "annotations": [ann]}


def box(frame: int, track: int, category: str = "car", **extra: Any) -> dict[str, Any]:
    ann = {"category": category, "track_id": track, "bbox": [10, 20, 110, 220], **extra}
    return {
        "sample_name": "scene-1",
        "sensor": "front-camera",
        "frame": frame,
        "annotations": [ann],
    }


def test_rows_of_two_sensors_make_one_label_with_every_declared_sensor() -> None:
    rows = [box(1, 7), cuboid(0, 3), cuboid(1, 3), box(0, 8, "person")]
    job = ok(sequence_label(conv(), rows, frames={"lidar": 3, "front-camera": 2, "lanes": 3}))
    attrs = job.attributes
    sdk_valid(TT, attrs)
    assert [(s["name"], s["task_type"]) for s in attrs["sensors"]] == [
        ("lidar", "pointcloud-cuboid-sequence"),
        ("front-camera", "image-vector-sequence"),
        ("lanes", "pointcloud-vector-sequence"),
        ("rear-camera", "image-segmentation-sequence"),
    ]
    lidar, camera, lanes, rear = (s["attributes"] for s in attrs["sensors"])
    assert len(lidar["frames"]) == 3  # each sensor's own frame count
    assert len(camera["frames"]) == 2
    assert [a["category_id"] for a in lidar["frames"][1]["annotations"]] == [1]  # car in lidar
    assert [a["category_id"] for a in camera["frames"][1]["annotations"]] == [6]  # car in camera
    assert camera["frames"][0]["annotations"][0]["points"] == [[10, 20], [110, 220]]
    # Sensors without rows: the SDK's "no label" form.
    assert lanes == []
    assert rear == []


def test_3d_shapes_in_a_pointcloud_vector_sensor() -> None:
    row = {
        "sample_name": "scene-1",
        "sensor": "lanes",
        "frame": 1,
        "annotations": [
            {
                "type": "polyline",
                "category": "lane",
                "track_id": 2,
                "points": [[0, 0, 0], [9, 0.5, 0]],
            }
        ],
    }
    job = ok(sequence_label(conv(), [row], frames=2))  # --frames N: every sensor N frames
    sdk_valid(TT, job.attributes)
    lanes = job.attributes["sensors"][2]["attributes"]
    assert [len(f["annotations"]) for f in lanes["frames"]] == [0, 1]
    assert job.attributes["sensors"][0]["attributes"] == []


def test_the_label_score_is_taken_over_all_sensors() -> None:
    rows = [cuboid(0, 1, score=0.9), box(0, 1, score=0.5), box(1, 2, score=0.1)]
    job = ok(sequence_label(conv(min_score=0.3), rows, frames=2))
    assert job.score == pytest.approx(0.7)
    assert job.filtered_annotations == 1
    job = ok(sequence_label(conv(score_from="max"), rows, frames=2))
    assert job.score == pytest.approx(0.9)


def test_track_ids_are_per_sensor() -> None:
    # Track 1 is a car in lidar and a person in the camera: two objects, not a
    # track that changes category.
    rows = [cuboid(0, 1, "car"), box(0, 1, "person")]
    job = ok(sequence_label(conv(), rows, frames=1))
    sdk_valid(TT, job.attributes)


@pytest.mark.parametrize(
    ("sensor", "field", "reason", "words"),
    [
        (
            "radar",
            "sensor",
            "unknown sensor",
            "unknown sensor 'radar' (the dataset has: lidar, front-camera, lanes, rear-camera)",
        ),
        (None, "sensor", "missing field", "give 'sensor' (the dataset has: lidar, front-camera"),
        (3, "sensor", "invalid value", "should be a sensor name"),
        # A box row for a segmentation sensor: that sensor's rows are frames with masks.
        ("rear-camera", "mask_path", "missing field", "a frame row needs 'mask_path'"),
    ],
)
def test_sensor_errors_fail_the_label_and_name_the_line(
    sensor: Any, field: str, reason: str, words: str
) -> None:
    bad = box(1, 7)
    if sensor is None:
        del bad["sensor"]
    else:
        bad["sensor"] = sensor
    res = errs(sequence_label(conv(), [cuboid(0, 3), bad, cuboid(1, 3)], frames=2))
    assert len(res) == 3
    assert res[1].field == field
    assert res[1].reason == reason
    assert words in res[1].message
    assert "line 2 of the same label" in res[0].message
    assert "line 2 of the same label" in res[2].message


def test_categories_are_the_sensors_own() -> None:
    # "lane" exists in the lanes sensor only; in the camera it is an unknown category
    # and the message lists the camera's categories.
    res = errs(sequence_label(conv(), [box(0, 1, "lane")], frames=1))
    assert res[0].field == "annotations[0].category"
    assert "5 person, 6 car" in res[0].message


def test_csv_sensor_column() -> None:
    header = ("sample_name", "sensor", "frame", "track_id", "category", "x0", "y0", "x1", "y1")
    lines = [
        ("scene-1", "front-camera", "0", "4", "person", "1", "2", "30", "40"),
        ("scene-1", "front-camera", "1", "4", "person", "2", "2", "31", "40"),
    ]
    rows = [("csv", dict(zip(header, line, strict=True))) for line in lines]
    job = ok(sequence_label(conv(), rows, frames={"front-camera": 2}))
    sdk_valid(TT, job.attributes)
    camera = job.attributes["sensors"][1]["attributes"]
    assert [f["annotations"][0]["category_id"] for f in camera["frames"]] == [5, 5]
    rows[1][1]["sensor"] = "back"
    res = errs(sequence_label(conv(), rows, frames=2))
    assert (res[1].field, res[1].reason) == ("sensor", "unknown sensor")
    rows[1][1]["sensor"] = " "
    res = errs(sequence_label(conv(), rows, frames=2))
    assert (res[1].field, res[1].reason) == ("sensor", "missing field")


def test_frame_counts_come_from_the_samples_sensors() -> None:
    sample = {
        "sensors": [
            {
                "name": "lidar",
                "task_type": "pointcloud-cuboid-sequence",
                "attributes": {
                    "frames": [
                        {"pcd": {"url": f"https://x/{i}.pcd", "type": "pcd"}} for i in range(3)
                    ]
                },
            },
            {
                "name": "front-camera",
                "task_type": "image-vector-sequence",
                "attributes": {
                    "frames": [{"image": {"url": f"https://x/{i}.jpg"}} for i in range(5)]
                },
            },
        ]
    }
    sdk.MultiSensorSampleAttributes.model_validate(sample)  # a real sample's shape
    shapes = SampleShapes()
    shapes.add({"uuid": "u1", "attributes": sample})
    shapes.add({"uuid": "u2", "attributes": {"frames": [{}, {}]}})
    assert shapes.sensor_frames("u1") == {"lidar": 3, "front-camera": 5}
    assert shapes.sensor_frames("u2") is None
    # Through the converter: each sensor gets its sample's count of frames.
    job = ok(sequence_label(conv(), [cuboid(0, 1), box(0, 1)], frames=shapes.sensor_frames("u1")))
    sdk_valid(TT, job.attributes)
    lidar, camera = (s["attributes"] for s in job.attributes["sensors"][:2])
    assert (len(lidar["frames"]), len(camera["frames"])) == (3, 5)


@pytest.mark.parametrize(
    ("sensors", "words"),
    [
        (
            [
                {
                    "name": "a",
                    "task_type": "image-vector-sequence",
                    "task_attributes": {"categories": []},
                }
            ]
            * 2,
            "two sensors are named 'a'",
        ),
        (
            [{"name": "a", "task_type": "lidar", "task_attributes": {"categories": []}}],
            "unknown task type 'lidar'",
        ),
        (
            [{"name": "a", "task_type": "image-vector-sequence", "task_attributes": []}],
            "sensors[0] (a): task_attributes should be a JSON object",
        ),
        (
            [{"task_type": "image-vector-sequence", "task_attributes": {"categories": []}}],
            "sensors[0].name",
        ),
    ],
)
def test_a_dataset_with_unusable_sensors_is_refused(sensors: list[Any], words: str) -> None:
    with pytest.raises(ValueError, match=re.escape(words)):
        Categories.from_task_attributes({"sensors": sensors}, TT)


@settings(max_examples=30, deadline=None)
@given(st.randoms(use_true_random=False))
def test_shuffled_rows_give_the_same_label(rnd: random.Random) -> None:
    c = conv()
    rows = [cuboid(f, t) for f in range(3) for t in (1, 2)]
    rows += [
        box(f, t, "person" if t == 1 else "car") for f in range(3) for t in (1, 4) if f or t == 1
    ]
    frames = {"lidar": 3, "front-camera": 4}
    expected = ok(sequence_label(c, rows, frames=frames)).attributes
    shuffled = rows[:]
    rnd.shuffle(shuffled)
    assert ok(sequence_label(c, shuffled, frames=frames)).attributes == expected
    sdk_valid(TT, expected)


def test_cli_offline_multisensor_labels(tmp_path: Path) -> None:
    dataset = tmp_path / "dataset.json"
    dataset.write_text(json.dumps({"task_type": TT, "task_attributes": TASK_ATTRIBUTES}))
    other = [dict(r, sample_name="scene-2") for r in (cuboid(0, 1), box(0, 1, sensor="x"))]
    other[1]["sensor"] = "radar"
    src = write_jsonl(tmp_path / "preds.jsonl", [cuboid(1, 3), box(0, 2), cuboid(0, 3), *other])
    out = tmp_path / "labels.jsonl"
    res = run_cli(
        [str(src), "--categories", str(dataset), "--output-labels", str(out), "--json"],
        env=offline_env(),
        cwd=tmp_path,
    )
    assert res.code == 1, res.stderr
    assert "preds.jsonl:5: sensor" in res.stderr
    assert "unknown sensor 'radar'" in res.stderr
    (label,) = [json.loads(x) for x in out.read_text().splitlines()]
    assert label["sample_name"] == "scene-1"
    sdk_valid(TT, label["attributes"])
    lidar = label["attributes"]["sensors"][0]["attributes"]
    assert [[a["track_id"] for a in f["annotations"]] for f in lidar["frames"]] == [[3], [3]]
    assert res.report()["counts"] == {"rows": 5, "uploaded": 0, "skipped": 3, "failed": 2}


def test_sensors_without_categories_of_their_own_take_the_datasets() -> None:
    ta = {
        "categories": [{"id": 4, "name": "car"}],
        "sensors": [{"name": "lidar", "task_type": "pointcloud-cuboid-sequence"}],
    }
    c = Converter(ConvertOptions(), categories_of(TT, ta))
    job = ok(sequence_label(c, [cuboid(0, 1)], frames=1))
    sdk_valid(TT, job.attributes)
    assert (
        job.attributes["sensors"][0]["attributes"]["frames"][0]["annotations"][0]["category_id"]
        == 4
    )


def test_a_row_for_a_sensor_the_sample_lacks() -> None:
    rows = [cuboid(0, 1), box(0, 1)]
    res = errs(sequence_label(conv(), rows, frames={"lidar": 2, "lanes": 2}))
    assert (res[1].field, res[1].reason) == ("sensor", "unknown sensor")
    assert res[1].message == "the sample has no sensor 'front-camera' (it has: lidar, lanes)"


def test_a_sensor_of_a_single_frame_task_type_is_a_usage_error(tmp_path: Path) -> None:
    ta = {
        "sensors": [{"name": "cam", "task_type": "vector", "task_attributes": {"categories": []}}]
    }
    dataset = tmp_path / "dataset.json"
    dataset.write_text(json.dumps({"task_type": TT, "task_attributes": ta}))
    src = write_jsonl(tmp_path / "preds.jsonl", [box(0, 1, sensor="cam")])
    res = run_cli(
        [str(src), "--categories", str(dataset), "--dry-run"], env=offline_env(), cwd=tmp_path
    )
    assert res.code == 2, res.stderr
    assert "sensor 'cam' has task type 'vector'" in res.stderr
