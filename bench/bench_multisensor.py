"""Multi-sensor labels from per-frame rows: what the multi-sensor layer costs.

One sample of a camera + LiDAR rig: a ``pointcloud-cuboid-sequence`` sensor
(cuboid tracks), an ``image-vector-sequence`` sensor (box tracks) and a
``pointcloud-vector-sequence`` sensor (3-D polyline tracks), each with
``--frames`` frames. Timed back to back in one process, best of ``--repeat``:

* the multi-sensor label built from all its rows (``Converter.convert_sequence``
  of a ``multisensor-sequence`` dataset: rows split by sensor, each checked with
  its sensor's categories, assembled);
* the three sensors' sequence labels built alone, each from its own rows in a
  dataset of that task type (the same work without the multi-sensor layer);
* ``orjson.dumps`` of the finished label (the floor every upload pays).

Printed: the ratio multi-sensor / sum of the three alone (the layer's overhead;
1.0 is free) and multi-sensor / ``orjson.dumps``. ``--quick`` runs 50 frames.
"""

from __future__ import annotations

import random
from typing import Any

import orjson

from benchkit import arguments, best_of, sequence_label
from upload_preds.convert import Converter, ConvertOptions
from upload_preds.convert.categories import Categories

CATS = {
    "categories": [{"id": 1, "name": "car"}, {"id": 2, "name": "person"}, {"id": 3, "name": "lane"}]
}
SENSORS = {
    "lidar": "pointcloud-cuboid-sequence",
    "camera": "image-vector-sequence",
    "lanes": "pointcloud-vector-sequence",
}


def annotation(sensor: str, frame: int, track: int) -> dict[str, Any]:
    x = float(track * 3 + frame * 0.1)
    if sensor == "lidar":
        return {
            "type": "cuboid",
            "category": "car" if track % 2 else "person",
            "track_id": track,
            "position": [x, 2.0, 0.5],
            "dimensions": [4.2, 1.8, 1.5],
            "yaw": 0.01 * frame,
            "score": 0.5 + (track % 5) / 10,
        }
    if sensor == "camera":
        return {
            "category": "car" if track % 2 else "person",
            "track_id": track,
            "bbox": [x, 40.5, x + 80.0, 120.25],
            "score": 0.5 + (track % 5) / 10,
        }
    return {
        "type": "polyline",
        "category": "lane",
        "track_id": track,
        "points": [[0.0, x, 0.0], [25.0, x + 0.2, 0.1], [50.0, x + 0.3, 0.1]],
    }


def rows_of(sensor: str, frames: int, tracks: int, with_sensor: bool) -> list[dict[str, Any]]:
    out = []
    for f in range(frames):
        anns = [annotation(sensor, f, t) for t in range(1, tracks + 1)]
        row: dict[str, Any] = {"sample_name": "scene", "frame": f, "annotations": anns}
        if with_sensor:
            row["sensor"] = sensor
        out.append(row)
    return out


def label_of(conv: Converter, rows: list[dict[str, Any]], frames: Any) -> dict[str, Any]:
    label: dict[str, Any] = sequence_label(conv, rows, frames, "bench.jsonl")
    return label


def main() -> None:
    parser = arguments(__doc__, "50 frames, a few seconds")
    parser.add_argument("--frames", type=int, default=500)
    parser.add_argument("--tracks", type=int, default=20, help="tracks per sensor")
    parser.add_argument("--repeat", type=int, default=5)
    ns = parser.parse_args()
    frames = 50 if ns.quick else ns.frames
    repeat = 3 if ns.quick else ns.repeat
    ta = {**CATS, "sensors": [{"name": n, "task_type": t} for n, t in SENSORS.items()]}
    multi = Converter(ConvertOptions(), Categories.from_task_attributes(ta, "multisensor-sequence"))
    singles = {
        n: Converter(ConvertOptions(), Categories.from_task_attributes(CATS, t))
        for n, t in SENSORS.items()
    }
    rng = random.Random(3)
    all_rows = [r for n in SENSORS for r in rows_of(n, frames, ns.tracks, True)]
    rng.shuffle(all_rows)
    alone = {n: rows_of(n, frames, ns.tracks, False) for n in SENSORS}
    counts = dict.fromkeys(SENSORS, frames)
    label = label_of(multi, all_rows, counts)
    objects = sum(
        len(f["annotations"]) for s in label["sensors"] for f in s["attributes"]["frames"]
    )

    t_multi = best_of(lambda: label_of(multi, all_rows, counts), repeat)
    t_alone = best_of(lambda: [label_of(singles[n], alone[n], frames) for n in SENSORS], repeat)
    t_dumps = best_of(lambda: orjson.dumps(label), repeat)
    print(
        f"one multi-sensor label: {len(SENSORS)} sensors x {frames} frames x {ns.tracks} "
        f"tracks = {objects:,} objects, {len(orjson.dumps(label)) / 1e6:.1f} MB"
    )
    print(f"  multi-sensor label from its rows   {t_multi * 1000:8.1f} ms")
    print(f"  the 3 sensors' labels alone        {t_alone * 1000:8.1f} ms")
    print(f"  orjson.dumps of the label          {t_dumps * 1000:8.1f} ms")
    print(f"  ratio multi-sensor / sensors alone {t_multi / t_alone:8.2f}x")
    print(f"  ratio multi-sensor / orjson.dumps  {t_multi / t_dumps:8.1f}x")


if __name__ == "__main__":
    main()
