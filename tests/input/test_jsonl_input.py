"""JSON Lines: an over-long line is skipped and reading goes on."""

from __future__ import annotations

from typing import Any

from inputkit import read_all, summarize

from upload_preds.readers import (
    MAX_LINE_BYTES,
)


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
