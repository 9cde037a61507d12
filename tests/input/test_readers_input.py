"""Reading prediction files: formats, detection, locations, and every kind of bad input."""

from __future__ import annotations

import gzip
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from inputkit import DATA, read_all, summarize

from upload_preds.errors import InputFileError
from upload_preds.readers import (
    MAX_CSV_FIELD_CHARS,
    MAX_CSV_RECORD_BYTES,
    MAX_LINE_BYTES,
    count_records,
    open_sources,
    read_records,
)
from upload_preds.records import STDIN_NAME, Notice, Record, RowError

BOM = "\ufeff"

# (id, file name, content, expected summaries)
GOOD_CASES: list[tuple[str, str, str, list[tuple[Any, ...]]]] = [
    (
        "jsonl",
        "p.jsonl",
        '{"sample_uuid": "a"}\n{"sample_uuid": "b", "score": 0.5}\n',
        [("R", 1, {"sample_uuid": "a"}), ("R", 2, {"sample_uuid": "b", "score": 0.5})],
    ),
    (
        "ndjson-crlf",
        "p.ndjson",
        '{"sample_uuid": "a"}\r\n{"sample_uuid": "b"}\r\n',
        [("R", 1, {"sample_uuid": "a"}), ("R", 2, {"sample_uuid": "b"})],
    ),
    (
        "jsonl-bom-no-final-newline",
        "p.jsonl",
        BOM + '{"sample_uuid": "a"}\n{"sample_uuid": "b"}',
        [("R", 1, {"sample_uuid": "a"}), ("R", 2, {"sample_uuid": "b"})],
    ),
    (
        "json-array-element-lines",
        "p.json",
        '[\n  {"sample_uuid": "a",\n   "annotations": [\n  ]},\n\n  {"sample_uuid": "b"}, {"sample_uuid": "c"}\n]\n',
        [
            ("R", 2, {"sample_uuid": "a", "annotations": []}),
            ("R", 6, {"sample_uuid": "b"}),
            ("R", 6, {"sample_uuid": "c"}),
        ],
    ),
    (
        "json-object-holding-array",
        "p.json",
        '{"version": 1,\n "predictions": [\n  {"sample_uuid": "a"},\n  {"sample_uuid": "b"}\n ]\n}\n',
        [("N", 1), ("R", 3, {"sample_uuid": "a"}), ("R", 4, {"sample_uuid": "b"})],
    ),
    (
        "json-single-row-object",
        "p.json",
        '{\n  "sample_uuid": "a",\n  "annotations": [{"category": "car"}]\n}\n',
        [("R", 1, {"sample_uuid": "a", "annotations": [{"category": "car"}]})],
    ),
    (
        "json-single-line-object",
        "p.json",
        '{"sample_name": "x", "annotations": []}\n',
        [("R", 1, {"sample_name": "x", "annotations": []})],
    ),
    (
        "json-file-holding-jsonl",
        "p.json",
        '{"sample_uuid": "a"}\n{"sample_uuid": "b"}\n',
        [("R", 1, {"sample_uuid": "a"}), ("R", 2, {"sample_uuid": "b"})],
    ),
    (
        "json-bom",
        "p.json",
        BOM + '[{"sample_uuid": "a"}]',
        [("R", 1, {"sample_uuid": "a"})],
    ),
    (
        "csv-empty-cells-omitted",
        "p.csv",
        "sample_uuid,category,score\na,car,0.9\nb,,\n",
        [
            ("R", 2, {"sample_uuid": "a", "category": "car", "score": "0.9"}),
            ("R", 3, {"sample_uuid": "b"}),
        ],
    ),
    (
        "csv-bom",
        "p.csv",
        BOM + "sample_uuid,category\na,car\n",
        [("R", 2, {"sample_uuid": "a", "category": "car"})],
    ),
    (
        "csv-crlf-and-quotes",
        "p.csv",
        'sample_uuid,category,points\r\na,"car, red","[[1,2],[3,4]]"\r\n',
        [("R", 2, {"sample_uuid": "a", "category": "car, red", "points": "[[1,2],[3,4]]"})],
    ),
    (
        "csv-multiline-quoted-record-lines",
        "p.csv",
        'sample_uuid,note\na,"one\ntwo\nthree"\nb,plain\nc,"x\r\ny"\n',
        [
            ("R", 2, {"sample_uuid": "a", "note": "one\ntwo\nthree"}),
            ("R", 5, {"sample_uuid": "b", "note": "plain"}),
            ("R", 6, {"sample_uuid": "c", "note": "x\r\ny"}),
        ],
    ),
    (
        "tsv",
        "p.tsv",
        "sample_uuid\tcategory\tx0\na\tcar, red\t1.5\n",
        [("R", 2, {"sample_uuid": "a", "category": "car, red", "x0": "1.5"})],
    ),
    (
        "tsv-bom",
        "p.tsv",
        BOM + "sample_uuid\tcategory\na\tbus\n",
        [("R", 2, {"sample_uuid": "a", "category": "bus"})],
    ),
    (
        "jsonl-error-key-dropped",
        "p.jsonl",
        '{"sample_uuid": "a", "_error": "line 3: unknown category"}\n',
        [("R", 1, {"sample_uuid": "a"})],
    ),
    (
        "json-error-key-dropped",
        "p.json",
        '[{"sample_uuid": "a", "_error": "x"}]',
        [("R", 1, {"sample_uuid": "a"})],
    ),
    (
        "csv-error-column-dropped",
        "p.csv",
        "sample_uuid,category,_error\na,car,bad bbox\n",
        [("R", 2, {"sample_uuid": "a", "category": "car"})],
    ),
    (
        "csv-blank-lines-are-notices",
        "p.csv",
        "sample_uuid,category\n\na,car\n   \n",
        [("N", 2), ("R", 3, {"sample_uuid": "a", "category": "car"}), ("N", 4)],
    ),
    (
        "unicode-cells",
        "p.csv",
        "sample_name,category\nstraße-ü,自転車\n",
        [("R", 2, {"sample_name": "straße-ü", "category": "自転車"})],
    ),
]


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [c[1:] for c in GOOD_CASES],
    ids=[c[0] for c in GOOD_CASES],
)
def test_reads_every_format(
    write: Any, name: str, content: str, expected: list[tuple[Any, ...]], gz: bool
) -> None:
    path = write(name, content, gz=gz)
    items = read_all(path)
    assert [summarize(i) for i in items] == expected
    assert all(i.loc.file == str(path) for i in items)


