"""Datasets of every sequence, point-cloud and multi-sensor task type, with files, and labels.

:func:`write_manifest` writes a manifest (one dataset per task type, owner
``seq``) into a folder with the files its samples name: PNG frames and
``.pcd`` point clouds (ASCII and binary). :func:`good_label` builds, for each
task type, a label the platform's models describe, from a seeded RNG; tests
mutate it into the bad bodies of each rule. Point clouds are made by
:func:`cloud`; what a test expects is computed from the same numbers, never
read from the server under test.
"""

from __future__ import annotations

import copy
import json
import math
import random
import struct
import uuid
import zlib
from pathlib import Path
from typing import Any

from PIL import Image

CATS = [
    {"id": 1, "name": "car", "color": [255, 0, 0]},
    {"id": 2, "name": "pedestrian", "color": [0, 0, 255]},
    {"id": 3, "name": "cyclist", "color": [0, 200, 0]},
]
FRAMES = 4
POINTS = 300
#: dataset name → task type
DATASETS: dict[str, str] = {
    "video": "image-vector-sequence",
    "video-masks": "image-segmentation-sequence",
    "lidar-cuboids": "pointcloud-cuboid-sequence",
    "lidar-vector": "pointcloud-vector",
    "lidar-vectors": "pointcloud-vector-sequence",
    "scan": "pointcloud-segmentation",
    "scans": "pointcloud-segmentation-sequence",
    "rig": "multisensor-sequence",
}
SENSORS = {"lidar": "pointcloud-cuboid-sequence", "camera": "image-vector-sequence"}
ASSET_URL = "https://assets.example.com/masks/{}.png"


def sample_uuid(dataset: str, i: int) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"seq/{dataset}/{i}"))


def cloud(seed: int, n: int = POINTS) -> list[tuple[float, float, float]]:
    """``n`` points in a 40 m square around the origin."""
    rng = random.Random(seed)
    return [
        (
            round(rng.uniform(-20, 20), 3),
            round(rng.uniform(-20, 20), 3),
            round(rng.uniform(-2, 2), 3),
        )
        for _ in range(n)
    ]


def frame_cloud(key: str, frame: int) -> list[tuple[float, float, float]]:
    """The points of frame ``frame`` of sample ``key`` (``DATASET_I``), as written."""
    return cloud(zlib.crc32(f"{key}/{frame}".encode()))


def write_pcd(path: Path, points: list[tuple[float, float, float]], *, binary: bool) -> None:
    """A PCD v0.7 file with x y z (float32) and an intensity field after them."""
    header = (
        "# .PCD v0.7 - Point Cloud Data file format\nVERSION 0.7\nFIELDS x y z intensity\n"
        "SIZE 4 4 4 4\nTYPE F F F F\nCOUNT 1 1 1 1\n"
        f"WIDTH {len(points)}\nHEIGHT 1\nVIEWPOINT 0 0 0 1 0 0 0\nPOINTS {len(points)}\n"
        f"DATA {'binary' if binary else 'ascii'}\n"
    )
    if binary:
        body = b"".join(struct.pack("<4f", x, y, z, 0.5) for x, y, z in points)
    else:
        body = "".join(f"{x} {y} {z} 0.5\n" for x, y, z in points).encode()
    path.write_bytes(header.encode() + body)


def _frame_image(folder: Path, name: str, shade: int) -> str:
    rel = f"frames/{name}.png"
    Image.new("RGB", (64, 48), (shade, 80, 120)).save(folder / rel)
    return rel


def _pcd_frames(folder: Path, key: str, n: int) -> list[dict[str, Any]]:
    frames = []
    for f in range(n):
        rel = f"clouds/{key}_{f}.pcd"
        write_pcd(folder / rel, frame_cloud(key, f), binary=f % 2 == 1)
        frames.append({"pcd": {"url": rel, "type": "pcd"}, "timestamp": 1000 + 100 * f})
    return frames


def _image_frames(folder: Path, key: str, n: int) -> list[dict[str, Any]]:
    return [
        {"image": {"url": _frame_image(folder, f"{key}_{f}", 40 * f)}, "timestamp": 1000 + f}
        for f in range(n)
    ]


def _sample(folder: Path, dataset: str, task_type: str, i: int) -> dict[str, Any]:
    key = f"{dataset}_{i}"
    metadata: dict[str, Any] = {"index": i}
    if task_type == "multisensor-sequence":
        attributes: dict[str, Any] = {
            "sensors": [
                {
                    "name": "lidar",
                    "task_type": SENSORS["lidar"],
                    "attributes": {"frames": _pcd_frames(folder, key, FRAMES)},
                },
                {
                    "name": "camera",
                    "task_type": SENSORS["camera"],
                    "attributes": {"frames": _image_frames(folder, key, FRAMES)},
                },
            ]
        }
    elif task_type.startswith("pointcloud-") and task_type.endswith("-sequence"):
        attributes = {"frames": _pcd_frames(folder, key, FRAMES)}
        if "segmentation" in task_type:
            metadata["point_count"] = [POINTS] * FRAMES
    elif task_type.startswith("pointcloud-"):
        attributes = {"pcd": _pcd_frames(folder, key, 1)[0]["pcd"]}
        if "segmentation" in task_type:
            metadata["point_count"] = POINTS
    else:
        attributes = {"frames": _image_frames(folder, key, FRAMES)}
    return {
        "uuid": sample_uuid(dataset, i),
        "name": f"{key}",
        "attributes": attributes,
        "metadata": metadata,
    }


