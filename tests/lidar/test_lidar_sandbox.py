"""Round trips through the sandbox: per-frame and single-sweep rows of
``pointcloud-vector``, ``pointcloud-vector-sequence`` and ``multisensor-sequence``
datasets uploaded by the CLI, read back with the official SDK (which validates
them with its models), and compared with what the rows said. Frame counts come
from the samples' attributes, each sensor's from its own entry."""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from lidarkit import sdk_valid
from segments import SegmentsClient

from clikit import Result, cli_env, run_cli, write_jsonl
from upload_preds.sandbox import SandboxHandle, start_sandbox

CATS = [{"id": 1, "name": "car"}, {"id": 2, "name": "lane"}, {"id": 3, "name": "person"}]
#: Sensors of the rig dataset and their frame counts in every sample.
RIG = {
    "lidar": ("pointcloud-cuboid-sequence", 3),
    "camera": ("image-vector-sequence", 5),
    "lanes": ("pointcloud-vector-sequence", 3),
}


def sample_uuid(name: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "lidar-test/" + name))


def _pcd(name: str, f: int) -> dict[str, Any]:
    return {"pcd": {"url": f"https://example.invalid/{name}/{f}.pcd", "type": "pcd"}}


def _image(name: str, f: int) -> dict[str, Any]:
    return {"image": {"url": f"https://example.invalid/{name}/{f}.jpg"}}


def _sample(name: str, attributes: dict[str, Any]) -> dict[str, Any]:
    return {"uuid": sample_uuid(name), "name": name, "attributes": attributes, "metadata": {}}


def _rig_sample(name: str) -> dict[str, Any]:
    sensors = []
    for sensor, (task_type, n) in RIG.items():
        frame = _image if task_type.startswith("image") else _pcd
        frames = [frame(f"{name}-{sensor}", f) for f in range(n)]
        sensors.append({"name": sensor, "task_type": task_type, "attributes": {"frames": frames}})
    return _sample(name, {"sensors": sensors})


def manifest() -> dict[str, Any]:
    def dataset(
        name: str, task_type: str, samples: list[dict[str, Any]], **ta: Any
    ) -> dict[str, Any]:
        return {
            "owner": "lidar",
            "name": name,
            "task_type": task_type,
            "task_attributes": {"format_version": "0.1", "categories": CATS, **ta},
            "labelsets": [{"name": "ground-truth", "description": ""}],
            "samples": samples,
        }

    return {
        "datasets": [
            dataset(
                "sweeps",
                "pointcloud-vector",
                [_sample(f"sweep-{i}", _pcd("s", i)) for i in range(2)],
            ),
            dataset(
                "drives",
                "pointcloud-vector-sequence",
                [
                    _sample(f"drive-{i}", {"frames": [_pcd(f"d{i}", f) for f in range(4)]})
                    for i in range(2)
                ],
            ),
            dataset(
                "rig",
                "multisensor-sequence",
                [_rig_sample(f"scene-{i}") for i in range(2)],
                sensors=[{"name": n, "task_type": t} for n, (t, _) in RIG.items()],
            ),
        ]
    }


@dataclass
class Env:
    sandbox: SandboxHandle
    key: str
    tmp: Path

    def run(self, *args: str | Path) -> Result:
        return run_cli(
            [*map(str, args), "--state", str(self.tmp / "journal.sqlite3")],
            env=cli_env(self.sandbox.url, self.key),
            cwd=self.tmp,
        )

    def label(self, name: str) -> dict[str, Any]:
        """The label as the official SDK reads it back (validated by its models)."""
        with SegmentsClient(self.key, api_url=self.sandbox.url) as client:
            label = client.get_label(sample_uuid(name), "ground-truth")
        attrs: dict[str, Any] = label.attributes.model_dump(mode="json", exclude_unset=True)
        return attrs

    def has_label(self, name: str) -> bool:
        from segments.exceptions import NotFoundError

        try:
            self.label(name)
        except NotFoundError:
            return False
        return True


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    key = "sk-test-" + secrets.token_hex(12)
    handle = start_sandbox(data=manifest(), db=tmp_path / "sandbox.db", api_key=key)
    try:
        yield Env(handle, key, tmp_path)
    finally:
        handle.stop()


