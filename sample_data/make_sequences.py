"""Write the demo's sequence data: video frames, LiDAR point clouds and their predictions.

From the tracks in ``seqdata.py`` (the same ones ``dataset.json`` names):

- ``video/seq_0N/000.png`` ...: the frames of ``demo/street-video`` (640x480,
  the palette drawing of ``make_images.py``: cars and people on a street).
- ``video_predictions.jsonl``: one row per frame (``sample_name``, 0-based
  ``frame``) whose annotations carry ``track_id``, category, ``bbox`` and
  ``score``: every object, for the ``ground-truth`` label set (pre-labels).
- ``mot/seq_0N.txt``: a car tracker's output in the MOTChallenge layout
  (``frame,id,bb_left,bb_top,bb_width,bb_height,conf,-1,-1,-1``, 1-based
  frames), with a few low-confidence false positives that ``--min-score 0.3``
  drops; for ``--format mot --mot-category car --labelset predictions``.
- ``lidar/sweep_0N/000.pcd`` ...: binary PCD (x y z float32), 2,048 points a
  frame: a ground plane and points on the faces of each object's cuboid.
- ``lidar_predictions.jsonl``: one row per frame of cuboid annotations with
  ``track_id`` for ``demo/lidar-sweeps``.

Deterministic (seeded generators, a palette PNG writer): running it again
rewrites the same bytes. Usage: ``python3 sample_data/make_sequences.py``.
"""

from __future__ import annotations

import json
import math
import random
import struct
from pathlib import Path
from typing import Any

import seqdata
from make_images import HORIZON, Canvas, car, person, skyline
from seqdata import H, W

HERE = Path(__file__).parent
POINTS_PER_FRAME = 2048
GROUND_POINTS = 1600


def street(seq: int) -> Canvas:
    """A sequence's still background: sky, buildings, pavement, the road."""
    cv = skyline(random.Random(500 + seq))
    cv.rect(0, HORIZON, W, H, "sidewalk")
    cv.rect(0, 340, W, H, "road")
    for lx in range(0, W, 80):
        cv.rect(lx + 10, 402, lx + 50, 408, "lane")
    return cv


def video_frame(background: Canvas, boxes: list[seqdata.Box]) -> bytes:
    cv = Canvas("sky3")
    cv.rows = [bytearray(row) for row in background.rows]
    # Far objects first, so that nearer ones cover them.
    for b in sorted(boxes, key=lambda b: b.y1):
        if b.category == "car":
            car(cv, b.x0, b.y0, b.x1, b.y1, ("car0", "car1", "car2")[b.track_id % 3])
        else:
            person(cv, b.x0, b.y0, b.x1, b.y1, ("shirt0", "shirt1")[b.track_id % 2])
    return cv.png()


def noisy(rng: random.Random, b: seqdata.Box) -> list[float]:
    d = [rng.gauss(0, 2.0) for _ in range(4)]
    return [
        round(max(0.0, b.x0 + d[0]), 1),
        round(max(0.0, b.y0 + d[1]), 1),
        round(min(W - 1.0, b.x1 + d[2]), 1),
        round(min(H - 1.0, b.y1 + d[3]), 1),
    ]


def write_video() -> tuple[int, int]:
    rows: list[dict[str, Any]] = []
    size = 0
    (HERE / "mot").mkdir(exist_ok=True)
    for s, name in enumerate(seqdata.VIDEO_SEQUENCES, 1):
        background = street(s)
        rng = random.Random(700 + s)
        mot_lines: list[str] = []
        for f in range(seqdata.VIDEO_FRAMES):
            boxes = seqdata.video_tracks(s, f)
            path = HERE / seqdata.frame_url("video", name, f)
            path.parent.mkdir(parents=True, exist_ok=True)
            data = video_frame(background, boxes)
            path.write_bytes(data)
            size += len(data)
            anns = [
                {
                    "track_id": b.track_id,
                    "category": b.category,
                    "bbox": noisy(rng, b),
                    "score": round(rng.uniform(0.55, 0.98), 3),
                }
                for b in boxes
            ]
            rows.append({"sample_name": name, "frame": f, "annotations": anns})
            for b in boxes:
                if b.category != "car":
                    continue
                x0, y0, x1, y1 = noisy(rng, b)
                conf = rng.uniform(0.6, 0.99)
                mot_lines.append(
                    f"{f + 1},{b.track_id},{x0:.2f},{y0:.2f},{x1 - x0:.2f},{y1 - y0:.2f},"
                    f"{conf:.3f},-1,-1,-1"
                )
            if f % 7 == 3:  # a ghost the tracker was unsure of
                gx, gy = rng.uniform(50, 500), rng.uniform(260, 330)
                mot_lines.append(
                    f"{f + 1},{90 + f},{gx:.2f},{gy:.2f},40.00,30.00,"
                    f"{rng.uniform(0.05, 0.25):.3f},-1,-1,-1"
                )
        (HERE / "mot" / f"{name}.txt").write_text("\n".join(mot_lines) + "\n", encoding="utf-8")
    with open(HERE / "video_predictions.jsonl", "w", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(row) + "\n")
    return len(rows), size