@pytest.mark.parametrize(
    ("file", "fmt", "count"),
    [
        ("rows.jsonl", "jsonl", 2),
        ("rows.json", "json", 2),
        ("rows.csv", "csv", 2),
        ("rows.tsv", "tsv", 1),
    ],
    ids=["jsonl", "json", "csv", "tsv"],
)
def test_sample_files_in_data_dir(file: str, fmt: str, count: int) -> None:
    (source,) = open_sources([str(DATA / file)])
    assert source.fmt == fmt
    records = [i for i in read_records([source]) if isinstance(i, Record)]
    assert len(records) == count
    assert all(r.fmt == fmt for r in records)


# (id, file name, content, forced format, gzip, expected format)
DETECT_CASES: list[tuple[str, str, str, Any, bool, str]] = [
    ("ext-jsonl", "a.jsonl", "[1]\n", None, False, "jsonl"),
    ("ext-ndjson-gz", "a.ndjson", '{"a": 1}\n', None, True, "jsonl"),
    ("ext-json-array", "a.json", '[{"a": 1}]', None, False, "json"),
    ("ext-json-holding-jsonl", "a.json", '{"a": 1}\n{"a": 2}\n', None, False, "jsonl"),
    ("ext-json-pretty-object", "a.json", '{\n "a": 1\n}\n', None, False, "json"),
    ("ext-csv-uppercase", "A.CSV", "a\tb\n1\t2\n", None, False, "csv"),
    ("ext-tsv-gz", "a.tsv", "a,b\n", None, True, "tsv"),
    ("sniff-array", "a.txt", '  [{"a": 1}]', None, False, "json"),
    ("sniff-jsonl", "a.txt", '{"a": 1}\n\n{"a": 2}\n', None, False, "jsonl"),
    ("sniff-single-object", "a.txt", '{"a": 1}\n\n', None, False, "json"),
    ("sniff-pretty-object", "a.data", '\n{\n  "a": [1, 2]\n}', None, False, "json"),
    ("sniff-csv", "a.txt", "sample_uuid,category\nx,y\n", None, False, "csv"),
    ("sniff-tsv", "noext", "sample_uuid\tcategory\tnote\nx\ty\ta, b\n", None, False, "tsv"),
    ("sniff-gzip-magic-without-gz-name", "a.bin", '{"a": 1}\n{"a": 2}\n', None, True, "jsonl"),
    ("forced-jsonl", "a.csv", '{"a": 1}\n', "jsonl", False, "jsonl"),
    ("forced-csv", "a.json", "a,b\n", "csv", False, "csv"),
]