def manifest(folder: Path, samples: int = 2) -> dict[str, Any]:
    (folder / "frames").mkdir(parents=True, exist_ok=True)
    (folder / "clouds").mkdir(parents=True, exist_ok=True)
    datasets = []
    for name, task_type in DATASETS.items():
        task_attributes: dict[str, Any] = {"format_version": "0.1", "categories": CATS}
        if task_type == "multisensor-sequence":
            task_attributes["sensors"] = [{"name": n, "task_type": t} for n, t in SENSORS.items()]
        datasets.append(
            {
                "owner": "seq",
                "name": name,
                "task_type": task_type,
                "task_attributes": task_attributes,
                "labelsets": [{"name": "ground-truth"}, {"name": "predictions"}],
                "samples": [_sample(folder, name, task_type, i) for i in range(samples)],
            }
        )
    return {"datasets": datasets}


def write_manifest(folder: Path, samples: int = 2) -> Path:
    path = folder / "manifest.json"
    path.write_text(json.dumps(manifest(folder, samples)), encoding="utf-8")
    return path


# -- labels --------------------------------------------------------------------------


def _box(rng: random.Random, aid: int, track: int, cid: int) -> dict[str, Any]:
    x, y = rng.uniform(0, 40), rng.uniform(0, 30)
    return {
        "id": aid,
        "track_id": track,
        "category_id": cid,
        "type": "bbox",
        "points": [[round(x, 1), round(y, 1)], [round(x + 10, 1), round(y + 8, 1)]],
        "is_keyframe": True,
    }


def cuboid(aid: int, cid: int, x: float, y: float, yaw: float, **extra: Any) -> dict[str, Any]:
    return {
        "id": aid,
        "category_id": cid,
        "type": "cuboid",
        "position": {"x": x, "y": y, "z": 0.0},
        "dimensions": {"x": 4.0, "y": 2.0, "z": 1.5},
        "yaw": yaw,
        **extra,
    }


def _cuboid_frames(rng: random.Random, frames: int) -> list[dict[str, Any]]:
    out = []
    for f in range(frames):
        anns = [
            cuboid(
                t, cid, round(-10 + 2 * f + 5 * t, 2), round(3.0 * t - 4, 2), 0.3 * t, track_id=t
            )
            for t, cid in ((1, 1), (2, 2))
        ]
        if f % 2 == 0:
            anns.append(cuboid(3, 1, 8.0, 8.0, math.pi / 2, track_id=3))
        out.append({"format_version": "0.2", "annotations": anns, "timestamp": 1000 + 100 * f})
    rng.random()
    return out


def _segmentation(rng: random.Random, points: int, seq: bool) -> dict[str, Any]:
    ids = [0] * points
    anns = []
    for inst, cid in ((1, 1), (2, 1), (3, 2)):
        for p in rng.sample(range(points), points // 6):
            ids[p] = inst
        ann: dict[str, Any] = {"id": inst, "category_id": cid}
        if seq:
            ann["track_id"] = inst
        anns.append(ann)
    return {"format_version": "0.2", "annotations": anns, "point_annotations": ids}


def good_label(task_type: str, seed: int = 1, frames: int = FRAMES) -> dict[str, Any]:
    """A label of ``task_type`` for a sample of ``frames`` frames and POINTS points per cloud."""
    rng = random.Random(seed)
    if task_type == "image-vector-sequence":
        return {
            "format_version": "0.1",
            "frames": [
                {"format_version": "0.1", "annotations": [_box(rng, 1, 1, 1), _box(rng, 2, 2, 2)]}
                for _ in range(frames)
            ],
        }
    if task_type == "image-segmentation-sequence":
        return {
            "frames": [
                {
                    "annotations": [
                        {"id": 1, "category_id": 1, "track_id": 1},
                        {"id": 2, "category_id": 3, "track_id": 7},
                    ],
                    "segmentation_bitmap": {"url": ASSET_URL.format(f)},
                    "timestamp": f,
                }
                for f in range(frames)
            ]
        }
    if task_type == "pointcloud-cuboid-sequence":
        return {"format_version": "0.2", "frames": _cuboid_frames(rng, frames)}
    if task_type in ("pointcloud-vector", "pointcloud-vector-sequence"):
        seq = task_type.endswith("-sequence")
        track: dict[str, Any] = {"track_id": 1} if seq else {}
        anns = [
            {
                "id": 1,
                "category_id": 1,
                "type": "polygon",
                **track,
                "points": [[0.0, 0.0, 0.0], [4.0, 0.0, 0.0], [4.0, 2.0, 0.5]],
            },
            {
                "id": 2,
                "category_id": 2,
                "type": "polyline",
                **({"track_id": 2} if seq else {}),
                "points": [[1.0, 1.0, 0.0], [2.0, 3.0, 0.0]],
            },
            {
                "id": 3,
                "category_id": 3,
                "type": "point",
                **({"track_id": 3} if seq else {}),
                "points": [[5.0, 5.0, 1.0]],
            },
            cuboid(4, 1, 10.0, -3.0, 0.5, **({"track_id": 4} if seq else {})),
        ]
        frame = {"format_version": "0.2", "annotations": anns}
        if not seq:
            return frame
        return {"frames": [copy.deepcopy(frame) for _ in range(frames)]}
    if task_type == "pointcloud-segmentation":
        return _segmentation(rng, POINTS, seq=False)
    if task_type == "pointcloud-segmentation-sequence":
        return {"frames": [_segmentation(rng, POINTS, seq=True) for _ in range(frames)]}
    if task_type == "multisensor-sequence":
        return {
            "sensors": [
                {
                    "name": "lidar",
                    "task_type": SENSORS["lidar"],
                    "attributes": good_label(SENSORS["lidar"], seed, frames),
                },
                {
                    "name": "camera",
                    "task_type": SENSORS["camera"],
                    "attributes": good_label(SENSORS["camera"], seed, frames),
                },
            ]
        }
    raise ValueError(task_type)
