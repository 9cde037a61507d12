"""Every task type of the SDK's ``TaskType`` list is served and validated as the platform's models
describe: sequences (frames counted against the sample, track ids required), multi-sensor labels
(sensors as the sample and dataset declare, each checked by its own task type), point-cloud
vectors and segmentation (one id per point, every id annotated).

Each rule is checked twice: the sandbox refuses the body with a message naming the path, and
the SDK's own model of that task type is asked too, so the table says which mistakes the SDK
would let through (it drops unknown keys and counts nothing).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pydantic
import pytest
from sandboxkit import KEY
from segments import SegmentsClient
from segments.exceptions import NetworkError
from segments.typing import (
    ImageSequenceSegmentationLabelAttributes,
    ImageSequenceVectorLabelAttributes,
    MultiSensorLabelAttributes,
    PointcloudSegmentationLabelAttributes,
    PointcloudSequenceCuboidLabelAttributes,
    PointcloudSequenceSegmentationLabelAttributes,
    PointcloudSequenceVectorLabelAttributes,
    PointcloudVectorLabelAttributes,
    TaskType,
)
from sequencekit import DATASETS, FRAMES, POINTS, good_label, manifest, sample_uuid, write_manifest

from clikit import cli_env, run_cli, write_jsonl
from upload_preds.sandbox import ManifestError, SandboxHandle, start_sandbox
from upload_preds.sandbox.manifest import parse_manifest
from upload_preds.sandbox.validate import SUPPORTED_TASK_TYPES

MODELS: dict[str, type[pydantic.BaseModel]] = {
    "image-vector-sequence": ImageSequenceVectorLabelAttributes,
    "image-segmentation-sequence": ImageSequenceSegmentationLabelAttributes,
    "pointcloud-cuboid-sequence": PointcloudSequenceCuboidLabelAttributes,
    "pointcloud-vector": PointcloudVectorLabelAttributes,
    "pointcloud-vector-sequence": PointcloudSequenceVectorLabelAttributes,
    "pointcloud-segmentation": PointcloudSegmentationLabelAttributes,
    "pointcloud-segmentation-sequence": PointcloudSequenceSegmentationLabelAttributes,
    "multisensor-sequence": MultiSensorLabelAttributes,
}


@pytest.fixture
def seq_sandbox(tmp_path: Path) -> Iterator[SandboxHandle]:
    with start_sandbox(data=write_manifest(tmp_path), api_key=KEY) as sb:
        yield sb


@pytest.fixture
def raw(seq_sandbox: SandboxHandle) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"APIKey {KEY}"}
    with httpx.Client(base_url=seq_sandbox.url, headers=headers, timeout=30) as c:
        yield c


@pytest.fixture
def sdk(seq_sandbox: SandboxHandle) -> Iterator[SegmentsClient]:
    with SegmentsClient(KEY, api_url=seq_sandbox.url) as c:
        yield c


def sdk_accepts(task_type: str, attributes: Any) -> bool:
    try:
        MODELS[task_type].model_validate(attributes)
    except pydantic.ValidationError:
        return False
    return True


def test_every_task_type_of_the_sdk_is_served(seq_sandbox: SandboxHandle) -> None:
    assert {t.value for t in TaskType if t.value} == set(SUPPORTED_TASK_TYPES)
    with SegmentsClient(KEY, api_url=seq_sandbox.url) as c:
        for name, task_type in DATASETS.items():
            ds = c.get_dataset(f"seq/{name}")
            assert ds.task_type == task_type
            sample = c.get_sample(sample_uuid(name, 0))
            assert sample.attributes is not None


@pytest.mark.parametrize(("dataset", "task_type"), list(DATASETS.items()))
def test_a_good_label_round_trips_through_the_sdk(
    dataset: str, task_type: str, sdk: SegmentsClient, raw: httpx.Client
) -> None:
    body = good_label(task_type)
    assert sdk_accepts(task_type, body)
    u = sample_uuid(dataset, 1)
    # The SDK's add_label validates and re-serialises the attributes before sending.
    sdk.add_label(u, "predictions", body, score=0.5)
    stored = raw.get(f"/labels/{u}/predictions/").json()
    assert stored["attributes"] == body
    label = sdk.get_label(u, "predictions")
    assert label.label_type == task_type
    assert isinstance(label.attributes, MODELS[task_type])
    assert label.attributes.model_dump(mode="json", exclude_unset=True) == body


def _drop(path: tuple[Any, ...]) -> Callable[[dict[str, Any]], None]:
    def mutate(label: dict[str, Any]) -> None:
        obj: Any = label
        for key in path[:-1]:
            obj = obj[key]
        del obj[path[-1]]

    return mutate


def _set(path: tuple[Any, ...], value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(label: dict[str, Any]) -> None:
        obj: Any = label
        for key in path[:-1]:
            obj = obj[key]
        obj[path[-1]] = value

    return mutate


def _short_frames(label: dict[str, Any]) -> None:
    label["frames"].pop()


def _short_lidar(label: dict[str, Any]) -> None:
    label["sensors"][0]["attributes"]["frames"].pop()


def _twice(label: dict[str, Any]) -> None:
    label["sensors"].append(copy.deepcopy(label["sensors"][1]))


def _cuboid_in_camera(label: dict[str, Any]) -> None:
    label["sensors"][1]["attributes"]["frames"][0]["annotations"][0] = copy.deepcopy(
        label["sensors"][0]["attributes"]["frames"][0]["annotations"][0]
    )


def _flat_points(label: dict[str, Any]) -> None:
    label["annotations"][0]["points"] = [[0.0, 0.0], [4.0, 0.0], [4.0, 2.0]]


def _short_cloud(label: dict[str, Any]) -> None:
    label["point_annotations"].pop()


def _short_cloud_frame(label: dict[str, Any]) -> None:
    label["frames"][2]["point_annotations"].append(0)


def _unannotated_id(label: dict[str, Any]) -> None:
    label["point_annotations"][5] = 9


def _negative_id(label: dict[str, Any]) -> None:
    label["point_annotations"][5] = -1


# (dataset, mutation, what the message says, whether the SDK's model accepts the body)
RULES: list[Any] = [
    pytest.param(
        "video",
        _set(("frames", 0, "annotations", 0, "confidence"), 0.9),
        "frames[0].annotations[0].confidence: unknown key",
        True,
        id="unknown-key-in-frame",
    ),
    pytest.param(
        "video",
        _drop(("frames", 1, "annotations", 0, "track_id")),
        "frames[1].annotations[0].track_id: required",
        False,
        id="video-track-id",
    ),
    pytest.param(
        "video",
        _short_frames,
        f"frames: {FRAMES - 1} frames for a sample of {FRAMES}",
        True,
        id="video-frame-count",
    ),
    pytest.param("video", _set(("links",), []), "links: unknown key", True, id="video-links"),
    pytest.param(
        "video-masks",
        _set(("frames", 2, "segmentation_bitmap", "url"), "file:///tmp/m.png"),
        "frames[2].segmentation_bitmap.url: 'file:///tmp/m.png' is not an asset URL",
        True,
        id="mask-url-local",
    ),
    pytest.param(
        "video-masks",
        _drop(("frames", 0, "segmentation_bitmap")),
        "frames[0].segmentation_bitmap: required",
        True,
        id="mask-missing-with-objects",
    ),
    pytest.param(
        "video-masks",
        _drop(("frames", 3, "annotations", 1, "track_id")),
        "frames[3].annotations[1].track_id: required",
        False,
        id="mask-track-id",
    ),
    pytest.param(
        "video-masks",
        _set(("frames", 0, "annotations", 0, "id"), 1 << 24),
        "an instance id must be between 1 and 16777215",
        True,
        id="mask-id-range",
    ),
    pytest.param(
        "lidar-cuboids",
        _drop(("frames", 0, "annotations", 0, "track_id")),
        "frames[0].annotations[0].track_id: required",
        False,
        id="cuboid-track-id",
    ),
    pytest.param(
        "lidar-cuboids",
        _short_frames,
        f"frames: {FRAMES - 1} frames for a sample of {FRAMES}",
        True,
        id="cuboid-frame-count",
    ),
    pytest.param(
        "lidar-cuboids",
        _set(("frames", 1, "links"), []),
        "frames[1].links: unknown key",
        True,
        id="cuboid-frame-links",
    ),
    pytest.param(
        "lidar-vector",
        _flat_points,
        "annotations[0].points[0]: must be [x, y, z]",
        True,
        id="vector-3d-points",
    ),
    pytest.param(
        "lidar-vector",
        _set(("annotations", 0, "type"), "bbox"),
        "annotations[0].type: 'bbox' is not an annotation type",
        False,
        id="vector-type",
    ),
    pytest.param(
        "lidar-vectors",
        _drop(("frames", 2, "annotations", 3, "track_id")),
        "frames[2].annotations[3].track_id: required",
        False,
        id="vector-seq-track-id",
    ),
    pytest.param(
        "lidar-vectors",
        _set(("frames", 0, "annotations", 2, "points"), []),
        "frames[0].annotations[2].points: a point has exactly 1",
        True,
        id="vector-point-count",
    ),
    pytest.param(
        "scan",
        _short_cloud,
        f"point_annotations: {POINTS - 1} ids for a point cloud of {POINTS} points",
        True,
        id="seg-length",
    ),
    pytest.param(
        "scan",
        _unannotated_id,
        "point_annotations: instance id(s) 9 have no annotation",
        True,
        id="seg-unannotated-id",
    ),
    pytest.param(
        "scan",
        _negative_id,
        "point_annotations: every entry must be a whole number ≥ 0, got -1",
        True,
        id="seg-negative-id",
    ),
    pytest.param(
        "scan",
        _set(("annotations", 0, "category_id"), 99),
        "annotations[0].category_id: 99 is not a category",
        True,
        id="seg-category",
    ),
    pytest.param(
        "scan",
        _set(("annotations", 0, "id"), 0),
        "annotations[0].id: an instance id is 1 or more",
        True,
        id="seg-id-zero",
    ),
    pytest.param(
        "scans",
        _short_cloud_frame,
        f"frames[2].point_annotations: {POINTS + 1} ids for a point cloud of {POINTS}",
        True,
        id="seg-seq-length",
    ),
    pytest.param(
        "scans",
        _drop(("frames", 0, "annotations", 0, "track_id")),
        "frames[0].annotations[0].track_id: required",
        False,
        id="seg-seq-track-id",
    ),
    pytest.param(
        "scans",
        _short_frames,
        f"frames: {FRAMES - 1} frames for a sample of {FRAMES}",
        True,
        id="seg-seq-frame-count",
    ),
    pytest.param(
        "rig",
        _set(("sensors", 0, "name"), "radar"),
        "sensors[0].name: 'radar' is not a sensor of this sample (lidar (pointcloud-cuboid-sequence), camera",
        True,
        id="sensor-name",
    ),
    pytest.param(
        "rig",
        _set(("sensors", 1, "task_type"), "image-segmentation-sequence"),
        "sensors[1].task_type: sensor 'camera' is image-vector-sequence",
        True,
        id="sensor-task-type",
    ),
    pytest.param(
        "rig",
        _cuboid_in_camera,
        "sensors[1].attributes.frames[0].annotations[0].position: unknown key",
        False,
        id="sensor-own-task-type",
    ),
    pytest.param(
        "rig",
        _short_lidar,
        f"sensors[0].attributes.frames: {FRAMES - 1} frames for a sample of {FRAMES}",
        True,
        id="sensor-frame-count",
    ),
    pytest.param(
        "rig", _twice, "sensors[2].name: sensor 'camera' is given twice", True, id="sensor-twice"
    ),
    pytest.param(
        "rig",
        _set(("format_version",), "0.1"),
        "format_version: unknown key",
        True,
        id="sensor-top-level-key",
    ),
    pytest.param(
        "rig",
        _drop(("sensors", 0, "attributes", "frames", 0, "annotations", 0, "track_id")),
        "sensors[0].attributes.frames[0].annotations[0].track_id: required",
        False,
        id="sensor-track-id",
    ),
    # A track keeps one category: the platform's rule, not the SDK models' (they accept it).
    pytest.param(
        "video",
        _set(("frames", 2, "annotations", 0, "category_id"), 2),
        "frames[2].annotations[0].category_id: track 1 is category 2 here but 1 in frames[0]",
        True,
        id="video-track-category",
    ),
    pytest.param(
        "lidar-cuboids",
        _set(("frames", 1, "annotations", 0, "category_id"), 3),
        "frames[1].annotations[0].category_id: track ",
        True,
        id="cuboid-track-category",
    ),
    pytest.param(
        "lidar-vectors",
        _set(("frames", 3, "annotations", 1, "category_id"), 3),
        "frames[3].annotations[1].category_id: track 2 is category 3 here but 2 in frames[0]",
        True,
        id="vector-track-category",
    ),
    pytest.param(
        "rig",
        _set(("sensors", 1, "attributes", "frames", 1, "annotations", 1, "category_id"), 1),
        "sensors[1].attributes.frames[1].annotations[1].category_id: track 2 is category 1 "
        "here but 2 in frames[0]",
        True,
        id="sensor-track-category",
    ),
]


@pytest.mark.parametrize(("dataset", "mutate", "message", "sdk_ok"), RULES)
def test_each_rule_is_enforced_and_compared_with_the_sdk(
    dataset: str,
    mutate: Callable[[dict[str, Any]], None],
    message: str,
    sdk_ok: bool,
    raw: httpx.Client,
) -> None:
    task_type = DATASETS[dataset]
    body = good_label(task_type)
    mutate(body)
    assert sdk_accepts(task_type, body) is sdk_ok
    u = sample_uuid(dataset, 0)
    r = raw.put(f"/labels/{u}/ground-truth/", json={"attributes": body})
    assert r.status_code == 400, r.text
    messages = r.json()["attributes"]
    assert any(message in m for m in messages), messages
    assert raw.get(f"/labels/{u}/ground-truth/").status_code == 404  # nothing half-written
    # The same body is refused by PATCH over an existing good label.
    assert (
        raw.put(
            f"/labels/{u}/ground-truth/", json={"attributes": good_label(task_type)}
        ).status_code
        == 201
    )
    assert raw.patch(f"/labels/{u}/ground-truth/", json={"attributes": body}).status_code == 400


def _one(task_type: str, sample: dict[str, Any]) -> dict[str, Any]:
    ds = {
        "owner": "seq",
        "name": "one",
        "task_type": task_type,
        "task_attributes": {"categories": [{"id": 1, "name": "car"}]},
        "samples": [sample],
    }
    if task_type == "multisensor-sequence":
        ds["task_attributes"]["sensors"] = [
            {"name": "lidar", "task_type": "pointcloud-cuboid-sequence"}
        ]
    return {"datasets": [ds]}


@pytest.mark.parametrize(
    ("task_type", "sample", "message"),
    [
        pytest.param(
            "image-vector-sequence",
            {"name": "v", "attributes": {"image": {"url": "a.png"}}},
            "attributes.frames: required in a image-vector-sequence dataset",
            id="frames-required",
        ),
        pytest.param(
            "pointcloud-cuboid-sequence",
            {"name": "c", "attributes": {"frames": [{"pcd": {"url": "a.pcd", "type": "xyz"}}]}},
            "attributes.frames[0].pcd.type: 'xyz' is not one of",
            id="pcd-type",
        ),
        pytest.param(
            "pointcloud-segmentation-sequence",
            {
                "name": "s",
                "attributes": {"frames": [{"pcd": {"url": "a.pcd", "type": "pcd"}}]},
                "metadata": {"point_count": [10, 10]},
            },
            "metadata.point_count: 2 numbers for 1 frames",
            id="point-count-per-frame",
        ),
        pytest.param(
            "pointcloud-segmentation",
            {
                "name": "p",
                "attributes": {"pcd": {"url": "a.pcd", "type": "pcd"}},
                "metadata": {"point_count": -3},
            },
            "metadata.point_count: the number of points of the cloud, got -3",
            id="point-count",
        ),
        pytest.param(
            "multisensor-sequence",
            {
                "name": "m",
                "attributes": {
                    "sensors": [
                        {
                            "name": "cam",
                            "task_type": "image-vector-sequence",
                            "attributes": {"frames": []},
                        }
                    ]
                },
            },
            "sensor 'cam' (image-vector-sequence) is not one the dataset declares: lidar (pointcloud-cuboid-sequence)",
            id="sensor-not-declared",
        ),
    ],
)
def test_manifest_samples_must_have_the_shape_of_their_task_type(
    task_type: str, sample: dict[str, Any], message: str
) -> None:
    with pytest.raises(ManifestError, match="datasets\\[0\\]\\.samples\\[0\\]") as info:
        parse_manifest(_one(task_type, sample), "m.json")
    assert message in str(info.value)


def test_manifest_labels_are_checked_against_their_sample(tmp_path: Path) -> None:
    m = manifest(tmp_path, samples=1)
    video = m["datasets"][0]
    label = good_label("image-vector-sequence", frames=FRAMES + 1)
    video["samples"][0]["labels"] = {"ground-truth": {"attributes": label}}
    with pytest.raises(ManifestError) as info:
        parse_manifest(m, "m.json")
    assert f"frames: {FRAMES + 1} frames for a sample of {FRAMES}" in str(info.value)
    video["samples"][0]["labels"] = {
        "ground-truth": {"attributes": good_label("image-vector-sequence")}
    }
    parse_manifest(json.loads(json.dumps(m)), "m.json")


def test_samples_added_through_the_api_give_the_shape_labels_are_checked_against(
    sdk: SegmentsClient, raw: httpx.Client
) -> None:
    frames = [{"pcd": {"url": f"https://x.example/{i}.pcd", "type": "pcd"}} for i in range(2)]
    sample = sdk.add_sample(
        "seq/scans", "added", {"frames": frames}, metadata={"point_count": [5, 7]}
    )
    label = {
        "frames": [
            {
                "annotations": [{"id": 1, "category_id": 1, "track_id": 1}],
                "point_annotations": [1, 0, 0, 0, 1],
            },
            {"annotations": [], "point_annotations": [0] * 7},
        ]
    }
    assert (
        raw.put(f"/labels/{sample.uuid}/ground-truth/", json={"attributes": label}).status_code
        == 201
    )
    label["frames"][1]["point_annotations"] = [0] * 5
    r = raw.put(f"/labels/{sample.uuid}/ground-truth/", json={"attributes": label})
    assert (
        "frames[1].point_annotations: 5 ids for a point cloud of 7 points; give one per point"
        in r.json()["attributes"][0]
    )
    # A sample whose shape cannot be read is refused at the door.
    with pytest.raises(NetworkError, match="frames: required"):
        sdk.add_sample(
            "seq/scans", "no-frames", {"pcd": {"url": "https://x.example/a.pcd", "type": "pcd"}}
        )
    r = raw.post(
        "/datasets/seq/rig/samples/",
        json={
            "name": "r",
            "attributes": {
                "sensors": [
                    {
                        "name": "radar",
                        "task_type": "pointcloud-cuboid-sequence",
                        "attributes": {"frames": []},
                    }
                ]
            },
        },
    )
    assert r.status_code == 400
    assert "not one the dataset declares" in r.json()["attributes"][0]


def test_point_counts_come_from_the_manifests_point_cloud_files(tmp_path: Path) -> None:
    m = manifest(tmp_path, samples=1)
    scan = next(d for d in m["datasets"] if d["name"] == "scan")
    scans = next(d for d in m["datasets"] if d["name"] == "scans")
    del scan["samples"][0]["metadata"]["point_count"]
    del scans["samples"][0]["metadata"]["point_count"]
    path = tmp_path / "m.json"
    path.write_text(json.dumps(m))
    with start_sandbox(data=path, api_key=KEY) as sb, SegmentsClient(KEY, api_url=sb.url) as c:
        assert c.get_sample(sample_uuid("scan", 0)).metadata["point_count"] == POINTS
        assert c.get_sample(sample_uuid("scans", 0)).metadata["point_count"] == [POINTS] * FRAMES
        short = good_label("pointcloud-segmentation")
        short["point_annotations"].pop()
        with pytest.raises(NetworkError, match=f"{POINTS - 1} ids for a point cloud of {POINTS}"):
            c.add_label(sample_uuid("scan", 0), "ground-truth", short)
    # A count that disagrees with the file is the manifest's error.
    scan["samples"][0]["metadata"]["point_count"] = POINTS + 1
    path.write_text(json.dumps(m))
    with pytest.raises(
        ManifestError, match=f"{POINTS + 1}, but the point cloud files have {POINTS}"
    ):
        start_sandbox(data=path, api_key=KEY)


def test_a_long_point_cloud_segmentation_sequence_fits_in_one_label(raw: httpx.Client) -> None:
    """20 frames of a 120,000-point sweep: about 5 MB of ids, over the old 4 MiB cap."""
    frames, points = 20, 120_000
    sample = {
        "name": "long",
        "attributes": {
            "frames": [
                {"pcd": {"url": f"https://x.example/{i}.pcd", "type": "pcd"}} for i in range(frames)
            ]
        },
        "metadata": {"point_count": [points] * frames},
    }
    added = raw.post("/datasets/seq/scans/samples/", json=sample)
    assert added.status_code == 201, added.text
    ids = [0] * points
    ids[:10] = [1] * 10
    label = {
        "frames": [
            {"annotations": [{"id": 1, "category_id": 2, "track_id": 1}], "point_annotations": ids}
            for _ in range(frames)
        ]
    }
    body = json.dumps({"attributes": label}).encode()
    assert len(body) > 4 * 1024 * 1024
    u = added.json()["uuid"]
    r = raw.put(
        f"/labels/{u}/ground-truth/", content=body, headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 201, r.text[:300]
    back = raw.get(f"/labels/{u}/ground-truth/").json()["attributes"]
    assert [len(f["point_annotations"]) for f in back["frames"]] == [points] * frames


def test_the_cli_sends_a_label_whose_track_changes_category_and_fails_only_that_line(
    seq_sandbox: SandboxHandle, sdk: SegmentsClient, tmp_path: Path
) -> None:
    # Complete attributes go to the server as they are: the sandbox, like the platform,
    # refuses the label whose track 2 is another category in frame 3; the other uploads.
    bad = good_label("image-vector-sequence")
    bad["frames"][3]["annotations"][1]["category_id"] = 3
    rows = [
        {"sample_uuid": sample_uuid("video", 0), "attributes": good_label("image-vector-sequence")},
        {"sample_uuid": sample_uuid("video", 1), "attributes": bad},
    ]
    write_jsonl(tmp_path / "p.jsonl", rows)
    fails = tmp_path / "fails.jsonl"
    res = run_cli(
        [
            "p.jsonl",
            "--dataset",
            "seq/video",
            "--labelset",
            "predictions",
            "--failures",
            str(fails),
        ],
        env=cli_env(seq_sandbox.url, KEY),
        cwd=tmp_path,
    )
    assert res.code == 1, res.stderr
    failed = [json.loads(line) for line in fails.read_text().splitlines()]
    assert [f["sample_uuid"] for f in failed] == [sample_uuid("video", 1)]
    assert "track 2 is category 3 here but 2 in frames[0]" in failed[0]["_error"]
    assert "track 2 is category 3" in res.stderr
    assert sdk.get_label(sample_uuid("video", 0), "predictions").attributes is not None
    # The SDK's own add_label sends it too (its model accepts it), and the server refuses.
    with pytest.raises(NetworkError, match="track 2 is category 3 here but 2 in frames"):
        sdk.add_label(sample_uuid("video", 1), "predictions", bad)