@pytest.mark.parametrize(
    ("name", "content", "fmt", "gz", "expected"),
    [c[1:] for c in DETECT_CASES],
    ids=[c[0] for c in DETECT_CASES],
)
def test_format_detection(
    tmp_path: Path, name: str, content: str, fmt: Any, gz: bool, expected: str
) -> None:
    path = tmp_path / name
    data = content.encode()
    path.write_bytes(gzip.compress(data) if gz else data)
    (source,) = open_sources([str(path)], fmt)
    assert (source.fmt, source.gzip, source.name, source.path) == (
        expected,
        gz,
        str(path),
        str(path),
    )


def _chmod_unreadable(path: Path) -> Path:
    path.chmod(0)
    return path


# (id, how to make the path, message fragment, hint fragment)
OPEN_ERRORS: list[tuple[str, Any, str, str]] = [
    ("missing", lambda d: d / "nope.jsonl", "no such file", "check the path"),
    ("directory", lambda d: d, "is a directory", "pass the files inside it"),
    ("empty", lambda d: _put(d / "e.jsonl", b""), "is empty", "holds predictions"),
    ("blank-only", lambda d: _put(d / "b.csv", b"\n \n\t\n"), "holds only blank lines", ""),
    (
        "gz-name-not-gzip",
        lambda d: _put(d / "a.jsonl.gz", b'{"a": 1}\n'),
        "is named .gz but is not gzip-compressed",
        "rename it without .gz",
    ),
    (
        "gzip-of-nothing",
        lambda d: _put(d / "a.jsonl.gz", gzip.compress(b"")),
        "is empty after decompression",
        "",
    ),
    (
        "gzip-corrupt-header",
        lambda d: _put(d / "a.jsonl.gz", b"\x1f\x8b\x08\xff" + b"\x00" * 40),
        "is not a valid gzip file",
        "gzip -t",
    ),
    (
        "undetectable",
        lambda d: _put(d / "a.txt", b"hello world\nmore\n"),
        "cannot tell its format",
        "--format jsonl|json|csv|tsv",
    ),
    (
        "binary",
        lambda d: _put(d / "a.dat", b"PK\x03\x04\x00\x00,\x00"),
        "looks binary",
        "--format",
    ),
    (
        "csv-duplicate-column",
        lambda d: _put(d / "a.csv", b"sample_uuid,category,category\n"),
        ":1: the header names column 'category' twice",
        "distinct name",
    ),
    (
        "csv-empty-column-name",
        lambda d: _put(d / "a.csv", b"sample_uuid,,category\nx,y,z\n"),
        ":1: the header has an empty column name (column 2 of 3)",
        "name every column",
    ),
    (
        "csv-no-header",
        lambda d: _put(d / "a.csv", b"6f1c0e3e-1d1c-4a8e-9a47-7f0f1d2b3c4d,car,1,2,3,4\n"),
        ":1: has no header",
        "add a first line naming the columns",
    ),
    (
        "tsv-duplicate-column-after-blank-line",
        lambda d: _put(d / "a.tsv", b"\nx\tx\n"),
        ":2: the header names column 'x' twice",
        "",
    ),
]


