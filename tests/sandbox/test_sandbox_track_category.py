"""A sequence track keeps one category in all its frames: the sandbox refuses a track that changes.

The rule is the platform UI's (a track has one category), not the SDK models' (they check
each annotation alone): each case asserts the SDK's model accepts the body, then that the
sandbox answers 400 in its usual shape (``{"attributes": [...]}``) naming the track, both
frames and both categories, through the raw API and through the SDK's ``add_label``; and the
CLI, given the body as complete attributes, fails that line with the server's message and
uploads the others.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pydantic
import pytest
from sandboxkit import KEY
from segments import SegmentsClient
from segments.exceptions import NetworkError, NotFoundError
from segments.typing import (
    ImageSequenceVectorLabelAttributes,
    MultiSensorLabelAttributes,
    PointcloudSequenceCuboidLabelAttributes,
    PointcloudSequenceVectorLabelAttributes,
)
from sequencekit import CATS, DATASETS, good_label, sample_uuid, write_manifest

from clikit import Cli, write_jsonl
from upload_preds.sandbox import SandboxHandle, start_sandbox

MODELS: dict[str, type[pydantic.BaseModel]] = {
    "image-vector-sequence": ImageSequenceVectorLabelAttributes,
    "pointcloud-cuboid-sequence": PointcloudSequenceCuboidLabelAttributes,
    "pointcloud-vector-sequence": PointcloudSequenceVectorLabelAttributes,
    "multisensor-sequence": MultiSensorLabelAttributes,
}
NAMES = {c["id"]: c["name"] for c in CATS}

# (dataset, where the frames are inside the label, the path prefix of messages)
CASES = [
    pytest.param("video", (), "", id="image-vector-sequence"),
    pytest.param("lidar-cuboids", (), "", id="pointcloud-cuboid-sequence"),
    pytest.param("lidar-vectors", (), "", id="pointcloud-vector-sequence"),
    pytest.param(
        "rig", ("sensors", 0, "attributes"), "sensors[0].attributes.", id="multisensor-lidar"
    ),
    pytest.param(
        "rig", ("sensors", 1, "attributes"), "sensors[1].attributes.", id="multisensor-camera"
    ),
]


@pytest.fixture
def seq_sandbox(tmp_path: Path) -> Iterator[SandboxHandle]:
    with start_sandbox(data=write_manifest(tmp_path), api_key=KEY) as sb:
        yield sb


def recategorised(dataset: str, at: tuple[Any, ...], frame: int = 2) -> tuple[dict[str, Any], str]:
    """A good label of ``dataset`` whose first object of ``frame`` takes another category.

    Returns the body and the message the sandbox must give, computed from the body.
    """
    body = good_label(DATASETS[dataset])
    seq: Any = body
    for key in at:
        seq = seq[key]
    ann = seq["frames"][frame]["annotations"][0]
    track, was = ann["track_id"], ann["category_id"]
    first = next(
        i
        for i, f in enumerate(seq["frames"])
        if any(a["track_id"] == track for a in f["annotations"])
    )
    assert first < frame  # the track is in an earlier frame, with the category it had
    now = was % len(CATS) + 1
    ann["category_id"] = now
    return body, (
        f"frames[{frame}].annotations[0].category_id: track {track} is category "
        f"{was} ({NAMES[was]}) in frames[{first}] and {now} ({NAMES[now]}) in frames[{frame}]; "
        "a track keeps one category in all its frames"
    )


@pytest.mark.parametrize(("dataset", "at", "prefix"), CASES)
def test_a_track_that_changes_category_is_refused(
    dataset: str, at: tuple[Any, ...], prefix: str, seq_sandbox: SandboxHandle
) -> None:
    task_type = DATASETS[dataset]
    body, message = recategorised(dataset, at)
    MODELS[task_type].model_validate(body)  # the SDK's model has no such rule
    u = sample_uuid(dataset, 0)
    headers = {"Authorization": f"APIKey {KEY}"}
    with httpx.Client(base_url=seq_sandbox.url, headers=headers, timeout=30) as raw:
        r = raw.put(f"/labels/{u}/ground-truth/", json={"attributes": body})
        assert r.status_code == 400, r.text
        assert list(r.json()) == ["attributes"]
        assert [m for m in r.json()["attributes"] if "track" in m] == [prefix + message]
        assert raw.get(f"/labels/{u}/ground-truth/").status_code == 404  # nothing written
        # A track that keeps its category passes (the same label, unchanged).
        good = good_label(task_type)
        assert raw.put(f"/labels/{u}/ground-truth/", json={"attributes": good}).status_code == 201
        # PATCH over it is checked the same way, and leaves the good label as it was.
        assert raw.patch(f"/labels/{u}/ground-truth/", json={"attributes": body}).status_code == 400
        assert raw.get(f"/labels/{u}/ground-truth/").json()["attributes"] == good
    with SegmentsClient(KEY, api_url=seq_sandbox.url) as sdk:
        with pytest.raises(NetworkError, match=r"track \d+ is category") as err:
            sdk.add_label(sample_uuid(dataset, 1), "ground-truth", body)
        assert message in str(err.value)


def test_each_track_is_reported_once_and_every_sensor_is_its_own(
    seq_sandbox: SandboxHandle,
) -> None:
    """Frames 2 and 3 both change track 1: one message; track ids of two sensors do not mix."""
    body = good_label(DATASETS["video"])
    for f in (2, 3):
        body["frames"][f]["annotations"][0]["category_id"] = 3
    rig = good_label(DATASETS["rig"])
    lidar, camera = (s["attributes"]["frames"] for s in rig["sensors"])
    # Track 1 is category 1 in the lidar and, in the camera, made category 2 throughout.
    assert lidar[0]["annotations"][0] == {**lidar[0]["annotations"][0], "track_id": 1}
    for frame in camera:
        for a in frame["annotations"]:
            if a["track_id"] == 1:
                a["category_id"] = 2
    headers = {"Authorization": f"APIKey {KEY}"}
    with httpx.Client(base_url=seq_sandbox.url, headers=headers, timeout=30) as raw:
        r = raw.put(f"/labels/{sample_uuid('video', 0)}/ground-truth/", json={"attributes": body})
        assert r.status_code == 400
        assert len([m for m in r.json()["attributes"] if "track 1 " in m]) == 1
        r = raw.put(f"/labels/{sample_uuid('rig', 0)}/ground-truth/", json={"attributes": rig})
        assert r.status_code == 201, r.text


def test_the_cli_fails_that_line_with_the_servers_message_and_uploads_the_rest(
    seq_sandbox: SandboxHandle, tmp_path: Path
) -> None:
    bad, message = recategorised("lidar-cuboids", ())
    # The manifest has two samples per dataset: a good label on line 1, the bad one on line 2.
    good = good_label(DATASETS["lidar-cuboids"], seed=5)
    rows = [
        {"sample_uuid": sample_uuid("lidar-cuboids", 0), "attributes": good},
        {"sample_uuid": sample_uuid("lidar-cuboids", 1), "attributes": bad},
    ]
    write_jsonl(tmp_path / "labels.jsonl", rows)
    cli = Cli(seq_sandbox.url, KEY, tmp_path / "journal.sqlite3", tmp_path)
    res = cli.run(
        "labels.jsonl",
        "--dataset",
        "seq/lidar-cuboids",
        "--labelset",
        "ground-truth",
        "--failures",
        "failed.jsonl",
    )
    assert res.code != 0, res.stderr
    assert "labels.jsonl:2" in res.stderr, res.stderr
    assert message in res.stderr, res.stderr
    failed = [json.loads(x) for x in (tmp_path / "failed.jsonl").read_text().splitlines()]
    assert [f["sample_uuid"] for f in failed] == [sample_uuid("lidar-cuboids", 1)]
    assert message in failed[0]["_error"]
    with SegmentsClient(KEY, api_url=seq_sandbox.url) as sdk:
        label = sdk.get_label(sample_uuid("lidar-cuboids", 0), "ground-truth")
        assert label.attributes.model_dump(mode="json", exclude_unset=True) == good
        with pytest.raises(NotFoundError):
            sdk.get_label(sample_uuid("lidar-cuboids", 1), "ground-truth")
