"""The demo's two sequence datasets: what moves where, frame by frame.

One source of truth for the generators: ``make_dataset.py`` takes the
manifest entries (:func:`manifest_datasets`) from here, and
``make_sequences.py`` draws the frames, writes the point clouds and the
predictions from the same tracks, so boxes sit on the objects they name.

* ``demo/street-video`` (``image-vector-sequence``): 3 sequences
  ``seq_01..03`` of :data:`VIDEO_FRAMES` frames, 640x480, cars driving across
  and people walking along the pavement (:func:`video_tracks`).
* ``demo/lidar-sweeps`` (``pointcloud-cuboid-sequence``): 2 sweeps
  ``sweep_01..02`` of :data:`LIDAR_FRAMES` frames, cars and a pedestrian
  moving on a flat ground plane around the sensor (:func:`lidar_tracks`).

Everything is a function of the sequence number: no randomness here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

VIDEO_DATASET = "street-video"
LIDAR_DATASET = "lidar-sweeps"
VIDEO_SEQUENCES = ["seq_01", "seq_02", "seq_03"]
LIDAR_SEQUENCES = ["sweep_01", "sweep_02"]
VIDEO_FRAMES = 24
LIDAR_FRAMES = 20
W, H = 640, 480

CONFIDENCE = {"name": "confidence", "input_type": "number", "min": 0, "max": 1, "step": 0.001}
CATEGORIES = [
    {"id": 1, "name": "car", "color": [0, 113, 188], "attributes": [CONFIDENCE]},
    {"id": 2, "name": "pedestrian", "color": [236, 176, 31], "attributes": [CONFIDENCE]},
    {"id": 3, "name": "cyclist", "color": [125, 46, 141], "attributes": [CONFIDENCE]},
]
LABELSETS = [
    {"name": "ground-truth", "description": "Pre-labels and labels made by people."},
    {"name": "predictions", "description": "A tracker's output, with scores."},
]


@dataclass(frozen=True)
class Box:
    """One object in one video frame: its track, category and xyxy box in pixels."""

    track_id: int
    category: str
    x0: float
    y0: float
    x1: float
    y1: float


@dataclass(frozen=True)
class Cuboid:
    """One object in one LiDAR frame: centre, size (length, width, height), heading."""

    track_id: int
    category: str
    x: float
    y: float
    z: float
    length: float
    width: float
    height: float
    yaw: float


def video_tracks(seq: int, frame: int) -> list[Box]:
    """The objects of video sequence ``seq`` (1-based) in ``frame`` (0-based)."""
    t = frame / (VIDEO_FRAMES - 1)
    boxes: list[Box] = []
    # Cars drive across the road, the nearer one faster; the direction alternates.
    for k, (y1, w, speed) in enumerate(((440, 170, 1.0), (360, 120, 0.7))):
        h = w * 0.6
        direction = 1 if (seq + k) % 2 else -1
        start = 20 + 60 * seq + 90 * k
        x0 = start + direction * speed * 330 * t
        x0 = min(max(x0, 0), W - w)
        boxes.append(Box(k + 1, "car", x0, y1 - h, x0 + w, y1))
    # People walk along the pavement, slowly.
    for k in range(1 + seq % 2):
        px = 60 + 240 * k + 20 * seq + 80 * t * (1 if k % 2 == 0 else -1)
        py = 330 - 30 * k
        boxes.append(Box(3 + k, "pedestrian", px, py - 90, px + 30, py))
    return boxes


def lidar_tracks(seq: int, frame: int) -> list[Cuboid]:
    """The objects of LiDAR sweep ``seq`` (1-based) in ``frame`` (0-based), metres."""
    t = frame * 0.1  # 10 Hz
    objs = [
        Cuboid(1, "car", -12 + 8.0 * t, -3.5, 0.8, 4.5, 1.9, 1.6, 0.0),
        Cuboid(2, "car", 10 - 5.5 * t, 3.5 + 0.3 * seq, 0.8, 4.2, 1.8, 1.5, math.pi),
    ]
    angle = 0.6 + 0.4 * seq + 0.15 * t
    objs.append(
        Cuboid(3, "pedestrian", 6 * math.cos(angle), 6 * math.sin(angle), 0.9, 0.6, 0.6, 1.8, angle)
    )
    if seq == 2:
        objs.append(Cuboid(4, "cyclist", -4 + 3.5 * t, 8.0, 0.85, 1.8, 0.6, 1.7, 0.0))
    return objs


def frame_url(kind: str, sequence: str, frame: int) -> str:
    """The frame's file, relative to ``sample_data/`` (the sandbox serves it from there)."""
    ext = "png" if kind == "video" else "pcd"
    return f"{kind}/{sequence}/{frame:03d}.{ext}"


def manifest_datasets(sample_uuid: Any) -> list[dict[str, Any]]:
    """The two datasets' manifest entries; ``sample_uuid(name)`` gives stable uuids."""
    video = [
        {
            "uuid": sample_uuid(f"{VIDEO_DATASET}/{name}"),
            "name": name,
            "attributes": {
                "frames": [
                    {"image": {"url": frame_url("video", name, f)}, "name": f"{f:03d}"}
                    for f in range(VIDEO_FRAMES)
                ]
            },
            "metadata": {"camera": "front", "fps": 10},
            "labels": {},
        }
        for name in VIDEO_SEQUENCES
    ]
    lidar = [
        {
            "uuid": sample_uuid(f"{LIDAR_DATASET}/{name}"),
            "name": name,
            "attributes": {
                "frames": [
                    {
                        "pcd": {"url": frame_url("lidar", name, f), "type": "pcd"},
                        "name": f"{f:03d}",
                        "timestamp": f * 100_000_000,
                        "ego_pose": {
                            "position": {"x": 0, "y": 0, "z": 0},
                            "heading": {"qx": 0, "qy": 0, "qz": 0, "qw": 1},
                        },
                    }
                    for f in range(LIDAR_FRAMES)
                ]
            },
            "metadata": {"sensor": "lidar_top", "hz": 10},
            "labels": {},
        }
        for name in LIDAR_SEQUENCES
    ]
    return [
        {
            "owner": "demo",
            "name": VIDEO_DATASET,
            "description": "Three short street videos: cars and people to track.",
            "task_type": "image-vector-sequence",
            "task_attributes": {"format_version": "0.1", "categories": CATEGORIES},
            "labelsets": LABELSETS,
            "samples": video,
        },
        {
            "owner": "demo",
            "name": LIDAR_DATASET,
            "description": "Two short LiDAR sweeps: cars, a pedestrian and a cyclist.",
            "task_type": "pointcloud-cuboid-sequence",
            "task_attributes": {"format_version": "0.2", "categories": CATEGORIES},
            "labelsets": LABELSETS,
            "samples": lidar,
        },
    ]
