"""Search counts objects in sequence, multi-sensor and point-cloud segmentation labels.

A category count in a sequence label counts tracks (distinct ``track_id`` per category over
all frames), not the per-frame boxes; a multi-sensor label sums its sensors; a point-cloud
segmentation label counts instances (its annotations). Checked over HTTP (the page's
search) and through ``upload-preds-sandbox search --json`` on the same database, against
counts computed here from the labels put.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from reviewkit import KEY
from sequencekit import good_label, sample_uuid, write_manifest

from upload_preds.sandbox import SandboxHandle, start_sandbox


def tracks(frames: list[dict[str, Any]]) -> dict[int, int]:
    seen = {(a["category_id"], a["track_id"]) for f in frames for a in f["annotations"]}
    out: dict[int, int] = {}
    for cid, _ in seen:
        out[cid] = out.get(cid, 0) + 1
    return out


@pytest.fixture
def db_sandbox(tmp_path: Path) -> Iterator[tuple[SandboxHandle, Path, Path]]:
    manifest, db = write_manifest(tmp_path), tmp_path / "seq.sqlite3"
    with start_sandbox(data=manifest, db=db, api_key=KEY) as sb:
        yield sb, manifest, db


def search(sb: SandboxHandle, dataset: str, q: str) -> dict[str, Any]:
    with httpx.Client(base_url=sb.url, headers={"Authorization": f"APIKey {KEY}"}) as c:
        r = c.get(f"/_review/api/datasets/seq/{dataset}/search", params={"q": q})
        assert r.status_code == 200, r.text
        out: dict[str, Any] = r.json()
        return out


def put(sb: SandboxHandle, dataset: str, i: int, attrs: dict[str, Any]) -> None:
    with httpx.Client(base_url=sb.url, headers={"Authorization": f"APIKey {KEY}"}) as c:
        r = c.put(f"/labels/{sample_uuid(dataset, i)}/ground-truth/", json={"attributes": attrs})
        assert r.status_code == 201, r.text


def test_sequence_counts_are_tracks_not_boxes(db_sandbox: tuple[SandboxHandle, Path, Path]) -> None:
    sb = db_sandbox[0]
    label = good_label("pointcloud-cuboid-sequence")
    put(sb, "lidar-cuboids", 0, label)
    want = tracks(label["frames"])
    boxes = sum(1 for f in label["frames"] for a in f["annotations"] if a["category_id"] == 1)
    assert want == {1: 2, 2: 1}  # 2 car tracks ...
    assert boxes == 6  # ... drawn 6 times over 4 frames
    got = search(sb, "lidar-cuboids", "ground-truth.car:>0")
    assert [s["counts"]["ground-truth.car"] for s in got["samples"]] == [want[1]]
    assert search(sb, "lidar-cuboids", f"ground-truth.car:={boxes}")["total"] == 0
    assert search(sb, "lidar-cuboids", "ground-truth.total_count:=3")["total"] == 1


def test_multisensor_counts_sum_the_sensors(db_sandbox: tuple[SandboxHandle, Path, Path]) -> None:
    sb = db_sandbox[0]
    label = good_label("multisensor-sequence")
    put(sb, "rig", 1, label)
    want: dict[int, int] = {}
    for s in label["sensors"]:
        for cid, n in tracks(s["attributes"]["frames"]).items():
            want[cid] = want.get(cid, 0) + n
    got = search(sb, "rig", "ground-truth.car:>0 ground-truth.pedestrian:>0")
    assert got["total"] == 1
    row = got["samples"][0]
    assert (row["name"], row["counts"]) == (
        "rig_1",
        {"ground-truth.car": want[1], "ground-truth.pedestrian": want[2]},
    )


def test_point_cloud_segmentation_counts_instances_per_category(
    db_sandbox: tuple[SandboxHandle, Path, Path],
) -> None:
    sb, manifest, db = db_sandbox
    single = good_label("pointcloud-segmentation")
    put(sb, "scan", 0, single)
    seq = good_label("pointcloud-segmentation-sequence")
    put(sb, "scans", 1, seq)
    # Instances 1 and 2 are cars, 3 a pedestrian.
    got = search(sb, "scan", "ground-truth.car:=2 ground-truth.pedestrian:=1")
    assert [s["name"] for s in got["samples"]] == ["scan_0"]
    got = search(sb, "scans", "ground-truth.car:>=1")
    assert [(s["name"], s["counts"]["ground-truth.car"]) for s in got["samples"]] == [
        ("scans_1", tracks(seq["frames"])[1])
    ]
    sb.stop()
    # The command reads the same database and agrees.
    out = subprocess.run(
        [
            *(sys.executable, "-m", "upload_preds.sandbox.cli", "search"),
            *("ground-truth.car:=2", "--dataset", "seq/scan", "--db", str(db), "--json"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert [s["name"] for s in json.loads(out.stdout)["samples"]] == ["scan_0"]
    assert manifest.exists()
