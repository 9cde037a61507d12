"""JSON documents: a member given twice in the top-level object, and values too deep to parse.

Rows inside a document get the row checks of ``test_rowchecks_input.py``; what
is the document's own is its top-level object (one row, or a wrapper whose
array holds the rows) and its parse, which Python's recursion limit stops:
that fails the whole file (exit 2 through the CLI), with no row read.
"""

from __future__ import annotations

from typing import Any

import pytest
from inputkit import nested_arrays, nested_objects, read_all

from upload_preds.errors import InputFileError
from upload_preds.records import RowError


def test_single_row_document_with_a_repeated_key(write: Any) -> None:
    doc = '{\n  "sample_name": "a",\n  "annotations": [],\n  "sample_name": "b"\n}\n'
    (item,) = read_all(write("p.json", doc))
    assert isinstance(item, RowError)
    assert (item.reason, item.field, item.loc.line) == ("duplicate key", "sample_name", 1)
    assert item.raw == doc.strip().encode()


def test_wrapper_member_given_twice_stops_the_document(write: Any) -> None:
    doc = '{"predictions": [{"sample_name": "a"}],\n "predictions": [{"sample_name": "b"}]}\n'
    (item,) = read_all(write("p.json", doc))
    assert isinstance(item, RowError)
    assert item.loc.line == 2
    assert "'predictions' is given twice" in item.message


@pytest.mark.parametrize(
    "deep", [nested_arrays(100_000), nested_objects(100_000)], ids=["arrays", "objects"]
)
@pytest.mark.parametrize("shape", ["array", "row-object"])
def test_json_document_too_deep_to_parse_is_a_file_error(write: Any, deep: str, shape: str) -> None:
    if shape == "array":
        doc, line = '[\n{"sample_name": "a"},\n' + deep + "\n]\n", 3
    else:
        doc, line = '{"sample_name": "a",\n "annotations": ' + deep + "}\n", 2
    with pytest.raises(InputFileError) as info:
        read_all(write("p.json", doc))
    assert info.value.line == line
    assert "nested" in str(info.value)