def _put(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    ("make", "message", "hint"), [c[1:] for c in OPEN_ERRORS], ids=[c[0] for c in OPEN_ERRORS]
)
def test_open_errors_name_the_file_and_what_to_do(
    tmp_path: Path, make: Any, message: str, hint: str
) -> None:
    path = make(tmp_path)
    with pytest.raises(InputFileError) as info:
        open_sources([str(path)])
    assert str(info.value).startswith(str(path))
    assert message in str(info.value)
    assert hint in (info.value.hint or "")


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read files without permission")
def test_unreadable_file(tmp_path: Path) -> None:
    path = _chmod_unreadable(_put(tmp_path / "a.jsonl", b"{}\n"))
    with pytest.raises(InputFileError, match="permission denied"):
        open_sources([str(path)])


def test_open_checks_every_file_before_reading_any(tmp_path: Path) -> None:
    good = _put(tmp_path / "a.jsonl", b'{"a": 1}\n')
    with pytest.raises(InputFileError, match=r"missing\.csv: no such file"):
        open_sources([str(good), str(tmp_path / "missing.csv")])


def test_header_problem_behind_a_quoted_newline_is_found_while_reading(write: Any) -> None:
    # The header spans two lines, so the cheap check at open time cannot parse it.
    path = write("a.csv", 'sample_uuid,"cat\negory",sample_uuid\nx,y,z\n')
    (source,) = open_sources([str(path)])
    with pytest.raises(
        InputFileError, match=r"a\.csv:1: the header names column 'sample_uuid' twice"
    ):
        list(read_records([source]))


def test_csv_without_header_after_blank_lines_only_raises(tmp_path: Path) -> None:
    # Reached only through an explicit format: sniffing already refuses blank files.
    path = _put(tmp_path / "a.csv", b"\n\n")
    with pytest.raises(InputFileError, match="holds only blank lines"):
        open_sources([str(path)], "csv")


