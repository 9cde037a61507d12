"""The point-cloud segmentation demo: two small SemanticKITTI-style scans and their predictions.

Writes, beside this script:

* ``semantickitti/000000.bin`` and ``000001.bin``: scans in the KITTI
  velodyne layout (little-endian ``float32`` x, y, z, intensity per point), a
  few thousand points of a made-up street: road, sidewalk, a building wall,
  vegetation, a pole, parked and moving cars and a person;
* ``semantickitti/000000.label`` and ``000001.label``: a model's predictions
  in the SemanticKITTI label layout (one little-endian ``uint32`` per point,
  lower 16 bits the raw class id, upper 16 bits the instance id), a few
  percent of them wrong on purpose;
* ``pcseg_predictions.jsonl``: one row per scan naming its ``.label`` file;
* ``semantickitti_learning_map.json``: the ``--category-map`` example, raw
  SemanticKITTI class id → the name of its training class (the 19 classes of
  the benchmark), or null for the ids the benchmark ignores (unlabeled,
  outlier, other-structure, other-object).

:func:`manifest_datasets` gives the ``pointcloud-segmentation`` dataset for
the sandbox manifest (``make_dataset.py`` appends it): the 19 training
classes as categories, one sample per scan with its point count in
``metadata.point_count`` (where the sandbox reads it). Everything comes from
a fixed seed, so running this again writes the same bytes.
"""

from __future__ import annotations

import json
import random
import struct
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).parent
FOLDER = "semantickitti"
SCANS = ("000000", "000001")

#: SemanticKITTI's raw class ids and names (the ``labels`` table of its config).
RAW_CLASSES: dict[int, str] = {
    0: "unlabeled",
    1: "outlier",
    10: "car",
    11: "bicycle",
    13: "bus",
    15: "motorcycle",
    16: "on-rails",
    18: "truck",
    20: "other-vehicle",
    30: "person",
    31: "bicyclist",
    32: "motorcyclist",
    40: "road",
    44: "parking",
    48: "sidewalk",
    49: "other-ground",
    50: "building",
    51: "fence",
    52: "other-structure",
    60: "lane-marking",
    70: "vegetation",
    71: "trunk",
    72: "terrain",
    80: "pole",
    81: "traffic-sign",
    99: "other-object",
    252: "moving-car",
    253: "moving-bicyclist",
    254: "moving-person",
    255: "moving-motorcyclist",
    256: "moving-on-rails",
    257: "moving-bus",
    258: "moving-truck",
    259: "moving-other-vehicle",
}
#: The 19 classes the benchmark trains and scores, in its order (ids 1-19).
TRAINING_CLASSES: tuple[str, ...] = (
    "car",
    "bicycle",
    "motorcycle",
    "truck",
    "other-vehicle",
    "person",
    "bicyclist",
    "motorcyclist",
    "road",
    "parking",
    "sidewalk",
    "other-ground",
    "building",
    "fence",
    "vegetation",
    "trunk",
    "terrain",
    "pole",
    "traffic-sign",
)
#: Raw classes folded into another training class (the rest keep their own name;
#: ``None``: ignored by the benchmark, left unlabeled).
FOLDED: dict[int, str | None] = {
    0: None,
    1: None,
    13: "other-vehicle",
    16: "other-vehicle",
    52: None,
    60: "road",
    99: None,
    252: "car",
    253: "bicyclist",
    254: "person",
    255: "motorcyclist",
    256: "other-vehicle",
    257: "other-vehicle",
    258: "truck",
    259: "other-vehicle",
}
COLORS: dict[str, list[int]] = {
    "car": [100, 150, 245],
    "bicycle": [100, 230, 245],
    "motorcycle": [30, 60, 150],
    "truck": [80, 30, 180],
    "other-vehicle": [0, 0, 255],
    "person": [255, 30, 30],
    "bicyclist": [255, 40, 200],
    "motorcyclist": [150, 30, 90],
    "road": [255, 0, 255],
    "parking": [255, 150, 255],
    "sidewalk": [75, 0, 75],
    "other-ground": [175, 0, 75],
    "building": [255, 200, 0],
    "fence": [255, 120, 50],
    "vegetation": [0, 175, 0],
    "trunk": [135, 60, 0],
    "terrain": [150, 240, 80],
    "pole": [255, 240, 150],
    "traffic-sign": [255, 0, 0],
}


def learning_map() -> dict[str, str | None]:
    """Raw class id (as text, the way ``--category-map`` keys are) → training class or null."""
    out: dict[str, str | None] = {}
    for raw, name in RAW_CLASSES.items():
        out[str(raw)] = FOLDED[raw] if raw in FOLDED else name
    return out


def categories() -> list[dict[str, object]]:
    return [
        {"id": i, "name": name, "color": COLORS[name]}
        for i, name in enumerate(TRAINING_CLASSES, start=1)
    ]


