"""Point-cloud files named by relative ``pcd.url`` in a manifest are served from its folder,
and the review page's samples carry the URLs of their frames and sensors.

The sequence and LiDAR datasets of ``sample_data/`` keep their ``.pcd`` files
beside the manifest, as the demo keeps its images; the review page (and a
client that wants the points) fetches them from ``/_review/media/``.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
from sequencekit import FRAMES, write_manifest

from upload_preds.sandbox import start_sandbox

PCD = b"# .PCD v0.7\nVERSION 0.7\nFIELDS x y z\nSIZE 4 4 4\nTYPE F F F\nCOUNT 1 1 1\n"


def test_pcd_files_are_served_as_bytes_and_only_from_the_folder(tmp_path: Path) -> None:
    data = PCD + b"WIDTH 1\nHEIGHT 1\nVIEWPOINT 0 0 0 1 0 0 0\nPOINTS 1\nDATA ascii\n1 2 3\n"
    (tmp_path / "lidar").mkdir()
    (tmp_path / "lidar" / "000.pcd").write_bytes(data)
    (tmp_path / "lidar" / "000.bin").write_bytes(b"\0" * 16)
    (tmp_path / "lidar" / "notes.txt").write_text("not a point cloud")
    manifest = {
        "datasets": [
            {
                "owner": "demo",
                "name": "lidar",
                "task_type": "pointcloud-cuboid",
                "task_attributes": {"categories": [{"id": 1, "name": "car"}]},
                "samples": [
                    {"name": "000", "attributes": {"pcd": {"url": "lidar/000.pcd", "type": "pcd"}}}
                ],
            }
        ]
    }
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(manifest))
    with start_sandbox(data=path, api_key="k") as sb, httpx.Client(base_url=sb.url) as c:
        r = c.get("/_review/media/lidar/000.pcd")
        assert r.status_code == 200
        assert r.content == data
        assert r.headers["content-type"] == "application/octet-stream"
        assert r.headers["x-content-type-options"] == "nosniff"
        assert c.get("/_review/media/lidar/000.bin").content == b"\0" * 16
        assert c.get("/_review/media/lidar/notes.txt").status_code == 404
        assert c.get("/_review/media/lidar/001.pcd").status_code == 404
        assert c.get("/_review/media/..%2fmanifest.pcd").status_code == 404


def test_the_samples_page_gives_each_frame_and_sensor_its_urls(tmp_path: Path) -> None:
    headers = {"Authorization": "APIKey k"}
    with (
        start_sandbox(data=write_manifest(tmp_path), api_key="k") as sb,
        httpx.Client(base_url=sb.url, headers=headers) as c,
    ):
        rig = c.get("/_review/api/datasets/seq/rig/samples").json()["samples"][0]
        lidar, camera = rig["sensors"]
        assert (lidar["name"], lidar["task_type"]) == ("lidar", "pointcloud-cuboid-sequence")
        assert [f["points_url"] for f in lidar["frames"]] == [
            f"/_review/points/clouds/rig_0_{f}.pcd" for f in range(FRAMES)
        ]
        assert [f["image_url"] for f in camera["frames"]] == [
            f"/_review/media/frames/rig_0_{f}.png" for f in range(FRAMES)
        ]
        for f in lidar["frames"]:
            assert c.get(f["points_url"]).status_code == 200
        scan = c.get("/_review/api/datasets/seq/scan/samples").json()["samples"][0]
        assert scan["points_url"] == "/_review/points/clouds/scan_0_0.pcd"
        assert scan["frames"] is None
        # A cloud at an absolute URL is not fetched by the sandbox: no points URL.
        added = c.post(
            "/datasets/seq/lidar-vector/samples/",
            json={
                "name": "far",
                "attributes": {"pcd": {"url": "https://x.example/a.pcd", "type": "pcd"}},
            },
        )
        assert added.status_code == 201
        page = c.get("/_review/api/datasets/seq/lidar-vector/samples", params={"q": "far"}).json()
        assert [(s["name"], s["points_url"]) for s in page["samples"]] == [("far", None)]