# (id, file name, content, expected summaries, (line, message fragment) of the first error)
ERROR_CASES: list[tuple[str, str, bytes, list[tuple[Any, ...]], tuple[int, str]]] = [
    (
        "jsonl-invalid-json-mid-file",
        "p.jsonl",
        b'{"a": 1}\n{"a": 2,, "b": 3}\n{"a": 3}\n',
        [("R", 1, {"a": 1}), ("E", 2, "invalid JSON"), ("R", 3, {"a": 3})],
        (2, "invalid JSON at column 9 (near ', \"b\": 3}')"),
    ),
    (
        "jsonl-truncated-object",
        "p.jsonl",
        b'{"a": 1\n{"a": 3}\n',
        [("E", 1, "invalid JSON"), ("R", 2, {"a": 3})],
        (1, "invalid JSON at the end of the line: unexpected end of data"),
    ),
    (
        "jsonl-not-an-object",
        "p.jsonl",
        b'[1, 2]\n"text"\n7\nnull\n{"a": 1}\n',
        [
            ("E", 1, "not an object"),
            ("E", 2, "not an object"),
            ("E", 3, "not an object"),
            ("E", 4, "not an object"),
            ("R", 5, {"a": 1}),
        ],
        (1, "expected a JSON object for the row, got an array"),
    ),
    (
        "jsonl-undecodable-byte",
        "p.jsonl",
        b'{"a": "ok"}\n{"a": "caf\xe9"}\n{"a": 2}\n',
        [("R", 1, {"a": "ok"}), ("E", 2, "undecodable byte"), ("R", 3, {"a": 2})],
        (2, "byte 0xe9 at column 11 is not UTF-8; save the file as UTF-8"),
    ),
    (
        "jsonl-blank-lines",
        "p.jsonl",
        b'\n{"a": 1}\n   \r\n{"a": 2}\n',
        [("N", 1), ("R", 2, {"a": 1}), ("N", 3), ("R", 4, {"a": 2})],
        (0, ""),
    ),
    (
        "jsonl-nan-is-invalid",
        "p.jsonl",
        b'{"a": NaN}\n',
        [("E", 1, "invalid JSON")],
        (1, "column 7"),
    ),
    (
        "csv-ragged-rows",
        "p.csv",
        b"sample_uuid,category,x0\na,car,1\nb,car\nc,car,1,2\nd,bus,3\n",
        [
            ("R", 2, {"sample_uuid": "a", "category": "car", "x0": "1"}),
            ("E", 3, "ragged row"),
            ("E", 4, "ragged row"),
            ("R", 5, {"sample_uuid": "d", "category": "bus", "x0": "3"}),
        ],
        (3, "2 fields where the header has 3; quote cells that contain commas"),
    ),
    (
        "csv-unterminated-quote-mid-file",
        "p.csv",
        b'sample_uuid,note\na,ok\nb,"never closed\nc,fine\nd,"multi\nline"\n',
        [
            ("R", 2, {"sample_uuid": "a", "note": "ok"}),
            ("E", 3, "unterminated quote"),
            ("R", 4, {"sample_uuid": "c", "note": "fine"}),
            ("R", 5, {"sample_uuid": "d", "note": "multi\nline"}),
        ],
        (
            3,
            "a quoted cell that starts here runs on over 3 lines: its closing quote is probably missing",
        ),
    ),
    (
        "csv-unterminated-quote-at-end",
        "p.csv",
        b'sample_uuid,note\na,ok\nb,"never closed\nc,fine\n',
        [
            ("R", 2, {"sample_uuid": "a", "note": "ok"}),
            ("E", 3, "unterminated quote"),
            ("R", 4, {"sample_uuid": "c", "note": "fine"}),
        ],
        (3, "a quoted cell that starts here is never closed"),
    ),
    (
        "csv-text-after-closing-quote",
        "p.csv",
        b'sample_uuid,note\na,"x"y\nb,ok\n',
        [("E", 2, "invalid quoting"), ("R", 3, {"sample_uuid": "b", "note": "ok"})],
        (2, "text follows a closing quote"),
    ),
    (
        "csv-undecodable-byte",
        "p.csv",
        b"sample_uuid,category\na,caf\xe9\nb,bus\n",
        [("E", 2, "undecodable byte"), ("R", 3, {"sample_uuid": "b", "category": "bus"})],
        (2, "byte 0xe9 at column 6 is not UTF-8"),
    ),
    (
        "csv-undecodable-byte-inside-multiline-record",
        "p.csv",
        b'sample_uuid,note\na,"one\ntw\xff"\nb,bus\n',
        [("E", 2, "undecodable byte"), ("R", 4, {"sample_uuid": "b", "note": "bus"})],
        (2, "byte 0xff at column 3 is not UTF-8"),
    ),
    (
        "tsv-ragged",
        "p.tsv",
        b"sample_uuid\tcategory\na\tcar\tx\n",
        [("E", 2, "ragged row")],
        (2, "3 fields where the header has 2; quote cells that contain tabs"),
    ),
    (
        "json-syntax-error-mid-array",
        "p.json",
        b'[\n {"a": 1},\n {"a": 2},\n {"a": 3 "b": 4},\n {"a": 5}\n]\n',
        [("R", 2, {"a": 1}), ("R", 3, {"a": 2}), ("E", 4, "invalid JSON")],
        (
            4,
            "invalid JSON at column 10: Expecting ',' delimiter; the rest of the file was not read",
        ),
    ),
    (
        "json-syntax-error-inside-wrapper",
        "p.json",
        b'{"predictions": [\n {"sample_uuid": "a"},\n {"sample_uuid": }\n]}\n',
        [("R", 2, {"sample_uuid": "a"}), ("E", 3, "invalid JSON")],
        (3, "column 18"),
    ),
    (
        "json-non-object-elements",
        "p.json",
        b'[{"a": 1},\n 2,\n [3],\n {"a": 4}]',
        [
            ("R", 1, {"a": 1}),
            ("E", 2, "not an object"),
            ("E", 3, "not an object"),
            ("R", 4, {"a": 4}),
        ],
        (2, "got a number"),
    ),
    (
        "json-undecodable-byte-in-one-element",
        "p.json",
        b'[{"a": 1},\n {"a": "\xff"},\n {"a": 3}]',
        [("R", 1, {"a": 1}), ("E", 2, "undecodable byte"), ("R", 3, {"a": 3})],
        (2, "byte 0xff at line 2 column 9 is not UTF-8"),
    ),
    (
        "json-trailing-garbage",
        "p.json",
        b'[{"a": 1}]\n]\n',
        [("R", 1, {"a": 1}), ("E", 2, "invalid JSON")],
        (2, "unexpected content after the JSON document"),
    ),
    (
        "json-infinity-rejected",
        "p.json",
        b'[{"a": 1}, {"a": Infinity}]',
        [("R", 1, {"a": 1}), ("E", 1, "invalid JSON")],
        (1, "Infinity is not valid JSON"),
    ),
    (
        "json-top-level-scalar",
        "p.json",
        b"[1]",
        [("E", 1, "not an object")],
        (1, "got a number"),
    ),
    (
        "json-broken-first-line-suggests-jsonl",
        "p.json",
        b'{"a": 1,,}\n{"a": 2}\n',
        [("E", 1, "invalid JSON")],
        (1, "use --format jsonl"),
    ),
]


