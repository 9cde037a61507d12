"""The review page's point clouds: PCD (ASCII, binary, any field layout) and KITTI files read
into x/y, subsampled to at most 200,000 points with a stride the page can follow, and served
from ``/_review/points/`` only for files in the manifest's folder."""

from __future__ import annotations

import json
import random
import struct
from array import array
from pathlib import Path

import httpx
import pytest
from sequencekit import cloud, write_pcd

from upload_preds.sandbox import start_sandbox
from upload_preds.sandbox.pointclouds import (
    HEADER,
    MAX_POINTS,
    PointCloudError,
    compact,
    parse_kitti,
    parse_pcd,
    point_count,
)


def floats(values: list[float]) -> list[float]:
    return list(array("f", values))  # what float32 makes of them


@pytest.mark.parametrize("binary", [False, True], ids=["ascii", "binary"])
def test_pcd_x_y_are_read_in_order(tmp_path: Path, binary: bool) -> None:
    pts = cloud(5, 1000)
    path = tmp_path / "c.pcd"
    write_pcd(path, pts, binary=binary)
    xy = parse_pcd(path.read_bytes())
    assert list(xy) == floats([v for x, y, _ in pts for v in (x, y)])
    assert point_count(path) == 1000


def test_binary_pcd_with_other_fields_before_x_and_counts_above_one() -> None:
    rng = random.Random(3)
    rows = [(rng.random(), rng.randint(0, 255), rng.random(), rng.random()) for _ in range(50)]
    header = (
        b"VERSION 0.7\nFIELDS t rgb x y\nSIZE 8 1 4 4\nTYPE F U F F\nCOUNT 1 3 1 1\n"
        b"WIDTH 50\nHEIGHT 1\nPOINTS 50\nDATA binary\n"
    )
    body = b"".join(struct.pack("<d3Bff", t, c, c, c, x, y) for t, c, x, y in rows)
    xy = parse_pcd(header + body)
    assert list(xy) == floats([v for _, _, x, y in rows for v in (x, y)])


def test_kitti_sweeps_are_float32_x_y_z_intensity(tmp_path: Path) -> None:
    pts = cloud(9, 100)
    data = b"".join(struct.pack("<4f", x, y, z, 0.25) for x, y, z in pts)
    assert list(parse_kitti(data)) == floats([v for x, y, _ in pts for v in (x, y)])
    (tmp_path / "s.bin").write_bytes(data)
    assert point_count(tmp_path / "s.bin") == 100


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"VERSION 0.7\nFIELDS x y\nPOINTS 1\n", "no DATA line"),
        (b"FIELDS a b\nPOINTS 1\nDATA ascii\n1 2\n", "no x and y fields"),
        (b"FIELDS x y\nPOINTS 3\nDATA ascii\n1 2\n3 4\n", "4 values for POINTS 3 of 2 columns"),
        (b"FIELDS x y\nPOINTS 2\nDATA ascii\n1 2\n3 four\n", "not a number"),
        (b"FIELDS x y\nSIZE 4 4\nTYPE F F\nPOINTS 2\nDATA binary\n" + b"\0" * 12, "12 data bytes"),
        (b"FIELDS x y\nPOINTS 2\nDATA binary_compressed\n\0\0", "binary_compressed is not read"),
    ],
)
def test_bad_files_say_what_is_wrong(data: bytes, message: str) -> None:
    with pytest.raises(PointCloudError, match=message):
        parse_pcd(data)


def test_compact_keeps_every_stride_th_point_up_to_the_limit() -> None:
    n = 2 * MAX_POINTS + 7
    xy = array("f", range(2 * n))
    body = compact(xy)
    total, stride, count = HEADER.unpack_from(body)
    assert (total, stride) == (n, 3)
    assert count == len(range(0, n, 3)) <= MAX_POINTS
    sent = array("f")
    sent.frombytes(body[HEADER.size :])
    # Point k sent is point k * stride of the file.
    assert list(sent[:6]) == [0.0, 1.0, 6.0, 7.0, 12.0, 13.0]
    assert sent[-2] == xy[2 * (count - 1) * stride]


def test_points_are_served_compact_from_the_manifest_folder(tmp_path: Path) -> None:
    (tmp_path / "clouds").mkdir()
    pts = cloud(1, 500)
    write_pcd(tmp_path / "clouds" / "a.pcd", pts, binary=True)
    (tmp_path / "clouds" / "broken.pcd").write_bytes(b"nothing here")
    big = array("f", [0.5] * (4 * (MAX_POINTS + 1)))  # a KITTI sweep just over the limit
    (tmp_path / "clouds" / "big.bin").write_bytes(big.tobytes())
    manifest = tmp_path / "m.json"
    manifest.write_text(json.dumps({"datasets": []}))
    with start_sandbox(data=manifest, api_key="k") as sb, httpx.Client(base_url=sb.url) as c:
        r = c.get("/_review/points/clouds/a.pcd")
        assert r.status_code == 200
        assert r.headers["content-type"] == "application/octet-stream"
        assert HEADER.unpack_from(r.content) == (500, 1, 500)
        sent = array("f")
        sent.frombytes(r.content[HEADER.size :])
        assert list(sent) == floats([v for x, y, _ in pts for v in (x, y)])
        assert HEADER.unpack_from(c.get("/_review/points/clouds/big.bin").content) == (
            MAX_POINTS + 1,
            2,
            (MAX_POINTS + 2) // 2,
        )
        bad = c.get("/_review/points/clouds/broken.pcd")
        assert bad.status_code == 422
        assert "no DATA line" in bad.json()["detail"]
        assert c.get("/_review/points/m.json").status_code == 404
        assert c.get("/_review/points/..%2f..%2fetc%2fpasswd.pcd").status_code == 404
