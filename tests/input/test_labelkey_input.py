"""One identity per label: ``LabelKey`` from a JSON row, CSV cells, a group key or a job.

The duplicate search compares keys made in different places (the row scan,
the converted job of the one-pass dry run, the CSV grouper's key): they must
agree for every spelling of one label and differ between labels. Each case is
checked against the converter itself, so a change in what it accepts as a
sample reference shows up here.
"""

from __future__ import annotations

from typing import Any

import pytest

from upload_preds.convert import Converter, ConvertOptions
from upload_preds.convert.categories import Categories
from upload_preds.labelkey import LabelKey, job_hash, resolved_group
from upload_preds.records import LabelJob, Location, Record, RowError

CATS = Categories([(1, "car"), (2, "truck")])
DEFAULT = "ground-truth"


def converter() -> Converter:
    return Converter(ConvertOptions(default_labelset=DEFAULT), CATS)


# (id, JSON row's sample fields, expected key or None)
ROWS: list[tuple[str, dict[str, Any], LabelKey | None]] = [
    ("uuid", {"sample_uuid": "u1"}, LabelKey(DEFAULT, "uuid", "u1")),
    ("name-stripped", {"sample_name": "  a.jpg "}, LabelKey(DEFAULT, "name", "a.jpg")),
    ("labelset", {"sample_uuid": "u1", "labelset": "preds"}, LabelKey("preds", "uuid", "u1")),
    ("null-labelset", {"sample_uuid": "u1", "labelset": None}, LabelKey(DEFAULT, "uuid", "u1")),
    ("no-sample", {"labelset": "preds"}, None),
    ("labelset-not-text", {"sample_uuid": "u1", "labelset": 3}, None),
]


@pytest.mark.parametrize(("fields", "expected"), [c[1:] for c in ROWS], ids=[c[0] for c in ROWS])
def test_row_keys_agree_with_the_converted_job(
    fields: dict[str, Any], expected: LabelKey | None
) -> None:
    key = LabelKey.of_row(fields, DEFAULT)
    assert key == expected
    row = {**fields, "annotations": [{"category": "car", "bbox": [0, 0, 1, 1]}]}
    job = converter().plan(Record(Location("p.jsonl", 1), "jsonl", row))
    if key is None:
        assert not isinstance(job, LabelJob)
        return
    assert isinstance(job, LabelJob), job
    assert job_hash(job) == key.hash


def test_names_and_uuids_of_the_same_text_are_different_labels() -> None:
    by_uuid = LabelKey.of_row({"sample_uuid": "x"}, DEFAULT)
    by_name = LabelKey.of_row({"sample_name": "x"}, DEFAULT)
    assert by_uuid is not None
    assert by_name is not None
    assert by_uuid.text != by_name.text
    assert by_uuid.hash != by_name.hash


# (id, CSV cells, expected key or None)
CELLS: list[tuple[str, dict[str, str], LabelKey | None]] = [
    ("uuid", {"sample_uuid": " u1 "}, LabelKey(DEFAULT, "uuid", "u1")),
    ("name", {"sample_name": " a.jpg"}, LabelKey(DEFAULT, "name", "a.jpg")),
    ("labelset", {"sample_name": "a", "labelset": " preds "}, LabelKey("preds", "name", "a")),
    ("both", {"sample_uuid": "u1", "sample_name": "a"}, None),
    ("neither", {"category": "car"}, None),
    ("slash-in-name", {"sample_name": "a/b"}, None),
    ("slash-in-labelset", {"sample_uuid": "u1", "labelset": "a/b"}, None),
]


@pytest.mark.parametrize(("cells", "expected"), [c[1:] for c in CELLS], ids=[c[0] for c in CELLS])
def test_cell_keys_agree_with_the_converters_groups(
    cells: dict[str, str], expected: LabelKey | None
) -> None:
    """A record has a key exactly when the converter gives it a group, and the
    group's key names the same label (the grouper's key is what CSV labels carry)."""
    key = LabelKey.of_cells(cells, DEFAULT)
    assert key == expected
    record = {**cells, "category": "car", "x0": "0", "y0": "0", "x1": "1", "y1": "1"}
    part = converter().csv_part(Record(Location("p.csv", 2), "csv", record))
    if key is None:
        assert isinstance(part, RowError)
        return
    assert not isinstance(part, RowError), part
    assert LabelKey.of_group(part[0]) == key
    # The same label written as a JSON row has the same identity.
    row_key = LabelKey.of_row({k: v.strip() for k, v in cells.items()}, DEFAULT)
    assert row_key is not None
    assert (row_key.text, row_key.hash) == (key.text, key.hash)


@pytest.mark.parametrize(
    "group",
    [
        '["ground-truth","n","a.jpg"]',
        '["ground-truth","n","  a.jpg "]',
        '["preds","n","b \\"q\\".jpg"]',
        '["ground-truth","n","unknown.jpg"]',
        '["ground-truth","u","u1"]',
        '["ls,\\"n\\",x","n","a.jpg"]',
        '["ground-truth","n","\u00e9t\u00e9.jpg"]',
    ],
)
@pytest.mark.parametrize("online", [True, False])
def test_resolved_group_is_the_keys_resolved_group(group: str, online: bool) -> None:
    """The per-line fast way gives exactly the key the LabelKey way gives."""
    names = {"a.jpg": "uuid-a", 'b "q".jpg': "uuid-b", "\u00e9t\u00e9.jpg": "uuid-e"}
    resolve = names.get if online else None
    assert resolved_group(group, resolve) == LabelKey.of_group(group).resolved(resolve).group