@pytest.mark.parametrize(
    ("name", "content", "expected", "first_error"),
    [c[1:] for c in ERROR_CASES],
    ids=[c[0] for c in ERROR_CASES],
)
def test_bad_records_are_reported_and_reading_goes_on(
    write: Any,
    name: str,
    content: bytes,
    expected: list[tuple[Any, ...]],
    first_error: tuple[int, str],
) -> None:
    path = write(name, content)
    items = read_all(path)
    assert [summarize(i) for i in items] == expected
    errors = [i for i in items if isinstance(i, RowError)]
    if errors:
        line, fragment = first_error
        assert str(errors[0]).startswith(f"{path}:{line}: ")
        assert fragment in errors[0].message
    for notice in (i for i in items if isinstance(i, Notice)):
        assert notice.message == "blank line skipped"


def test_jsonl_over_long_line_is_skipped(write: Any) -> None:
    long_value = "x" * (MAX_LINE_BYTES + 10)
    path = write("p.jsonl", f'{{"a": 1}}\n{{"a": "{long_value}"}}\n{{"a": 3}}\n')
    items = read_all(path)
    assert [summarize(i) for i in items] == [
        ("R", 1, {"a": 1}),
        ("E", 2, "line too long"),
        ("R", 3, {"a": 3}),
    ]
    assert "longer than 16 MiB" in str(items[1])


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