def test_pointcloud_vector_round_trip(env: Env) -> None:
    rows = [
        {
            "sample_name": "sweep-0",
            "annotations": [
                {
                    "type": "polygon",
                    "category": "lane",
                    "points": [[0, 0, 0], [4, 0, 0.1], [4, 3.5, 0.2]],
                },
                {"type": "point", "category": "person", "points": [[3, -2, 1.5]], "score": 0.8},
                {
                    "type": "cuboid",
                    "category": "car",
                    "position": [1, 2, 0.5],
                    "dimensions": [4, 2, 1.5],
                    "yaw": 0.3,
                },
            ],
        },
        {
            "sample_name": "sweep-1",
            "annotations": [{"type": "polyline", "category": "lane", "points": [[0, 0, 0]]}],
        },
    ]
    write_jsonl(env.tmp / "p.jsonl", rows)
    res = env.run("p.jsonl", "--dataset", "lidar/sweeps")
    assert res.code == 1, res.stderr
    assert "p.jsonl:2 sweep-1: annotations[0].points: a polyline needs at least 2" in res.stderr
    back = env.label("sweep-0")
    sdk_valid("pointcloud-vector", back)
    assert [(a["type"], a["category_id"]) for a in back["annotations"]] == [
        ("polygon", 2),
        ("point", 3),
        ("cuboid", 1),
    ]
    assert back["annotations"][0]["points"] == [[0, 0, 0], [4, 0, 0.1], [4, 3.5, 0.2]]
    assert not env.has_label("sweep-1")


def test_pointcloud_vector_sequence_round_trip_with_csv(env: Env) -> None:
    (env.tmp / "p.csv").write_text(
        "sample_name,frame,track_id,type,category,points\n"
        'drive-0,2,1,polyline,lane,"[[0,0,0],[9,0.5,0]]"\n'
        'drive-0,0,1,polyline,lane,"[[0,0,0],[9,0.4,0]]"\n'
        'drive-0,0,2,point,person,"[[3,1,1.7]]"\n'
    )
    res = env.run("p.csv", "--dataset", "lidar/drives")
    assert res.code == 0, res.stderr
    back = env.label("drive-0")
    sdk_valid("pointcloud-vector-sequence", back)
    frames = back["frames"]
    assert len(frames) == 4  # the sample's frames, not the highest index + 1
    assert [[a["track_id"] for a in f["annotations"]] for f in frames] == [[1, 2], [], [1], []]
    assert frames[2]["annotations"][0]["points"] == [[0, 0, 0], [9, 0.5, 0]]


def _cuboid(name: str, frame: int, track: int) -> dict[str, Any]:
    return {
        "sample_name": name,
        "sensor": "lidar",
        "frame": frame,
        "annotations": [
            {
                "type": "cuboid",
                "category": "car",
                "track_id": track,
                "position": [float(frame), 2.0, 0.5],
                "dimensions": [4.0, 2.0, 1.5],
                "yaw": 0.1,
            }
        ],
    }


def _box(name: str, frame: int, track: int, sensor: str = "camera") -> dict[str, Any]:
    ann = {"category": "person", "track_id": track, "bbox": [10, 20, 40, 90], "score": 0.9}
    return {"sample_name": name, "sensor": sensor, "frame": frame, "annotations": [ann]}


def test_multisensor_round_trip_and_a_bad_sensor_fails_its_label_only(env: Env) -> None:
    rows = [_box("scene-0", 4, 7), _cuboid("scene-0", 0, 1), _cuboid("scene-0", 2, 1)]
    rows += [_cuboid("scene-1", 0, 1), _box("scene-1", 0, 2, sensor="radar")]
    write_jsonl(env.tmp / "p.jsonl", rows)
    fails = env.tmp / "failed.jsonl"
    res = env.run("p.jsonl", "--dataset", "lidar/rig", "--failures", fails)
    assert res.code == 1, res.stderr
    back = env.label("scene-0")
    sdk_valid("multisensor-sequence", back)
    sensors = {s["name"]: s for s in back["sensors"]}
    assert list(sensors) == ["lidar", "camera", "lanes"]
    # Each sensor has its own sample's count of frames.
    assert len(sensors["lidar"]["attributes"]["frames"]) == 3
    assert len(sensors["camera"]["attributes"]["frames"]) == 5
    assert [len(f["annotations"]) for f in sensors["lidar"]["attributes"]["frames"]] == [1, 0, 1]
    assert sensors["camera"]["attributes"]["frames"][4]["annotations"][0]["track_id"] == 7
    assert sensors["lanes"]["attributes"] == []  # no rows: the SDK's "no label"
    assert not env.has_label("scene-1")
    failed = [json.loads(x) for x in fails.read_text().splitlines()]
    assert len(failed) == 2
    assert all(r["sample_name"] == "scene-1" for r in failed)
    by_sensor = {r["sensor"]: r["_error"] for r in failed}
    assert (
        by_sensor["radar"]
        == "sensor: unknown sensor 'radar' (the dataset has: lidar, camera, lanes)"
    )
    assert by_sensor["lidar"].startswith("no error of its own")
