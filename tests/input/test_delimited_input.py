"""CSV/TSV limits: over-long cells, unterminated quotes, multi-line records over the cap."""

from __future__ import annotations

from typing import Any

from inputkit import read_all, summarize

from upload_preds.readers import (
    MAX_CSV_FIELD_CHARS,
    MAX_CSV_RECORD_BYTES,
)
from upload_preds.records import Record, RowError


def test_csv_over_long_field(write: Any) -> None:
    big = "y" * (MAX_CSV_FIELD_CHARS + 1)
    path = write("p.csv", f"sample_uuid,note\na,{big}\nb,ok\n")
    items = read_all(path)
    assert [summarize(i) for i in items] == [
        ("E", 2, "field too long"),
        ("R", 3, {"sample_uuid": "b", "note": "ok"}),
    ]
    assert "a cell is longer than 1024 KiB" in str(items[0])


def test_csv_unterminated_quote_in_a_long_file_costs_one_record(write: Any) -> None:
    # The open quote swallows lines until the cell passes MAX_CSV_FIELD_CHARS;
    # the reader then reports it and re-reads every swallowed line as records.
    filler = "".join(f"s{i},{'z' * 90}\n" for i in range(MAX_CSV_FIELD_CHARS // 90 + 100))
    path = write("p.csv", 'sample_uuid,note\na,"open\n' + filler)
    items = read_all(path)
    assert summarize(items[0]) == ("E", 2, "unterminated quote")
    assert "its closing quote is probably missing" in str(items[0])
    records = items[1:]
    assert all(isinstance(r, Record) for r in records)
    assert len(records) == filler.count("\n")
    assert [r.loc.line for r in records[:2]] == [3, 4]
    assert records[-1].loc.line == 2 + filler.count("\n")


def test_csv_multiline_record_over_the_record_cap(write: Any) -> None:
    # Each quoted cell stays under the field cap, the record does not.
    cell = '"' + ("v" * 1000 + "\n") * (MAX_CSV_FIELD_CHARS // 2000) + '"'
    cells = MAX_CSV_RECORD_BYTES // (MAX_CSV_FIELD_CHARS // 2) + 2
    header = ",".join(f"c{i}" for i in range(cells))
    path = write("p.csv", header + "\n" + ",".join([cell] * cells) + "\n")
    items = read_all(path)
    assert summarize(items[0]) == ("E", 2, "unterminated quote")
    # The swallowed lines are read again (as broken rows of their own), in order.
    rest = items[1:]
    assert rest
    assert all(isinstance(i, RowError) for i in rest)
    assert [i.loc.line for i in rest] == sorted(i.loc.line for i in rest)
    assert rest[0].loc.line == 3
