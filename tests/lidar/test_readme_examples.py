"""The README's examples of point-cloud vector, their sequences and multi-sensor
rows convert as shown, into labels the SDK's models accept (the docs cannot drift)."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
from lidarkit import categories_of, csv_label, ok, record, sdk_valid, sequence_label

from upload_preds.convert import Converter, ConvertOptions

README = Path(__file__).resolve().parents[2] / "README.md"
CATS = [
    {"id": 1, "name": "lane"},
    {"id": 2, "name": "crosswalk"},
    {"id": 3, "name": "pole"},
    {"id": 4, "name": "car"},
]
SENSORS = {
    "sensors": [
        {
            "name": "lidar",
            "task_type": "pointcloud-cuboid-sequence",
            "task_attributes": {"categories": [{"id": 1, "name": "car"}]},
        },
        {
            "name": "front-camera",
            "task_type": "image-vector-sequence",
            "task_attributes": {
                "categories": [{"id": 1, "name": "person"}, {"id": 2, "name": "car"}]
            },
        },
    ]
}


def _examples(title: str) -> list[tuple[str, str]]:
    text = README.read_text()
    start = text.index(title)
    end = text.index("\n### ", start + 1)
    return re.findall(r"```(json|csv)\n(.*?)```", text[start:end], re.S)


def _rows(kind: str, body: str) -> list[Any]:
    if kind == "csv":
        return [("csv", r) for r in csv.DictReader(io.StringIO(body))]
    dec = json.JSONDecoder()
    out, k, body = [], 0, body.strip()
    while k < len(body):
        obj, k = dec.raw_decode(body, k)
        out.append(obj)
        while k < len(body) and body[k].isspace():
            k += 1
    return out


@pytest.mark.parametrize(
    ("title", "task_type", "task_attributes"),
    [
        ("### Point-cloud vector shapes", "pointcloud-vector", {"categories": CATS}),
        ("### Point-cloud vector sequences", "pointcloud-vector-sequence", {"categories": CATS}),
        ("### Multi-sensor labels", "multisensor-sequence", SENSORS),
    ],
)
def test_readme_examples_convert(
    title: str, task_type: str, task_attributes: dict[str, Any]
) -> None:
    examples = _examples(title)
    assert {k for k, _ in examples} == {"json", "csv"}
    conv = Converter(ConvertOptions(), categories_of(task_type, task_attributes))
    for kind, body in examples:
        rows = _rows(kind, body)
        if task_type == "pointcloud-vector" and kind == "json":
            (row,) = rows
            job = ok(conv.convert(record(row)))
        elif task_type == "pointcloud-vector":
            lines = body.strip().splitlines()
            job = ok(csv_label(conv, lines[0], *lines[1:]))
        else:
            job = ok(sequence_label(conv, rows))
        sdk_valid(task_type, job.attributes)


@pytest.mark.parametrize(
    ("title", "sequence"),
    [
        ("### Point-cloud vector shapes", False),
        ("### Point-cloud vector sequences", True),
        ("### Multi-sensor labels", True),
    ],
)
def test_print_schema_documents_the_readme_rows(title: str, sequence: bool) -> None:
    """--print-schema's row models accept the README's rows (3-D points, sensor)."""
    from upload_preds.rowschema import ShorthandRow
    from upload_preds.seqschema import SequenceRow

    model = SequenceRow if sequence else ShorthandRow
    for kind, body in _examples(title):
        if kind == "json":
            for row in _rows(kind, body):
                model.model_validate(row, strict=False)
