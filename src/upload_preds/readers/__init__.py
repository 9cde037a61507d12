"""Lazy reading of prediction files: JSONL/NDJSON, JSON, CSV and TSV, each optionally gzip.

Two steps, so that every file problem is reported before any row is processed:

1. :func:`open_sources` (:mod:`~upload_preds.readers.sources`) checks every
   path up front and settles its :class:`Source`: display name, format
   (:mod:`~upload_preds.readers.detect`) and compression.
2. :func:`read_records` yields, in file order, a :class:`~upload_preds.records.Record`
   per good record, a :class:`~upload_preds.records.RowError` per bad one
   (with the record's raw bytes when it could not be parsed; then reading goes
   on with the next record) and a :class:`~upload_preds.records.Notice` per
   blank line. Each format has its own module: :mod:`~upload_preds.readers.jsonl`
   (streamed lines), :mod:`~upload_preds.readers.jsondoc` (one document walked
   element by element) and :mod:`~upload_preds.readers.delimited` (CSV/TSV).
   JSON rows of both kinds pass the checks of
   :mod:`~upload_preds.readers.rowchecks` (a key given twice, nesting deeper
   than :data:`MAX_DEPTH`). Only header problems of CSV/TSV, and a JSON
   document nested too deep to parse, raise :class:`~upload_preds.errors.InputFileError`,
   because no row of such a file can be read correctly.

A key or column named ``_error`` (what the failures file adds) is dropped,
so a failures file can be fed back in as it is; a JSONL object holding only
``_raw`` next to it is a line that could not be parsed, and its text is read
in its place (:data:`RAW_KEY`). Shared limits and errors live
in :mod:`~upload_preds.readers.common`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import chain

from upload_preds.readers.common import (
    ERROR_KEY,
    MAX_CSV_FIELD_CHARS,
    MAX_CSV_RECORD_BYTES,
    MAX_DEPTH,
    MAX_LINE_BYTES,
    RAW_KEY,
    Item,
)
from upload_preds.readers.delimited import read_delimited
from upload_preds.readers.jsondoc import read_json
from upload_preds.readers.jsonl import Take, read_jsonl
from upload_preds.readers.sources import (
    Source,
    count_records,
    open_sources,
    refuse_repeated_paths,
)

__all__ = [
    "ERROR_KEY",
    "MAX_CSV_FIELD_CHARS",
    "MAX_CSV_RECORD_BYTES",
    "MAX_DEPTH",
    "MAX_LINE_BYTES",
    "RAW_KEY",
    "Item",
    "Source",
    "Take",
    "count_records",
    "open_sources",
    "read_records",
    "refuse_repeated_paths",
]


def read_records(sources: Iterable[Source], take: Take | None = None) -> Iterator[Item]:
    """Yield every record of every source, in order, with its location.

    Bad records become :class:`RowError` and reading goes on; blank lines
    become :class:`Notice`. CSV/TSV header problems raise :class:`InputFileError`.
    ``take`` sees JSONL lines first and may consume them (see :mod:`.jsonl`).
    """
    # One generator per source (each opens its stream when first advanced),
    # chained in C: a record passes through its reader's frame only, where a
    # delegating ``yield from`` here would resume a second frame per record.
    return chain.from_iterable(_reader(src, take) for src in sources)


def _reader(src: Source, take: Take | None) -> Iterator[Item]:
    if src.fmt == "jsonl":
        return read_jsonl(src, take)
    if src.fmt == "json":
        return read_json(src)
    return read_delimited(src)
