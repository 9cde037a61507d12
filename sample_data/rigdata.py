"""The multi-sensor demo: a camera + LiDAR rig whose two sensors both segment.

The rig reuses files the other demos already ship, so it adds only two small
masks: its LiDAR sensor's frames are the two SemanticKITTI-style scans of
``pcsegdata.py`` (``semantickitti/00000k.bin``, their predictions the
``.label`` files beside them), its camera's frames the first two frames of
the street video (``video/seq_01/000.png``, ``001.png``). Writes, beside this
script:

* ``rig/masks/000.png`` and ``001.png``: the camera's instance masks (8-bit
  grey, pixel value = instance id): road, sidewalk, buildings, and each car
  and person of the video's predictions (``video_predictions.jsonl``, their
  boxes drawn as rectangles, farther objects first), so an object keeps its
  id in both frames;
* ``rig_predictions.jsonl``: one row per sensor and frame, ``sensor`` +
  ``frame`` + ``point_labels_path`` (LiDAR) or ``mask_path`` and
  ``annotations`` (camera), uploaded by ``make demo`` with the SemanticKITTI
  learning map as ``--category-map``.

:func:`manifest_datasets` gives the ``multisensor-sequence`` dataset for the
sandbox manifest (``make_dataset.py`` appends it): the 19 training classes as
categories, one sample whose LiDAR sensor has its frames' point counts in
``metadata.point_count`` (``{"lidar": [...]}``, where the sandbox reads them).
Deterministic: running it again writes the same bytes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pcsegdata  # the scans and the categories (beside this script)
from PIL import Image, ImageDraw

HERE = Path(__file__).parent
SAMPLE = "rig_01"
FRAMES = 2
SIZE = (640, 480)
#: The camera's stuff regions: (instance id, category, box) in the video's street.
STUFF = [
    (1, "building", (0, 75, 640, 250)),
    (2, "sidewalk", (0, 250, 640, 340)),
    (3, "road", (0, 340, 640, 480)),
]
#: Video class name → the rig's category (the learning map's names).
CLASSES = {"car": "car", "pedestrian": "person"}


def _video_objects(frame: int) -> list[tuple[int, str, list[float]]]:
    """The video's predicted (track, class, box) of seq_01's ``frame``."""
    for line in (HERE / "video_predictions.jsonl").read_text().splitlines():
        row = json.loads(line)
        if row["sample_name"] == "seq_01" and row["frame"] == frame:
            return [(a["track_id"], a["category"], a["bbox"]) for a in row["annotations"]]
    raise LookupError(f"seq_01 frame {frame} is not in video_predictions.jsonl")


def write_all() -> list[int]:
    """Write the masks and the rows; the LiDAR frames' point counts."""
    folder = HERE / "rig" / "masks"
    folder.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, object]] = []
    for f in range(FRAMES):
        rows.append(
            {
                "sample_name": SAMPLE,
                "sensor": "lidar",
                "frame": f,
                "point_labels_path": f"{pcsegdata.FOLDER}/{pcsegdata.SCANS[f]}.label",
            }
        )
        mask = Image.new("L", SIZE, 0)
        draw = ImageDraw.Draw(mask)
        annotations = []
        for iid, name, box in STUFF:
            draw.rectangle(box, fill=iid)
            annotations.append({"id": iid, "category": name})
        # Objects by their box's bottom edge: the nearer one covers the farther.
        for track, cls, (x0, y0, x1, y1) in sorted(_video_objects(f), key=lambda o: o[2][3]):
            iid = 10 + track  # a track keeps its id (and so its mask colour) in every frame
            draw.rectangle((round(x0), round(y0), round(x1), round(y1)), fill=iid)
            annotations.append({"id": iid, "category": CLASSES[cls]})
        mask.save(folder / f"{f:03d}.png", optimize=True)
        rows.append(
            {
                "sample_name": SAMPLE,
                "sensor": "camera",
                "frame": f,
                "mask_path": f"rig/masks/{f:03d}.png",
                "annotations": sorted(annotations, key=lambda a: int(a["id"])),
            }
        )
    (HERE / "rig_predictions.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8"
    )
    # A KITTI scan is float32 x, y, z, intensity per point: 16 bytes.
    return [
        (HERE / pcsegdata.FOLDER / f"{stem}.bin").stat().st_size // 16
        for stem in pcsegdata.SCANS[:FRAMES]
    ]


def manifest_datasets(sample_uuid: Callable[[str], str]) -> list[dict[str, object]]:
    """The ``multisensor-sequence`` demo dataset, its masks and rows written first."""
    points = write_all()
    sensors = [
        {
            "name": "lidar",
            "task_type": "pointcloud-segmentation-sequence",
            "attributes": {
                "frames": [
                    {"pcd": {"url": f"{pcsegdata.FOLDER}/{stem}.bin", "type": "kitti"}}
                    for stem in pcsegdata.SCANS[:FRAMES]
                ]
            },
        },
        {
            "name": "camera",
            "task_type": "image-segmentation-sequence",
            "attributes": {
                "frames": [{"image": {"url": f"video/seq_01/{f:03d}.png"}} for f in range(FRAMES)]
            },
        },
    ]
    return [
        {
            "owner": "demo",
            "name": "rig",
            "description": "A camera + LiDAR rig whose sensors both segment (multi-sensor).",
            "task_type": "multisensor-sequence",
            "task_attributes": {
                "format_version": "0.1",
                "categories": pcsegdata.categories(),
                "sensors": [{"name": s["name"], "task_type": s["task_type"]} for s in sensors],
            },
            "labelsets": [
                {"name": "ground-truth", "description": "Labels made by people."},
                {"name": "predictions", "description": "Model predictions."},
            ],
            "samples": [
                {
                    "uuid": sample_uuid(f"rig/{SAMPLE}"),
                    "name": SAMPLE,
                    "attributes": {"sensors": sensors},
                    "metadata": {"point_count": {"lidar": points}},
                    "labels": {},
                }
            ],
        }
    ]


if __name__ == "__main__":
    counts = write_all()
    print(f"wrote rig/masks and rig_predictions.jsonl (LiDAR frames of {counts} points)")
