"""Format detection from names and content, and the CSV header checked at open time."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import pytest
from inputkit import put_file

from upload_preds.errors import InputFileError
from upload_preds.readers import (
    open_sources,
    read_records,
)

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
    path = put_file(tmp_path / "a.csv", b"\n\n")
    with pytest.raises(InputFileError, match="holds only blank lines"):
        open_sources([str(path)], "csv")
