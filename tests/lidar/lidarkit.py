"""Helpers of the point-cloud vector and multi-sensor tests (imported as ``lidarkit``).

The official ``segments-ai`` SDK is the referee: ``sdk_valid(task_type, label)``
(the conversion tests' ``sdk_check``) validates a label with the SDK's own model
for its task type and checks that the SDK's dump equals what we made (nothing
dropped, nothing added).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

# The conversion tests' own helpers (a row as a record, a label or its errors), shared.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "convert"))
from convkit import errs, ok, record
from convkit import sdk_check as sdk_valid

from upload_preds.convert import Converter, ConvertOptions
from upload_preds.convert.categories import Categories
from upload_preds.records import Location, Record, RowError

__all__ = [
    "PC_CATEGORIES",
    "categories_of",
    "converter",
    "csv_label",
    "errs",
    "offline_env",
    "ok",
    "record",
    "sdk_valid",
    "sequence_label",
]

#: The categories of the point cloud vector tests.
PC_CATEGORIES = [{"id": 1, "name": "car"}, {"id": 2, "name": "lane"}, {"id": 3, "name": "pole"}]


def converter(
    task_type: str, categories: list[dict[str, Any]] | None = None, **opts: Any
) -> Converter:
    task_attributes = {"categories": PC_CATEGORIES if categories is None else categories}
    cats = Categories.from_task_attributes(task_attributes, task_type)
    return Converter(ConvertOptions(**opts), cats)


def csv_label(conv: Converter, header: str, *lines: str, file: str = "preds.csv") -> Any:
    """CSV lines (after ``header``) of one label → its LabelJob or errors, as the
    pipeline's grouping would hand them over."""
    cols = header.split(",")
    items: list[tuple[Location, dict[str, Any]]] = []
    key = None
    for n, line in enumerate(lines, 2):
        cells = dict(zip(cols, _split(line), strict=True))
        part = conv.csv_part(Record(Location(file, n), "csv", cells))  # type: ignore[arg-type]
        if isinstance(part, RowError):
            return [part]
        key, payload = part
        items.append((Location(file, n), payload))
    assert key is not None
    return conv.convert_group(key, items)


def _split(line: str) -> list[str]:
    import csv

    return next(csv.reader([line]))


def write_text(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def offline_env() -> dict[str, str]:
    """The test process's environment without any ``SEGMENTS_*`` variable: no key, so
    the CLI converts offline."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEGMENTS_")}
    env.update(NO_COLOR="1", COLUMNS="200")
    return env


def sequence_label(
    conv: Converter, rows: list[Any], frames: Any = None, file: str = "preds.jsonl"
) -> Any:
    """Rows (JSON objects) or CSV records (``("csv", cells)``) of one sequence label →
    its LabelJob or one error per line, as the pipeline's grouping hands them over
    (line numbers are positions from 1, in the order given)."""
    items: list[tuple[Location, dict[str, Any]]] = []
    key = None
    for n, r in enumerate(rows, 1):
        loc = Location(file, n)
        if isinstance(r, tuple):
            fmt, cells = r
            rec = Record(loc, fmt, cells)  # type: ignore[arg-type]
            payload: dict[str, Any] = {"c": cells, "t": fmt}
        else:
            rec = Record(loc, "jsonl", r)  # type: ignore[arg-type]
            payload = {"r": r}
        k = conv.sequence_key(rec)
        assert isinstance(k, str), k
        assert key is None or k == key, (key, k)
        key = k
        items.append((loc, payload))
    assert key is not None
    return conv.convert_sequence(key, items, frames)


def categories_of(task_type: str, task_attributes: dict[str, Any]) -> Categories:
    return Categories.from_task_attributes(task_attributes, task_type)
