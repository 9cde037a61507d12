"""JSON rows that parse but must not be taken as they are: keys given twice, nesting too deep.

orjson (and Python's json) keep the last of repeated keys without a word, and
nesting is limited only by the parser's own recursion: both must be row errors
naming the line (and, for a repeated key, the key), with the row's raw text;
a whole JSON document too deep to parse is a file error (exit 2).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from inputkit import nested_arrays, nested_objects, read_all

from upload_preds.readers import MAX_DEPTH
from upload_preds.records import Record, RowError

ROOT = Path(__file__).resolve().parents[2]
CATS = ROOT / "sample_data" / "categories.json"


# (id, JSONL line, expected: None for a record, else (reason, field))
JSONL_ROWS: list[tuple[str, str, tuple[str, str | None] | None]] = [
    ("top-level", '{"sample_name": "a", "sample_name": "b"}', ("duplicate key", "sample_name")),
    (
        "in-an-annotation",
        '{"sample_name": "a", "annotations": [{"category": "car"}, '
        '{"category": "car", "bbox": [1, 2, 3, 4], "category": "bus"}]}',
        ("duplicate key", "annotations[1].category"),
    ),
    (
        "nested-object",
        '{"sample_name": "a", "attributes": {"image_attributes": {"k": 1, "k": 2}}}',
        ("duplicate key", "attributes.image_attributes.k"),
    ),
    # The repeat's value holds a colon written as an escape: the cheap test
    # (colons in the text against colons written back) alone would miss it.
    (
        "escaped-colon",
        '{"sample_name": "a", "sample_name": "\\u003a"}',
        ("duplicate key", "sample_name"),
    ),
    (
        "spaces-around-colon",
        '{"sample_name" : "a" , "sample_name"  :"b"}',
        ("duplicate key", "sample_name"),
    ),
    # Rows past tier 1 (objects below the annotations, a non-object annotation).
    (
        "in-annotation-attributes",
        '{"sample_name": "a", "annotations": [{"category": "car", '
        '"attributes": {"occluded": true, "occluded": false}}]}',
        ("duplicate key", "annotations[0].attributes.occluded"),
    ),
    (
        "beside-a-non-object-annotation",
        '{"sample_name": "{", "sample_name": "b", "annotations": [[1]]}',
        ("duplicate key", "sample_name"),
    ),
    (
        "wide-polygon-row",
        '{"sample_name": "a", "annotations": ['
        + ", ".join(
            '{"category": "car", "points": [' + ", ".join(["[1, 2]"] * 40) + "]}" for _ in range(3)
        )
        + "]}",
        None,
    ),
    (
        "empty-objects-below",
        '{"sample_name": "a", "x": {}, "annotations": [{"category": "car", "attributes": {}}]}',
        None,
    ),
    # Not repeats: colons inside strings, escaped colons, the same key in sibling objects.
    ("colons-in-values", '{"sample_name": "http://x:80/a", "annotations": []}', None),
    ("escaped-colon-alone", '{"sample_name": "\\u003a", "annotations": []}', None),
    (
        "same-key-in-siblings",
        '{"sample_name": "a", "annotations": [{"category": "car"}, {"category": "bus"}]}',
        None,
    ),
    ("at-the-depth-limit", '{"sample_name": "a", "x": ' + nested_arrays(MAX_DEPTH - 1) + "}", None),
    (
        "one-past-the-depth-limit",
        '{"sample_name": "a", "x": ' + nested_arrays(MAX_DEPTH) + "}",
        ("too deeply nested", None),
    ),
    ("900-levels", '{"x": ' + nested_objects(900) + "}", ("too deeply nested", None)),
    ("100k-arrays", nested_arrays(100_000), ("too deeply nested", None)),
    ("100k-objects", nested_objects(100_000), ("too deeply nested", None)),
]


# Each row between two good ones, as a JSONL line or as an element of a JSON
# document's array (too deep to parse there: the 100k-level rows are tested below).
CONTAINERS = {
    "jsonl": ("p.jsonl", '{{"sample_name": "before"}}\n{}\n{{"sample_name": "after"}}\n', 2),
    "json": ("p.json", '[\n{{"sample_name": "before"}},\n{},\n{{"sample_name": "after"}}\n]\n', 3),
}


@pytest.mark.parametrize(
    ("container", "line", "expected"),
    [
        (container, *c[1:])
        for container in CONTAINERS
        for c in JSONL_ROWS
        if container == "jsonl" or "100k" not in c[0]
    ],
    ids=[
        f"{container}-{c[0]}"
        for container in CONTAINERS
        for c in JSONL_ROWS
        if container == "jsonl" or "100k" not in c[0]
    ],
)
def test_rows(
    write: Any, container: str, line: str, expected: tuple[str, str | None] | None
) -> None:
    name, template, lineno = CONTAINERS[container]
    first, item, last = read_all(write(name, template.format(line)))
    assert isinstance(first, Record)  # reading goes on
    assert isinstance(last, Record)
    if expected is None:
        assert isinstance(item, Record), item
        return
    assert isinstance(item, RowError), item
    assert (item.reason, item.field, item.loc.line) == (*expected, lineno)
    assert item.raw == line.encode()
    if expected[1] is not None:
        assert repr(expected[1].rsplit(".", 1)[-1]) in item.message


def test_cli_exit_codes_for_deep_and_repeated_input(tmp_path: Path, write: Any) -> None:
    """Through the real CLI: a deep or repeated JSONL row is a failed row (exit 1),
    a JSON document too deep to parse is a file error (exit 2); never a traceback."""
    import subprocess
    import sys

    jsonl = write(
        "rows.jsonl",
        '{"sample_name": "a", "annotations": []}\n'
        + nested_objects(100_000)
        + '\n{"sample_name": "b", "sample_name": "c", "annotations": []}\n',
    )
    doc = write("doc.json", "[" + nested_arrays(100_000) + "]\n")
    runs = {}
    for path in (jsonl, doc):
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "upload_preds",
                str(path),
                "--dry-run",
                "--categories",
                str(CATS),
            ],
            capture_output=True,
            cwd=tmp_path,
            env={"NO_COLOR": "1", "COLUMNS": "200", "PATH": "/usr/bin:/bin"},
            timeout=120,
            check=False,
        )
        assert "Traceback" not in proc.stderr.decode()
        runs[path.name] = (proc.returncode, proc.stderr.decode())
    code, err = runs["rows.jsonl"]
    assert code == 1
    assert "rows.jsonl:2: the row nests objects and arrays more than" in err
    assert "rows.jsonl:3: sample_name: the key 'sample_name' is given twice" in err
    code, err = runs["doc.json"]
    assert code == 2
    assert "doc.json:1: a value nested about" in err
