"""Helpers of the input-layer tests (imported by the test modules as ``inputkit``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from upload_preds.convert.categories import Categories
from upload_preds.readers import open_sources, read_records
from upload_preds.records import Notice, Record, RowError

DATA = Path(__file__).parent / "data"
BOM = "\ufeff"

# The demo dataset (sample_data/), for the tests that upload to a sandbox seeded with it.
ROOT = Path(__file__).resolve().parents[2]
CATEGORIES_FILE = ROOT / "sample_data" / "categories.json"
DEMO = json.loads((ROOT / "sample_data" / "dataset.json").read_text())["datasets"][0]
DATASET = f"{DEMO['owner']}/{DEMO['name']}"
UUIDS = {s["name"]: s["uuid"] for s in DEMO["samples"]}
CATEGORY_IDS = {
    name: cid for cid, name in Categories.from_file(CATEGORIES_FILE).names_by_id().items()
}

Item = Record | RowError | Notice


def summarize(item: Item) -> tuple[Any, ...]:
    """A comparable tuple: ("R", line, data) / ("E", line, reason) / ("N", line)."""
    if isinstance(item, Record):
        return ("R", item.loc.line, item.data)
    if isinstance(item, RowError):
        return ("E", item.loc.line, item.reason)
    return ("N", item.loc.line)


def read_all(*paths: str | Path, fmt: Any = None) -> list[Item]:
    return list(read_records(open_sources([str(p) for p in paths], fmt)))


def put_file(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` and return the path."""
    path.write_bytes(data)
    return path


def nested_arrays(levels: int) -> str:
    """JSON text of ``levels`` arrays, one inside the other."""
    return "[" * levels + "]" * levels


def nested_objects(levels: int) -> str:
    """JSON text of ``levels`` objects, one inside the other (``{"a": {"a": ... 1}}``)."""
    return '{"a":' * levels + "1" + "}" * levels
