"""JSON Lines, streamed: one row per line, each line parsed by ``orjson.loads``.

Binary lines (``readline`` with a length cap, so one over-long line cannot
exhaust memory) go straight to ``orjson.loads``. The hot path does little
else: the cheap test of :mod:`~upload_preds.readers.rowchecks` (repeated keys,
nesting) and the drop of the failures file's ``_error`` key. Blank lines, bad
JSON, bad UTF-8 and over-long lines are told apart only after ``orjson`` has
rejected a line; a failed line keeps its raw bytes (``RowError.raw``).

A caller may pass ``take`` (:data:`Take`): it sees each line's bytes first and
says whether it consumed the line (the sequence rows' fast decoder,
:mod:`upload_preds.seqgroups`); a line it declines is read as above. Lines cut
at the length cap never go to it. With each line it gets the line's byte offset
in the file, so that a caller may keep where a line is instead of the line
itself and read it again when needed (:mod:`upload_preds.rawlines`); ``-1``
when the input cannot be read again: stdin, and gzip (its offsets are not the
file's).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import orjson

from upload_preds.readers.common import (
    BOM,
    ERROR_KEY,
    MAX_DEPTH,
    MAX_LINE_BYTES,
    RAW_KEY,
    STREAM_ERRORS,
    Item,
    skip_line,
    stream_error,
    strip_eol,
    too_long,
    undecodable,
)
from upload_preds.readers.rowchecks import flat_keys, not_object, row_problem, too_deep
from upload_preds.records import Location, Notice, Record, RowError

if TYPE_CHECKING:
    from upload_preds.readers.sources import Source

#: ``take(line, file name, line number, offset)``: whether it consumed the line (nothing
#: is yielded for it then). ``line`` is the physical line, with its end, without a BOM;
#: ``offset`` where it starts in the file named ``name`` (``-1``: stdin, gzip).
Take = Callable[[bytes, str, int, int], bool]


def read_jsonl(src: Source, take: Take | None = None) -> Iterator[Item]:
    name = src.name
    with src.open() as stream:
        readline = stream.readline
        loads = orjson.loads
        new = tuple.__new__
        limit = MAX_LINE_BYTES + 1
        lineno = 0
        bom = True
        # The next line's byte offset; -1 (never advanced) when the bytes read are not
        # those of the file ``name`` names (stdin, even spooled to a file; gzip) or
        # take does not need them.
        pos = 0 if take is not None and src.path == name and not src.gzip else -1
        while True:
            try:
                line = readline(limit)
            except STREAM_ERRORS as exc:
                yield stream_error(name, lineno + 1, exc)
                return
            if not line:
                return
            lineno += 1
            at = pos
            if pos >= 0:
                pos += len(line)
            if bom:
                bom = False
                if line.startswith(BOM):
                    line = line[3:]
                    if at >= 0:
                        at += 3
            if take is not None and len(line) < limit and take(line, name, lineno, at):
                continue
            try:
                obj = loads(line)
            except orjson.JSONDecodeError as exc:
                if len(line) == limit and not line.endswith(b"\n"):
                    try:
                        skip_line(stream, limit)
                        if pos >= 0:
                            pos = stream.tell()
                    except STREAM_ERRORS as exc2:
                        yield stream_error(name, lineno, exc2)
                        return
                    yield too_long(name, lineno)
                else:
                    yield _jsonl_problem(name, lineno, line, exc)
                continue
            if type(obj) is dict:
                # A key given twice, or nesting past MAX_DEPTH: tier 1 of rowchecks
                # clears the common row with a few C calls, the rest go to tier 2.
                if line.count(b":") != flat_keys(obj) or line.count(b"[") > MAX_DEPTH - 3:
                    problem = row_problem(line, obj, Location(name, lineno))
                    if problem is not None:
                        yield problem
                        continue
                if ERROR_KEY in obj:
                    del obj[ERROR_KEY]
                    if RAW_KEY in obj:
                        yield _reparse_raw(name, lineno, obj)
                        continue
                # Record(Location(name, lineno), "jsonl", obj) without the two
                # Python-level NamedTuple constructors: this runs once per row.
                yield new(Record, (new(Location, (name, lineno)), "jsonl", obj))
            else:
                yield not_object(Location(name, lineno), obj, strip_eol(line))


def _reparse_raw(name: str, lineno: int, obj: dict[str, object]) -> Item:
    """A failures file's ``{"_raw": text}``: the text, read as the line it was."""
    text = obj.get(RAW_KEY)
    loc = Location(name, lineno)
    if len(obj) != 1 or not isinstance(text, str):
        return Record(loc, "jsonl", obj)  # a row that only has a _raw field
    line = text.encode("utf-8")
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        return _jsonl_problem(name, lineno, line, exc)
    if type(value) is not dict:
        return not_object(loc, value, line)
    problem = row_problem(line, value, loc)
    if problem is not None:
        return problem
    value.pop(ERROR_KEY, None)
    return Record(loc, "jsonl", value)


def _jsonl_problem(name: str, lineno: int, line: bytes, exc: orjson.JSONDecodeError) -> Item:
    loc = Location(name, lineno)
    if not line.strip():
        return Notice(loc, "blank line skipped")
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as uexc:
        return undecodable(loc, line, uexc)
    if "depth limit" in exc.msg:
        # orjson stops at 1024 levels.
        return too_deep(loc, strip_eol(line))
    # orjson's column counts characters of the line, 1-based.
    col = exc.colno
    near = text[max(col - 1, 0) : col + 19].rstrip("\r\n")
    if "end of data" in exc.msg or not near:
        # orjson reports a premature end at column 1; the end of the line is where it is.
        where = "the end of the line"
    else:
        where = f"column {col} (near {near!r})"
    return RowError(
        loc,
        None,
        "invalid JSON",
        f"invalid JSON at {where}: {exc.msg}; each line must hold one JSON object",
        strip_eol(line),
    )
