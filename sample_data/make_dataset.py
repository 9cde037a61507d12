"""Write ``sample_data/dataset.json``, the demo dataset the sandbox is seeded from.

The manifest is generated rather than hand-written so that uuids, names and
labels stay consistent; the output is committed, and running this again
produces the same bytes (uuids come from ``uuid5`` over the sample name).
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pcsegdata  # the point-cloud segmentation dataset (beside this script)
import rigdata  # the multi-sensor rig (beside this script)
import seqdata  # the sequence datasets (beside this script)

NAMESPACE = uuid.UUID("6f1c3c7e-5a0e-4d5c-9a47-2f3b8c1d9e10")
WIDTH, HEIGHT = 640, 480

CONFIDENCE = {"name": "confidence", "input_type": "number", "min": 0, "max": 1, "step": 0.001}
OCCLUDED = {"name": "occluded", "input_type": "checkbox", "default_value": False}

CATEGORIES = [
    {"id": 1, "name": "car", "color": [0, 113, 188], "attributes": [OCCLUDED, CONFIDENCE]},
    {"id": 2, "name": "truck", "color": [216, 82, 24], "attributes": [OCCLUDED, CONFIDENCE]},
    {"id": 3, "name": "pedestrian", "color": [236, 176, 31], "attributes": [OCCLUDED, CONFIDENCE]},
    {"id": 4, "name": "cyclist", "color": [125, 46, 141], "attributes": [OCCLUDED, CONFIDENCE]},
    {
        "id": 5,
        "name": "traffic_light",
        "color": [118, 171, 47],
        "attributes": [OCCLUDED, CONFIDENCE],
    },
    {
        "id": 6,
        "name": "traffic_sign",
        "color": [76, 189, 237],
        "attributes": [OCCLUDED, CONFIDENCE],
    },
    {"id": 7, "name": "lane_marking", "color": [161, 19, 46], "attributes": [CONFIDENCE]},
    {"id": 8, "name": "road", "color": [128, 64, 128], "attributes": [CONFIDENCE]},
]
IMAGE_ATTRIBUTES = [
    {"name": "weather", "input_type": "select", "values": ["sunny", "cloudy", "rain", "fog"]},
    {"name": "night", "input_type": "checkbox", "default_value": False},
]

# Ground-truth labels that people already worked on (the upload guard must not
# replace them) and one older model pre-label (which it may replace).
HUMAN_LABELS = {
    1: "LABELED",
    2: "LABELED",
    3: "REVIEWED",
    4: "LABELING_IN_PROGRESS",
    5: "PRELABELED",
}


def sample_uuid(name: str) -> str:
    return str(uuid.uuid5(NAMESPACE, name))


def label_for(i: int, status: str) -> dict[str, object]:
    x = 40 + 10 * i
    return {
        "label_status": status,
        "score": 0.5 if status == "PRELABELED" else None,
        "attributes": {
            "format_version": "0.1",
            "annotations": [
                {
                    "id": 1,
                    "category_id": 1,
                    "type": "bbox",
                    "points": [[x, 200], [x + 120, 290]],
                    "attributes": {"occluded": False},
                },
                {
                    "id": 2,
                    "category_id": 3,
                    "type": "bbox",
                    "points": [[400, 180], [440, 300]],
                    "attributes": {"occluded": i % 2 == 0},
                },
            ],
            "image_attributes": {"weather": "sunny", "night": False},
        },
    }


def build() -> dict[str, object]:
    samples = []
    for i in range(1, 25):
        name = f"img_{i:04d}.jpg"
        labels = {"ground-truth": label_for(i, HUMAN_LABELS[i])} if i in HUMAN_LABELS else {}
        samples.append(
            {
                "uuid": sample_uuid(name),
                "name": name,
                "attributes": {"image": {"url": f"images/img_{i:04d}.png"}},
                "metadata": {"camera": "front", "sequence": (i - 1) // 8 + 1},
                "labels": labels,
            }
        )
    return {
        "datasets": [
            {
                "owner": "demo",
                "name": "street-scenes",
                "description": "A small street-scene detection dataset for trying upload-preds.",
                "task_type": "vector",
                "task_attributes": {
                    "format_version": "0.1",
                    "categories": CATEGORIES,
                    "image_attributes": IMAGE_ATTRIBUTES,
                },
                "labelsets": [
                    {"name": "ground-truth", "description": "Labels made by people."},
                    {"name": "predictions", "description": "Model predictions, with scores."},
                ],
                "samples": samples,
            },
            # Appended: a video and a LiDAR sequence dataset (see seqdata.py).
            *seqdata.manifest_datasets(sample_uuid),
            # Appended: a point-cloud segmentation dataset (see pcsegdata.py).
            *pcsegdata.manifest_datasets(sample_uuid),
            # Appended: a multi-sensor rig with segmentation sensors (see rigdata.py).
            *rigdata.manifest_datasets(sample_uuid),
        ]
    }


if __name__ == "__main__":
    out = Path(__file__).with_name("dataset.json")
    out.write_text(json.dumps(build(), indent=2) + "\n", encoding="utf-8")
    print(f"wrote {out}")