@pytest.mark.parametrize(
    ("name", "lines", "tail"),
    [
        ("p.jsonl", [b'{"n": %d, "pad": "%s"}\n' % (i, b"q" * 50) for i in range(4000)], b""),
        ("p.csv", [b"n,pad\n"] + [b"%d,%s\n" % (i, b"q" * 50) for i in range(4000)], b""),
    ],
    ids=["jsonl", "csv"],
)
def test_truncated_gzip_reports_where_it_broke(
    tmp_path: Path, name: str, lines: list[bytes], tail: bytes
) -> None:
    full = gzip.compress(b"".join(lines) + tail)
    path = _put(tmp_path / (name + ".gz"), full[: len(full) // 2])
    items = read_all(path)
    good = [i for i in items if isinstance(i, Record)]
    errors = [i for i in items if isinstance(i, RowError)]
    assert len(errors) == 1
    assert items[-1] is errors[0]
    assert errors[0].reason == "unreadable data"
    assert "truncated or corrupt" in errors[0].message
    assert 0 < len(good) < 4000
    # The error sits right after the last whole line that could be read.
    assert errors[0].loc.line == good[-1].loc.line + 1
    assert [r.loc.line for r in good] == list(range(good[0].loc.line, good[-1].loc.line + 1))


def test_truncated_gzip_json_document(tmp_path: Path) -> None:
    doc = json.dumps([{"n": i} for i in range(3000)], indent=1).encode()
    full = gzip.compress(doc)
    path = _put(tmp_path / "p.json.gz", full[: len(full) // 2])
    items = read_all(path)
    assert isinstance(items[-1], RowError)
    assert items[-1].reason == "unreadable data"
    good = [i for i in items if isinstance(i, Record)]
    assert good
    assert [r.data["n"] for r in good] == list(range(len(good)))
    assert good[1].loc.line == 5  # "[", "{", '"n": 0', "}," then the second element


def test_several_files_in_order(write: Any) -> None:
    a = write("a.jsonl", '{"n": 1}\n')
    b = write("b.csv", "n\n2\n")
    c = write("c.json", '[{"n": 3}]')
    items = read_all(a, b, c)
    assert [(i.loc.file, i.loc.line, i.data["n"]) for i in items if isinstance(i, Record)] == [
        (str(a), 1, 1),
        (str(b), 2, "2"),
        (str(c), 1, 3),
    ]


# (id, stdin bytes, forced format, expected format, expected summaries)
STDIN_CASES: list[tuple[str, bytes, Any, str, list[tuple[Any, ...]]]] = [
    ("jsonl", b'{"a": 1}\n{"a": 2}\n', None, "jsonl", [("R", 1, {"a": 1}), ("R", 2, {"a": 2})]),
    ("json", b'[{"a": 1}]', None, "json", [("R", 1, {"a": 1})]),
    ("csv-bom", (BOM + "a,b\n1,2\n").encode(), None, "csv", [("R", 2, {"a": "1", "b": "2"})]),
    ("tsv", b"a\tb\n1\t2\n", None, "tsv", [("R", 2, {"a": "1", "b": "2"})]),
    (
        "gzip-jsonl",
        gzip.compress(b'{"a": 1}\n{"a": 2}\n'),
        None,
        "jsonl",
        [("R", 1, {"a": 1}), ("R", 2, {"a": 2})],
    ),
    ("forced-jsonl", b'{"a": 1}\n', "jsonl", "jsonl", [("R", 1, {"a": 1})]),
    (
        "long-first-line",
        b'{"a": "' + b"w" * 200_000 + b'"}\n{"a": 2}\n',
        None,
        "jsonl",
        [("R", 1, {"a": "w" * 200_000}), ("R", 2, {"a": 2})],
    ),
]


@pytest.mark.parametrize(
    ("data", "fmt", "expected_fmt", "expected"),
    [c[1:] for c in STDIN_CASES],
    ids=[c[0] for c in STDIN_CASES],
)
def test_stdin(data: bytes, fmt: Any, expected_fmt: str, expected: list[tuple[Any, ...]]) -> None:
    (source,) = open_sources(["-"], fmt, stdin=io.BytesIO(data))
    assert (source.name, source.path, source.fmt) == (STDIN_NAME, None, expected_fmt)
    items = list(read_records([source]))
    assert [summarize(i) for i in items] == expected
    assert all(i.loc.file == STDIN_NAME for i in items)
    with pytest.raises(InputFileError, match="stdin can only be read once"):
        list(read_records([source]))


def test_stdin_errors() -> None:
    with pytest.raises(InputFileError, match="<stdin>: is empty"):
        open_sources(["-"], stdin=io.BytesIO(b""))
    with pytest.raises(InputFileError, match="given more than once"):
        open_sources(["-", "-"], stdin=io.BytesIO(b"{}\n"))


def test_stdin_through_a_real_pipe(tmp_path: Path) -> None:
    script = (
        "import sys\n"
        "from upload_preds.readers import open_sources, read_records\n"
        "for item in read_records(open_sources(['-'])):\n"
        "    print(item.loc, type(item).__name__)\n"
    )
    data = b"sample_uuid,category\n" + b"".join(b"s%d,car\n" % i for i in range(50_000))
    proc = subprocess.run(
        [sys.executable, "-c", script], input=gzip.compress(data), capture_output=True, check=True
    )
    lines = proc.stdout.decode().splitlines()
    assert len(lines) == 50_000
    assert lines[0] == "<stdin>:2 Record"
    assert lines[-1] == "<stdin>:50001 Record"


# (id, file name, content, gzip, expected count)
COUNT_CASES: list[tuple[str, str, bytes, bool, int | None]] = [
    ("jsonl", "a.jsonl", b'{"a":1}\n\n{"a":2}\n  \n{"a":3}', False, 3),
    ("jsonl-crlf-blank", "a.jsonl", b'{"a":1}\r\n\r\n{"a":2}\r\n', False, 2),
    ("csv", "a.csv", b"h\n1\n2\n\n", False, 2),
    ("gzip", "a.jsonl", b'{"a":1}\n', True, None),
    ("json", "a.json", b'[{"a":1}]', False, None),
]


@pytest.mark.parametrize(
    ("name", "content", "gz", "expected"),
    [c[1:] for c in COUNT_CASES],
    ids=[c[0] for c in COUNT_CASES],
)
def test_count_records(
    write: Any, name: str, content: bytes, gz: bool, expected: int | None
) -> None:
    (source,) = open_sources([str(write(name, content, gz=gz))])
    assert count_records(source) == expected
    if expected is not None and source.fmt == "jsonl":
        assert expected == sum(isinstance(i, Record) for i in read_records([source]))


def test_count_records_large_jsonl_matches_reading(write: Any) -> None:
    body = b"".join(b'{"n": %d}\n%s' % (i, b"\n" if i % 7 == 0 else b"") for i in range(300_000))
    (source,) = open_sources([str(write("big.jsonl", body))])
    assert count_records(source) == 300_000
    (stdin_source,) = open_sources(["-"], stdin=io.BytesIO(body))
    assert count_records(stdin_source) is None


# ---- raw bytes of records that could not be parsed (issue 11: failures file keeps them)

RAW_CASES: list[tuple[str, str, bytes, list[tuple[int, str, bytes | None]]]] = [
    (
        "jsonl",
        "p.jsonl",
        b'{"sample_name": "a"}\r\nnot json\r\n[1, 2]\n\xff{"x": 1}\n{"sample_name": "b"',
        [
            (2, "invalid JSON", b"not json"),
            (3, "not an object", b"[1, 2]"),
            (4, "undecodable byte", b'\xff{"x": 1}'),
            (5, "invalid JSON", b'{"sample_name": "b"'),
        ],
    ),
    (
        "csv",
        "p.csv",
        b'sample_name,category\na,car\n"b,car\nc,"x"y\nd,car,extra\n\xffe,car\r\n',
        [
            (3, "unterminated quote", b'"b,car'),
            (4, "invalid quoting", b'c,"x"y'),
            (5, "ragged row", b"d,car,extra"),
            (6, "undecodable byte", b"\xffe,car"),
        ],
    ),
    (
        "csv-multiline-ragged",
        "p.csv",
        b'sample_name,category\n"a\nb",car,extra\n',
        [(2, "ragged row", b'"a\nb",car,extra')],
    ),
    (
        "json-document",
        "p.json",
        b'[\n  {"sample_name": "a"},\n  [1,\n   2],\n  "x"\n]\n',
        [(3, "not an object", b"[1,\n   2]"), (5, "not an object", b'"x"')],
    ),
]


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [c[1:] for c in RAW_CASES],
    ids=[c[0] for c in RAW_CASES],
)
def test_unparseable_records_keep_their_raw_bytes(
    write: Any, name: str, content: bytes, expected: list[tuple[int, str, bytes | None]]
) -> None:
    items = read_all(write(name, content))
    errors = [(i.loc.line, i.reason, i.raw) for i in items if isinstance(i, RowError)]
    assert errors == expected
