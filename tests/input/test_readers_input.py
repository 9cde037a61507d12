"""Reading prediction files end to end: every format, locations, and every kind of bad record."""

from __future__ import annotations

from typing import Any

import pytest
from inputkit import BOM, DATA, read_all, summarize

from upload_preds.readers import (
    open_sources,
    read_records,
)
from upload_preds.records import Notice, Record, RowError

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
