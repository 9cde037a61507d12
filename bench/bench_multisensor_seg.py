"""Segmentation sensors of a multi-sensor label: what the multi-sensor layer costs them.

One sample of a camera + LiDAR rig whose two sensors segment: a
``pointcloud-segmentation-sequence`` sensor (one SemanticKITTI ``.label`` file
of ``--points`` points per frame) and an ``image-segmentation-sequence`` sensor
(one 640x480 instance mask per frame), ``--frames`` frames each, their rows
shuffled together. Timed back to back in one process, best of ``--repeat``:

* the multi-sensor label built from all its rows (``Converter.convert_sequence``
  of a ``multisensor-sequence`` dataset: rows split by sensor, each frame's file
  read and checked with its sensor's categories, the masks encoded as PNGs);
* the two sensors' segmentation sequence labels built alone, each from its own
  rows in a dataset of that task type (the same work without the layer);
* ``orjson.dumps`` of the finished label (the floor every upload pays).

Printed: the ratio multi-sensor / the two alone (the layer's overhead; 1.0 is
free) and multi-sensor / ``orjson.dumps``. ``--quick``: 4 frames of 20,000
points.
"""

from __future__ import annotations

import random
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from PIL import Image

from benchkit import arguments, best_of, sequence_label
from upload_preds.convert import Converter, ConvertOptions
from upload_preds.convert.categories import Categories

CATS = {
    "categories": [
        {"id": 1, "name": "car"},
        {"id": 2, "name": "person"},
        {"id": 3, "name": "road"},
        {"id": 4, "name": "building"},
    ]
}
#: SemanticKITTI raw class → category (the benchmark's --category-map).
CLASS_MAP: dict[str, str | None] = {"0": None, "10": "car", "30": "person", "40": "road"}
CLASS_MAP["50"] = "building"
SENSORS = {
    "lidar-seg": "pointcloud-segmentation-sequence",
    "camera-seg": "image-segmentation-sequence",
}
MASK_ANNS = [
    {"id": 1, "category": "road"},
    {"id": 2, "category": "building"},
    *({"id": 10 + k, "category": "car"} for k in range(8)),
]


def write_files(folder: Path, frames: int, points: int) -> None:
    """Each frame's scan labels (stuff, 8 cars, 4 people in runs) and instance mask."""
    rng = np.random.default_rng(1)
    for f in range(frames):
        parts = [(40, 0, points // 2), (50, 0, points // 4)]
        parts += [(10, k + 1, points // 40) for k in range(8)]
        parts += [(30, k + 9, points // 80) for k in range(4)]
        values = np.concatenate([np.full(n, c | i << 16, np.uint32) for c, i, n in parts])
        values = np.concatenate([values, np.zeros(points - values.size, np.uint32)])
        rng.shuffle(values)
        values.astype("<u4").tofile(folder / f"{f}.label")
        mask = np.zeros((480, 640), np.uint8)
        mask[340:, :] = 1
        mask[80:250, :] = 2
        for k in range(8):
            x = (40 * k + 7 * f) % 560
            mask[300 + 10 * k : 360 + 10 * k, x : x + 80] = 10 + k
        Image.fromarray(mask, "L").save(folder / f"{f}.png")


def rows_of(folder: Path, sensor: str, frames: int, with_sensor: bool) -> list[dict[str, Any]]:
    out = []
    for f in range(frames):
        row: dict[str, Any] = {"sample_name": "scene", "frame": f}
        if sensor == "lidar-seg":
            row["point_labels_path"] = f"{f}.label"
        else:
            row.update(mask_path=f"{f}.png", annotations=MASK_ANNS)
        if with_sensor:
            row["sensor"] = sensor
        out.append(row)
    return out


def label_of(conv: Converter, folder: Path, rows: list[dict[str, Any]], frames: Any) -> Any:
    return sequence_label(conv, rows, frames, str(folder / "b.jsonl"))


def main() -> None:
    parser = arguments(__doc__, "4 frames of 20,000 points, a few seconds")
    parser.add_argument("--frames", type=int, default=20)
    parser.add_argument("--points", type=int, default=120_000)
    parser.add_argument("--repeat", type=int, default=5)
    ns = parser.parse_args()
    frames, points = (4, 20_000) if ns.quick else (ns.frames, ns.points)
    repeat = 2 if ns.quick else ns.repeat
    options = ConvertOptions(class_map=CLASS_MAP)
    ta = {**CATS, "sensors": [{"name": n, "task_type": t} for n, t in SENSORS.items()]}
    multi = Converter(options, Categories.from_task_attributes(ta, "multisensor-sequence"))
    singles = {
        n: Converter(options, Categories.from_task_attributes(CATS, t)) for n, t in SENSORS.items()
    }
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        write_files(folder, frames, points)
        all_rows = [r for n in SENSORS for r in rows_of(folder, n, frames, True)]
        random.Random(3).shuffle(all_rows)
        alone = {n: rows_of(folder, n, frames, False) for n in SENSORS}
        counts = dict.fromkeys(SENSORS, frames)
        label = label_of(multi, folder, all_rows, counts)
        t_multi = best_of(lambda: label_of(multi, folder, all_rows, counts), repeat)
        t_alone = best_of(
            lambda: [label_of(singles[n], folder, alone[n], frames) for n in SENSORS], repeat
        )
        t_dumps = best_of(lambda: orjson.dumps(label), repeat)
    print(
        f"one multi-sensor label: a LiDAR sensor of {frames} x {points:,} points and a "
        f"camera of {frames} 640x480 masks, {len(orjson.dumps(label)) / 1e6:.1f} MB"
    )
    print(f"  multi-sensor label from its rows   {t_multi * 1000:8.1f} ms")
    print(f"  the 2 sensors' labels alone        {t_alone * 1000:8.1f} ms")
    print(f"  orjson.dumps of the label          {t_dumps * 1000:8.1f} ms")
    print(f"  ratio multi-sensor / sensors alone {t_multi / t_alone:8.2f}x")
    print(f"  ratio multi-sensor / orjson.dumps  {t_multi / t_dumps:8.1f}x")


if __name__ == "__main__":
    main()
