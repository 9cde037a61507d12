"""Segmentation sequences: one row per frame → one sequence label, through the sandbox.

``pointcloud-segmentation-sequence``: each row names a frame's ``.label`` file;
the label read back with the SDK client has one frame per frame of the sample,
each frame's ids checked against that frame's file alone, and an object's
``track_id`` the same in every frame. ``image-segmentation-sequence``: each
row names a frame's id PNG; every frame's bitmap is uploaded as an asset,
downloaded back and compared pixel by pixel, and a rerun with the same masks
sends nothing (the journal).
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pcsegkit
import pytest
import segments.typing as st
from pcsegkit import (
    CATEGORIES,
    CLASS_MAP,
    check_mask_frames,
    check_point_frame,
    ids_of_png,
    make_scan,
    write_label,
    write_mask,
)
from segments import SegmentsClient

from clikit import cli_env, run_cli, write_jsonl
from upload_preds.convert import Converter, ConvertOptions
from upload_preds.convert.categories import Categories
from upload_preds.records import LabelJob, Location, Record
from upload_preds.sandbox import SandboxHandle, start_sandbox

KEY = "sk-test-pcseg-seq"
POINTS = 1200
FRAMES = 4
H, W = 12, 16


def sample_uuid(name: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"pcseg-seq/{name}"))


def manifest() -> dict[str, Any]:
    def sample(name: str, kind: str) -> dict[str, Any]:
        if kind == "pcd":
            frames = [
                {"pcd": {"url": f"https://example.invalid/{name}/{i}.bin", "type": "kitti"}}
                for i in range(FRAMES)
            ]
            meta: dict[str, Any] = {"point_count": [POINTS] * FRAMES}
        else:
            frames = [
                {"image": {"url": f"https://example.invalid/{name}/{i}.png"}} for i in range(FRAMES)
            ]
            meta = {}
        return {
            "uuid": sample_uuid(name),
            "name": name,
            "attributes": {"frames": frames},
            "metadata": meta,
            "labels": {},
        }

    def dataset(name: str, task_type: str, kind: str) -> dict[str, Any]:
        return {
            "owner": "test",
            "name": name,
            "task_type": task_type,
            "task_attributes": {"format_version": "0.1", "categories": CATEGORIES},
            "labelsets": [{"name": "ground-truth", "description": ""}],
            "samples": [
                sample(n, kind) for n in (("seq_a", "seq_b") if kind == "pcd" else ("vid_a",))
            ],
        }

    return {
        "datasets": [
            dataset("sweeps", "pointcloud-segmentation-sequence", "pcd"),
            dataset("videos", "image-segmentation-sequence", "image"),
        ]
    }


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[SandboxHandle]:
    with start_sandbox(data=manifest(), db=tmp_path / "sandbox.db", api_key=KEY) as sb:
        yield sb


def upload(sb: SandboxHandle, tmp: Path, dataset: str, *extra: str) -> tuple[int, str]:
    return pcsegkit.upload(sb.url, KEY, tmp, dataset, *extra)


def scans_rows(
    tmp: Path, sample: str, frames: list[int], seed: int
) -> dict[int, np.ndarray[Any, Any]]:
    out = {}
    for f in frames:
        raw = make_scan(seed=seed + f)
        write_label(tmp / sample / f"{f:06d}.label", raw)
        out[f] = raw
    return out


def test_pointcloud_sequence_round_trip(sandbox: SandboxHandle, tmp_path: Path) -> None:
    frames_a = scans_rows(tmp_path, "seq_a", [0, 1, 2, 3], seed=10)
    frames_b = scans_rows(tmp_path, "seq_b", [0, 1, 2, 3], seed=20)
    rows = [
        {"sample_name": s, "frame": f, "point_labels_path": f"{s}/{f:06d}.label"}
        for s, fr in (("seq_a", frames_a), ("seq_b", frames_b))
        for f in fr
    ]
    random.Random(3).shuffle(rows)  # any order: one label per sample
    write_jsonl(tmp_path / "rows.jsonl", rows)
    code, stderr = upload(sandbox, tmp_path, "test/sweeps", "--category-map", "map.json")
    assert code == 0, stderr
    with SegmentsClient(KEY, api_url=sandbox.url) as sdk:
        for name, files in (("seq_a", frames_a), ("seq_b", frames_b)):
            label = sdk.get_label(sample_uuid(name), "ground-truth")
            attrs = label.attributes.model_dump(mode="json", exclude_unset=True)
            st.PointcloudSequenceSegmentationLabelAttributes.model_validate(attrs)
            assert len(attrs["frames"]) == FRAMES
            tracks: dict[int, int] = {}
            for f, raw in files.items():
                check_point_frame(attrs["frames"][f], raw, tracks)
            # The same (class, instance) in two frames is one track.
            assert len(tracks) == 7


def test_sequence_frames_against_the_samples_point_counts(
    sandbox: SandboxHandle, tmp_path: Path
) -> None:
    # seq_a: frames 0 and 2 only (1 and 3 get the sample's count of zeros); seq_b: frame
    # 1 has too few ids, so its whole label fails before it is sent.
    scans_rows(tmp_path, "seq_a", [0, 2], seed=30)
    scans_rows(tmp_path, "seq_b", [0], seed=40)
    write_label(tmp_path / "seq_b" / "000001.label", make_scan()[:900])
    rows = [
        {"sample_name": "seq_a", "frame": 0, "point_labels_path": "seq_a/000000.label"},
        {"sample_name": "seq_a", "frame": 2, "point_labels_path": "seq_a/000002.label"},
        {"sample_name": "seq_b", "frame": 0, "point_labels_path": "seq_b/000000.label"},
        {"sample_name": "seq_b", "frame": 1, "point_labels_path": "seq_b/000001.label"},
    ]
    write_jsonl(tmp_path / "rows.jsonl", rows)
    code, stderr = upload(sandbox, tmp_path, "test/sweeps", "--category-map", "map.json")
    assert code == 1, stderr
    with SegmentsClient(KEY, api_url=sandbox.url) as sdk:
        attrs = sdk.get_label(sample_uuid("seq_a"), "ground-truth").attributes
        assert [len(f.point_annotations) for f in attrs.frames] == [POINTS] * FRAMES
        assert not any(attrs.frames[1].point_annotations)
    failed = [json.loads(x) for x in (tmp_path / "failed.jsonl").read_text().splitlines()]
    assert [f["sample_name"] for f in failed] == ["seq_b", "seq_b"]
    assert (
        "frame 1: seq_b/000001.label has 900 ids but the point cloud has 1,200"
        in (failed[0]["_error"])
    )
    assert "rows.jsonl:4" in stderr


def seq_converter(**options: Any) -> Converter:
    cats = Categories.from_task_attributes(
        {"categories": CATEGORIES}, "pointcloud-segmentation-sequence"
    )
    return Converter(ConvertOptions(class_map=CLASS_MAP, **options), cats)


def group(
    conv: Converter, rows_file: Path, rows: list[dict[str, Any]]
) -> tuple[str, list[tuple[Location, dict[str, Any]]]]:
    items = []
    key = None
    for i, row in enumerate(rows, start=1):
        k = conv.sequence_key(Record(Location(str(rows_file), i), "jsonl", row))  # type: ignore[arg-type]
        assert isinstance(k, str), k
        key = k
        items.append((Location(str(rows_file), i), {"r": row}))
    assert key is not None
    return key, items


def test_each_frame_is_checked_on_its_own(tmp_path: Path) -> None:
    scans_rows(tmp_path, "s", [0, 2], seed=1)
    write_label(tmp_path / "s" / "000001.label", make_scan()[:1000])
    conv = seq_converter(points=POINTS)
    key, items = group(
        conv,
        tmp_path / "rows.jsonl",
        [
            {"sample_name": "s", "frame": f, "point_labels_path": f"s/{f:06d}.label"}
            for f in (0, 1, 2)
        ],
    )
    result = conv.convert_sequence(key, items, 3)
    assert isinstance(result, list)
    assert [e.loc.line for e in result] == [1, 2, 3]
    assert "1,000 ids but the point cloud has 1,200 points" in result[1].message
    assert "line 2 of the same label" in result[0].message


def test_frame_rules(tmp_path: Path) -> None:
    scans_rows(tmp_path, "s", [0], seed=1)
    conv = seq_converter()
    row = {"sample_name": "s", "frame": 0, "point_labels_path": "s/000000.label"}
    key, items = group(conv, tmp_path / "r.jsonl", [row, {**row}])
    twice = conv.convert_sequence(key, items, 3)
    assert isinstance(twice, list)
    assert "frame 0 is already given at line 1" in twice[1].message
    last = conv.convert_sequence(key, items, 3, "last")
    assert isinstance(last, LabelJob)
    assert last.extra["superseded"] == [(items[0][0], items[1][0])]
    key, items = group(conv, tmp_path / "r.jsonl", [{**row, "frame": 3}])
    out_of_range = conv.convert_sequence(key, items, 3)
    assert isinstance(out_of_range, list)
    assert "frame 3 is out of range: the sample has 3 frame(s)" in out_of_range[0].message
    key, items = group(
        conv, tmp_path / "r.jsonl", [{"sample_name": "s", "point_labels_path": "s/000000.label"}]
    )
    missing = conv.convert_sequence(key, items, 3)
    assert isinstance(missing, list)
    assert missing[0].field == "frame"
    # Unknown frame count: the highest frame + 1; empty frames get --points zeros.
    conv = seq_converter(points=POINTS)
    key, items = group(conv, tmp_path / "r.jsonl", [{**row, "frame": 2}])
    job = conv.convert_sequence(key, items, None)
    assert isinstance(job, LabelJob)
    frames = job.attributes["frames"]
    assert len(frames) == 3
    assert frames[0] == {
        "format_version": "0.2",
        "annotations": [],
        "point_annotations": [0] * POINTS,
    }
    st.PointcloudSequenceSegmentationLabelAttributes.model_validate(job.attributes)


def test_image_segmentation_sequence_uploads_each_frames_bitmap(
    sandbox: SandboxHandle, tmp_path: Path
) -> None:
    masks = {}
    for f in (0, 1, 3):
        ids = np.zeros((H, W), np.int64)
        ids[1 : 5 + f, 2:8] = 1
        ids[6:10, 9 : 12 + f] = 2
        masks[f] = ids
        write_mask(tmp_path / "m" / f"{f}.png", ids)
    anns = [{"id": 1, "category": "car"}, {"id": 2, "category": "person"}]
    write_jsonl(
        tmp_path / "rows.jsonl",
        [
            {"sample_name": "vid_a", "frame": f, "mask_path": f"m/{f}.png", "annotations": anns}
            for f in masks
        ],
    )
    code, stderr = upload(sandbox, tmp_path, "test/videos")
    assert code == 0, stderr
    with SegmentsClient(KEY, api_url=sandbox.url) as sdk:
        label = sdk.get_label(sample_uuid("vid_a"), "ground-truth")
    attrs = label.attributes.model_dump(mode="json", exclude_unset=True)
    st.ImageSequenceSegmentationLabelAttributes.model_validate(attrs)
    assert len(attrs["frames"]) == FRAMES
    assert attrs["frames"][2]["annotations"] == []
    check_mask_frames(attrs["frames"], masks)
    # A rerun with the same masks sends nothing; a changed frame sends the label again.
    code, stderr = upload(sandbox, tmp_path, "test/videos")
    assert code == 0, stderr
    assert "labels uploaded  0" in stderr
    masks[3][0, 0] = 2
    write_mask(tmp_path / "m" / "3.png", masks[3])
    code, stderr = upload(sandbox, tmp_path, "test/videos")
    assert code == 0, stderr
    assert "labels uploaded  1" in stderr


def test_offline_image_sequence_writes_the_frames_masks(tmp_path: Path) -> None:
    for f in (0, 1):
        write_mask(tmp_path / "m" / f"{f}.png", np.full((H, W), f + 1))
    write_jsonl(
        tmp_path / "rows.jsonl",
        [
            {"sample_name": "v", "frame": f, "mask_path": f"m/{f}.png", "mask_kind": "class"}
            for f in (0, 1)
        ],
    )
    (tmp_path / "cats.json").write_text(
        json.dumps(
            {
                "task_type": "image-segmentation-sequence",
                "task_attributes": {"categories": CATEGORIES},
            }
        )
    )
    res = run_cli(
        ["rows.jsonl", "--categories", "cats.json", "--output-labels", "out.jsonl"],
        env=cli_env("http://127.0.0.1:9/", ""),
        cwd=tmp_path,
    )
    assert res.code == 0, res.stderr
    (label,) = [json.loads(x) for x in (tmp_path / "out.jsonl").read_text().splitlines()]
    urls = [fr["segmentation_bitmap"]["url"] for fr in label["attributes"]["frames"]]
    for f, url in enumerate(urls):
        png = (tmp_path / url).read_bytes()
        assert (ids_of_png(png) == f + 1).all()