Point = tuple[float, float, float, float]


def _scene(rng: random.Random, shift: float) -> list[tuple[Point, int, int]]:
    """(point, raw class, instance) of a made-up street scan; ``shift`` moves the movers."""
    pts: list[tuple[Point, int, int]] = []

    def add(n: int, cls: int, inst: int, at: Callable[[], tuple[float, float, float]]) -> None:
        for _ in range(n):
            x, y, z = at()
            pts.append(((x, y, z, round(rng.random(), 3)), cls, inst))

    def uni(a: float, b: float) -> float:
        return rng.uniform(a, b)

    add(900, 40, 0, lambda: (uni(-30, 30), uni(-4, 4), -1.7))  # road
    add(120, 60, 0, lambda: (uni(-30, 30), uni(-0.1, 0.1), -1.7))  # lane marking
    add(500, 48, 0, lambda: (uni(-30, 30), uni(4, 7), -1.55))  # sidewalk
    add(450, 50, 0, lambda: (uni(-30, 30), 9.0, uni(-1.5, 6)))  # building wall
    add(400, 70, 0, lambda: (uni(-30, 30), uni(-12, -7), uni(-1.6, 2.5)))  # vegetation
    add(60, 80, 0, lambda: (5.0, 4.5, uni(-1.5, 3)))  # pole
    add(40, 81, 0, lambda: (uni(4.7, 5.3), 4.5, uni(2.6, 3.2)))  # traffic sign
    add(220, 10, 1, lambda: (uni(-12, -8), uni(5, 6.8), uni(-1.5, 0)))  # parked car
    add(220, 10, 2, lambda: (uni(12, 16), uni(5, 6.8), uni(-1.5, 0)))  # parked car
    add(260, 252, 3, lambda: (uni(-3, 1) + shift, uni(-3, -1.2), uni(-1.5, 0)))  # moving car
    add(90, 30, 4, lambda: (uni(1, 1.6), uni(5, 5.6), uni(-1.5, 0.2)))  # person
    add(25, 1, 0, lambda: (uni(-40, 40), uni(-40, 40), uni(-5, 10)))  # outliers
    rng.shuffle(pts)
    return pts


def _predict(rng: random.Random, cls: int, inst: int) -> int:
    """A model's guess: mostly right, sometimes the neighbouring class."""
    if rng.random() < 0.04:
        cls = {40: 48, 48: 40, 70: 72, 50: 52, 10: 252, 252: 10}.get(cls, cls)
    return cls | inst << 16


def write_all() -> list[tuple[str, int]]:
    """Write the scans, labels, rows and the map; (sample name, point count) per scan."""
    folder = HERE / FOLDER
    folder.mkdir(exist_ok=True)
    made: list[tuple[str, int]] = []
    rows = []
    for k, stem in enumerate(SCANS):
        rng = random.Random(1000 + k)
        pts = _scene(rng, shift=4.0 * k)
        cloud = b"".join(struct.pack("<4f", *p) for p, _, _ in pts)
        labels = struct.pack(f"<{len(pts)}I", *(_predict(rng, c, i) for _, c, i in pts))
        (folder / f"{stem}.bin").write_bytes(cloud)
        (folder / f"{stem}.label").write_bytes(labels)
        made.append((f"{stem}.bin", len(pts)))
        rows.append({"sample_name": f"{stem}.bin", "point_labels_path": f"{FOLDER}/{stem}.label"})
    (HERE / "pcseg_predictions.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8"
    )
    (HERE / "semantickitti_learning_map.json").write_text(
        json.dumps(learning_map(), indent=2) + "\n", encoding="utf-8"
    )
    return made


def manifest_datasets(sample_uuid: Callable[[str], str]) -> list[dict[str, object]]:
    """The ``pointcloud-segmentation`` demo dataset, its scans written first."""
    samples = [
        {
            "uuid": sample_uuid(f"{FOLDER}/{name}"),
            "name": name,
            "attributes": {"pcd": {"url": f"{FOLDER}/{name}", "type": "kitti"}},
            "metadata": {"point_count": n, "sequence": "semantickitti-demo"},
            "labels": {},
        }
        for name, n in write_all()
    ]
    return [
        {
            "owner": "demo",
            "name": "lidar-segmentation",
            "description": "Two small SemanticKITTI-style scans for point-cloud segmentation.",
            "task_type": "pointcloud-segmentation",
            "task_attributes": {"format_version": "0.1", "categories": categories()},
            "labelsets": [
                {"name": "ground-truth", "description": "Labels made by people."},
                {"name": "predictions", "description": "Model predictions."},
            ],
            "samples": samples,
        }
    ]


if __name__ == "__main__":
    for name, n in write_all():
        print(f"wrote {FOLDER}/{name} ({n:,} points) and its .label")
