"""The first pass collects a file's distinct sample names for the preflight's lookups, bounded."""

from __future__ import annotations

from pathlib import Path

import orjson

from upload_preds.convert import Converter, ConvertOptions
from upload_preds.pipeline import Preparer
from upload_preds.scan import MAX_LOOKUP_NAMES


def _names_file(path: Path, count: int) -> Path:
    with path.open("wb") as f:
        for i in range(count):
            row = {"sample_name": f"img_{i:07d}.jpg", "annotations": []}
            f.write(orjson.dumps(row) + b"\n")
    return path


def _scan(path: Path) -> tuple[int, bool]:
    with Preparer([str(path)], Converter(ConvertOptions(), None)) as prep:
        scan = prep.scan()
    return len(scan.names), scan.names_overflow


def test_a_few_names_are_collected_once_each(tmp_path: Path) -> None:
    path = _names_file(tmp_path / "few.jsonl", 50)
    # The same 50 names again: distinct names are what the lookups count.
    path.write_bytes(path.read_bytes() * 2)
    assert _scan(path) == (50, False)


def test_past_the_limit_no_names_are_held_and_the_preflight_pages(tmp_path: Path) -> None:
    path = _names_file(tmp_path / "many.jsonl", MAX_LOOKUP_NAMES + 1)
    assert _scan(path) == (0, True)
