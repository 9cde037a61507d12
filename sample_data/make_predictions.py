"""Write the demo prediction files in ``sample_data/`` for the demo dataset.

One model's detections for the 24 images of ``demo/street-scenes``, written in
every input format upload-preds reads, so the README's examples and the demo
run have something real to chew on:

- ``predictions.jsonl``: images 1-12, one row per image, shorthand
  ``annotations`` (bboxes in xyxy, a road polygon, lane-marking polylines,
  traffic-light points), category names and ids, image attributes, scores.
- ``predictions.csv``: images 13-24, one row per box, ``sample_name``,
  ``category``, ``xmin..ymax``, ``score`` and an ``attr.occluded`` column.
- ``predictions.json``: a JSON array of four rows for the ``predictions``
  label set, two of them with complete ``attributes`` objects.
- ``categories.json``: the dataset's ``task_attributes``, for offline runs
  (``--categories``).

Deterministic (a seeded RNG): running it again produces the same files.
"""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
MANIFEST = json.loads((HERE / "dataset.json").read_text(encoding="utf-8"))
DATASET = MANIFEST["datasets"][0]
SAMPLES = DATASET["samples"]
CATEGORY_IDS = {c["name"]: c["id"] for c in DATASET["task_attributes"]["categories"]}
W, H = 640, 480


def box(rng: random.Random) -> list[float]:
    w, h = rng.uniform(30, 180), rng.uniform(30, 140)
    x, y = rng.uniform(0, W - w), rng.uniform(H * 0.3, H - h)
    return [round(x, 1), round(y, 1), round(x + w, 1), round(y + h, 1)]


def detections(rng: random.Random, n: int) -> list[dict[str, Any]]:
    out = []
    for _ in range(n):
        cat = rng.choice(["car", "car", "truck", "pedestrian", "cyclist", "traffic_sign"])
        out.append({"category": cat, "bbox": box(rng), "score": round(rng.uniform(0.2, 0.99), 3)})
    return out


def jsonl_rows(rng: random.Random) -> list[dict[str, Any]]:
    rows = []
    for i, s in enumerate(SAMPLES[:12]):
        anns: list[dict[str, Any]] = detections(rng, rng.randint(2, 5))
        if i % 3 == 0:
            anns.append(
                {
                    "category": "road",
                    "type": "polygon",
                    "points": [[0, 479], [250, 260], [390, 260], [639, 479]],
                    "score": 0.9,
                }
            )
        if i % 3 == 1:
            anns.append(
                {
                    "category_id": CATEGORY_IDS["lane_marking"],
                    "type": "polyline",
                    "points": [[300, 479], [315, 380], [322, 290]],
                    "score": 0.8,
                }
            )
        if i % 4 == 0:
            anns.append(
                {
                    "category": "traffic_light",
                    "type": "point",
                    "points": [[505.0, 96.5]],
                    "score": 0.7,
                }
            )
        row: dict[str, Any] = {"annotations": anns}
        # Half the rows name the sample by uuid, half by file name.
        if i % 2 == 0:
            row = {"sample_uuid": s["uuid"], **row}
        else:
            row = {"sample_name": s["name"], **row}
        row["image_attributes"] = {
            "weather": rng.choice(["sunny", "cloudy", "rain"]),
            "night": False,
        }
        if i % 2 == 0:
            row["score"] = round(sum(a["score"] for a in anns) / len(anns), 3)
        rows.append(row)
    return rows


def csv_rows(rng: random.Random) -> list[dict[str, Any]]:
    rows = []
    for s in SAMPLES[12:]:
        for det in detections(rng, rng.randint(1, 4)):
            x0, y0, x1, y1 = det["bbox"]
            rows.append(
                {
                    "sample_name": s["name"],
                    "category": det["category"],
                    "xmin": x0,
                    "ymin": y0,
                    "xmax": x1,
                    "ymax": y1,
                    "score": det["score"],
                    "attr.occluded": "true" if rng.random() < 0.2 else "false",
                }
            )
    # Rows of one image need not be adjacent: upload-preds groups them.
    rng.shuffle(rows)
    return rows


def json_rows(rng: random.Random) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for i, s in enumerate(SAMPLES[:4]):
        dets = detections(rng, 2)
        if i < 2:
            annotations = [
                {
                    "id": k + 1,
                    "category_id": CATEGORY_IDS[d["category"]],
                    "type": "bbox",
                    "points": [d["bbox"][:2], d["bbox"][2:]],
                    "attributes": {"confidence": d["score"]},
                }
                for k, d in enumerate(dets)
            ]
            rows.append(
                {
                    "sample_uuid": s["uuid"],
                    "labelset": "predictions",
                    "score": 0.8,
                    "attributes": {"format_version": "0.1", "annotations": annotations},
                }
            )
        else:
            rows.append({"sample_name": s["name"], "labelset": "predictions", "annotations": dets})
    return rows


def main() -> None:
    rng = random.Random(20261127)
    with (HERE / "predictions.jsonl").open("w", encoding="utf-8") as f:
        for row in jsonl_rows(rng):
            f.write(json.dumps(row) + "\n")
    rows = csv_rows(rng)
    with (HERE / "predictions.csv").open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    (HERE / "predictions.json").write_text(
        json.dumps(json_rows(rng), indent=2) + "\n", encoding="utf-8"
    )
    (HERE / "categories.json").write_text(
        json.dumps(DATASET["task_attributes"], indent=2) + "\n", encoding="utf-8"
    )
    print("wrote predictions.jsonl, predictions.csv, predictions.json, categories.json")


if __name__ == "__main__":
    main()
