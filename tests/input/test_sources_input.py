"""Opening inputs: files checked up front, stdin, gzip, repeated paths, record counts."""

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
from inputkit import BOM, put_file, read_all, summarize

from upload_preds.errors import InputFileError
from upload_preds.readers import (
    count_records,
    open_sources,
    read_records,
)
from upload_preds.records import STDIN_NAME, Record, RowError


def _chmod_unreadable(path: Path) -> Path:
    path.chmod(0)
    return path


# (id, how to make the path, message fragment, hint fragment)
OPEN_ERRORS: list[tuple[str, Any, str, str]] = [
    ("missing", lambda d: d / "nope.jsonl", "no such file", "check the path"),
    ("directory", lambda d: d, "is a directory", "pass the files inside it"),
    ("empty", lambda d: put_file(d / "e.jsonl", b""), "is empty", "holds predictions"),
    ("blank-only", lambda d: put_file(d / "b.csv", b"\n \n\t\n"), "holds only blank lines", ""),
    (
        "gz-name-not-gzip",
        lambda d: put_file(d / "a.jsonl.gz", b'{"a": 1}\n'),
        "is named .gz but is not gzip-compressed",
        "rename it without .gz",
    ),
    (
        "gzip-of-nothing",
        lambda d: put_file(d / "a.jsonl.gz", gzip.compress(b"")),
        "is empty after decompression",
        "",
    ),
    (
        "gzip-corrupt-header",
        lambda d: put_file(d / "a.jsonl.gz", b"\x1f\x8b\x08\xff" + b"\x00" * 40),
        "is not a valid gzip file",
        "gzip -t",
    ),
    (
        "undetectable",
        lambda d: put_file(d / "a.txt", b"hello world\nmore\n"),
        "cannot tell its format",
        "--format jsonl|json|csv|tsv",
    ),
    (
        "binary",
        lambda d: put_file(d / "a.dat", b"PK\x03\x04\x00\x00,\x00"),
        "looks binary",
        "--format",
    ),
    (
        "csv-duplicate-column",
        lambda d: put_file(d / "a.csv", b"sample_uuid,category,category\n"),
        ":1: the header names column 'category' twice",
        "distinct name",
    ),
    (
        "csv-empty-column-name",
        lambda d: put_file(d / "a.csv", b"sample_uuid,,category\nx,y,z\n"),
        ":1: the header has an empty column name (column 2 of 3)",
        "name every column",
    ),
    (
        "csv-no-header",
        lambda d: put_file(d / "a.csv", b"6f1c0e3e-1d1c-4a8e-9a47-7f0f1d2b3c4d,car,1,2,3,4\n"),
        ":1: has no header",
        "add a first line naming the columns",
    ),
    (
        "tsv-duplicate-column-after-blank-line",
        lambda d: put_file(d / "a.tsv", b"\nx\tx\n"),
        ":2: the header names column 'x' twice",
        "",
    ),
]


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
    path = _chmod_unreadable(put_file(tmp_path / "a.jsonl", b"{}\n"))
    with pytest.raises(InputFileError, match="permission denied"):
        open_sources([str(path)])


def test_open_checks_every_file_before_reading_any(tmp_path: Path) -> None:
    good = put_file(tmp_path / "a.jsonl", b'{"a": 1}\n')
    with pytest.raises(InputFileError, match=r"missing\.csv: no such file"):
        open_sources([str(good), str(tmp_path / "missing.csv")])


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
    path = put_file(tmp_path / (name + ".gz"), full[: len(full) // 2])
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
    path = put_file(tmp_path / "p.json.gz", full[: len(full) // 2])
    items = read_all(path)
    assert isinstance(items[-1], RowError)
    assert items[-1].reason == "unreadable data"
    good = [i for i in items if isinstance(i, Record)]
    assert good
    assert [r.data["n"] for r in good] == list(range(len(good)))
    assert good[1].loc.line == 5  # "[", "{", '"n": 0', "}," then the second element


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
