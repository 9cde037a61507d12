"""Input rows kept as where they are in their file, and read again only when needed.

The sequence dry run checks the common tracker row when it reads it and groups
only its compact objects (:mod:`upload_preds.seqgroups`); the row itself is
needed again only if its label fails (the failures file and the messages show
the row) or is converted the full way. Spilling every row's bytes beside its
objects, for the few labels that need them, was the largest single cost of the
dry run (writing and reading the spill: a fifth of it, measured with py-spy on
``bench/bench_sequences.py``). So, for a plain file, a grouped row holds only its
byte offset (``{"o": offset}`` in its payload, from the reader's ``take``, see
:mod:`upload_preds.readers.jsonl`), and :func:`raw_rows` reads the rows of one
label back: each file opened once, the lines in file order, each parsed as the
reader parsed it. stdin and gzip input cannot be read again: their rows keep
their bytes as before (``"j"``).

A file that changed between the two reads would give other rows: a line that
is no longer one JSON object is an :class:`~upload_preds.errors.InputFileError`
(the run stops; rerun with the file left alone).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson

from upload_preds.errors import InputFileError
from upload_preds.readers.common import MAX_LINE_BYTES
from upload_preds.records import Location

__all__ = ["payload_row", "raw_rows"]


def payload_row(payload: dict[str, Any]) -> dict[str, Any]:
    """The input data of a grouped payload that holds it (not an ``"o"`` one): the JSON
    row (``"r"``, or ``"j"``: its unparsed bytes) or the CSV cells (``"c"``)."""
    if "j" in payload:  # a compact line's row, parsed only now
        row: dict[str, Any] = orjson.loads(payload["j"])
        return row
    raw: dict[str, Any] = payload["r"] if "r" in payload else payload["c"]
    return raw


def raw_rows(members: Iterable[tuple[Location, dict[str, Any]]]) -> dict[Location, dict[str, Any]]:
    """The input data of grouped items by location, the rows kept by offset read again."""
    out: dict[Location, dict[str, Any]] = {}
    wanted: dict[str, list[tuple[int, Location]]] = {}
    for loc, payload in members:
        if "o" in payload:
            wanted.setdefault(loc.file, []).append((payload["o"], loc))
        else:
            out[loc] = payload_row(payload)
    for name, places in wanted.items():
        places.sort()  # (file order: the reads go forward)
        try:
            with open(name, "rb") as f:
                for offset, loc in places:
                    f.seek(offset)
                    out[loc] = _row(f.readline(MAX_LINE_BYTES + 1), loc)
        except OSError as exc:
            raise InputFileError(
                name,
                f"cannot be read again ({exc.strerror or exc})",
                hint="leave input files in place until the run ends",
            ) from None
    return out


def _row(line: bytes, loc: Location) -> dict[str, Any]:
    """A line read again: the dict the reader made of it (a row kept by offset was
    taken by the fast decoder, which allows no other key: no ``_error`` to drop)."""
    try:
        row = orjson.loads(line)
    except orjson.JSONDecodeError:
        row = None
    if type(row) is not dict:
        raise InputFileError(
            loc.file,
            "changed while it was read (the line is no longer the row read first)",
            line=loc.line,
            hint="leave input files unchanged until the run ends, then run again",
        )
    return row