def surface_points(rng: random.Random, c: seqdata.Cuboid, n: int) -> list[tuple[float, ...]]:
    """``n`` points on the sides and top of cuboid ``c`` (a LiDAR sees no bottom)."""
    cos, sin = math.cos(c.yaw), math.sin(c.yaw)
    out = []
    for _ in range(n):
        u, v = rng.uniform(-0.5, 0.5), rng.uniform(-0.5, 0.5)
        face = rng.randrange(5)
        if face == 4:
            lx, ly, lz = u * c.length, v * c.width, 0.5
        elif face < 2:
            lx, ly, lz = (face - 0.5) * c.length, u * c.width, v
        else:
            lx, ly, lz = u * c.length, (face - 2.5) * c.width, v
        lz *= c.height
        out.append((c.x + lx * cos - ly * sin, c.y + lx * sin + ly * cos, c.z + lz))
    return out


def pcd(points: list[tuple[float, ...]]) -> bytes:
    header = (
        "# .PCD v0.7 - Point Cloud Data file format\n"
        "VERSION 0.7\nFIELDS x y z\nSIZE 4 4 4\nTYPE F F F\nCOUNT 1 1 1\n"
        f"WIDTH {len(points)}\nHEIGHT 1\nVIEWPOINT 0 0 0 1 0 0 0\n"
        f"POINTS {len(points)}\nDATA binary\n"
    )
    return header.encode("ascii") + b"".join(struct.pack("<fff", *p) for p in points)


def write_lidar() -> tuple[int, int]:
    rows: list[dict[str, Any]] = []
    size = 0
    for s, name in enumerate(seqdata.LIDAR_SEQUENCES, 1):
        for f in range(seqdata.LIDAR_FRAMES):
            rng = random.Random(s * 1000 + f)
            objs = seqdata.lidar_tracks(s, f)
            points: list[tuple[float, ...]] = []
            for _ in range(GROUND_POINTS):
                r, a = 25 * math.sqrt(rng.random()), rng.uniform(0, 2 * math.pi)
                points.append((r * math.cos(a), r * math.sin(a), rng.gauss(0, 0.02)))
            share = (POINTS_PER_FRAME - GROUND_POINTS) // len(objs)
            for i, c in enumerate(objs):
                n = share if i < len(objs) - 1 else POINTS_PER_FRAME - len(points)
                points.extend(surface_points(rng, c, n))
            path = HERE / seqdata.frame_url("lidar", name, f)
            path.parent.mkdir(parents=True, exist_ok=True)
            data = pcd(points)
            path.write_bytes(data)
            size += len(data)
            anns = [
                {
                    "track_id": c.track_id,
                    "category": c.category,
                    "type": "cuboid",
                    "position": {
                        "x": round(c.x + rng.gauss(0, 0.05), 3),
                        "y": round(c.y + rng.gauss(0, 0.05), 3),
                        "z": round(c.z, 3),
                    },
                    "dimensions": {
                        "x": round(c.length, 2),
                        "y": round(c.width, 2),
                        "z": round(c.height, 2),
                    },
                    "yaw": round(c.yaw, 4),
                    "score": round(rng.uniform(0.5, 0.97), 3),
                }
                for c in objs
            ]
            rows.append({"sample_name": name, "frame": f, "annotations": anns})
    with open(HERE / "lidar_predictions.jsonl", "w", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(row) + "\n")
    return len(rows), size


def main() -> None:
    n_video, video_bytes = write_video()
    n_lidar, lidar_bytes = write_lidar()
    print(
        f"wrote {n_video} video frames ({video_bytes // 1024} KiB) and {n_lidar} point clouds "
        f"({lidar_bytes // 1024} KiB), with their predictions"
    )


if __name__ == "__main__":
    main()
