"""CSV and TSV, streamed through the :mod:`csv` module, one record per annotation.

The :mod:`csv` reader (``strict`` quoting) is fed by :class:`_LineFeed`, a
line generator that counts physical lines, decodes UTF-8 (a BOM is dropped)
and caps line and record sizes. A record's location is its first physical
line. After a broken record the reader restarts on the line after that
record's first line, replaying the lines the broken record swallowed, so an
unterminated quote costs one record, not the rest of the file (the failed
record's raw bytes are that first line). ``Record.data`` maps column names to
cell text; **empty cells are omitted**, so a converter sees "missing" and
"empty" the same way (``"score" not in data``). The :mod:`csv` field size
limit is process-wide; reading a CSV file sets it to
:data:`~upload_preds.readers.common.MAX_CSV_FIELD_CHARS`. Only header
problems raise :class:`~upload_preds.errors.InputFileError` (:func:`check_header`),
because no row of such a file can be read correctly.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from dataclasses import replace
from typing import TYPE_CHECKING, BinaryIO

from upload_preds.errors import InputFileError
from upload_preds.readers.common import (
    BOM,
    ERROR_KEY,
    MAX_CSV_FIELD_CHARS,
    MAX_CSV_RECORD_BYTES,
    MAX_LINE_BYTES,
    STREAM_ERRORS,
    Item,
    skip_line,
    stream_error,
    strip_eol,
    too_long,
    undecodable,
)
from upload_preds.records import Location, Notice, Record, RowError

if TYPE_CHECKING:
    from upload_preds.readers.sources import Source


_LOOKS_LIKE_DATA = re.compile(
    r"^\s*(?:[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12})\s*$"
)


def check_header(name: str, line: int, cells: list[str], delimiter: str) -> list[str]:
    names = [c.strip() for c in cells]
    sep = "tab" if delimiter == "\t" else repr(delimiter)
    empty = [i + 1 for i, c in enumerate(names) if not c]
    if empty:
        raise InputFileError(
            name,
            f"the header has an empty column name (column {empty[0]} of {len(names)})",
            line=line,
            hint=f"name every column; the header is the first line, separated by {sep}",
        )
    seen: set[str] = set()
    for c in names:
        if c in seen:
            raise InputFileError(
                name,
                f"the header names column {c!r} twice",
                line=line,
                hint="give each column a distinct name",
            )
        seen.add(c)
    if any(_LOOKS_LIKE_DATA.match(c) for c in names):
        raise InputFileError(
            name,
            "has no header: the first line holds data (a number or a uuid), not column names",
            line=line,
            hint="add a first line naming the columns, e.g. sample_uuid,category,x0,y0,x1,y1",
        )
    return names


class _RecordTooLong(Exception):
    """Raised by the line feed when a multi-line record passes MAX_CSV_RECORD_BYTES."""


class _LineFeed:
    """Physical lines for :mod:`csv`, counted, decoded and capped.

    ``lineno`` is the number of the last line handed out. ``pending`` keeps the
    lines of the record being parsed (reset by the consumer after each record)
    so that, after a broken record, the lines it swallowed can be replayed.
    Lines that could not be decoded or were too long are noted in ``bad`` and
    handed to :mod:`csv` as replacement text; the record holding them fails.
    """

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        self.lineno = 0
        self.pending: list[tuple[int, str]] = []
        self.pending_bytes = 0
        self.replay: list[tuple[int, str]] = []
        self.bad: dict[int, tuple[str, str]] = {}
        # The bytes of lines that were not UTF-8 (their text holds U+FFFD instead).
        self.undecoded: dict[int, bytes] = {}
        self.bom = True

    def record_bytes(self, lines: list[tuple[int, str]]) -> bytes | None:
        """The raw bytes of ``lines`` (of the record in progress), without the final
        line terminator; None when one of them was too long to keep."""
        parts: list[bytes] = []
        for lineno, text in lines:
            raw = self.undecoded.pop(lineno, None)
            if raw is None:
                if self.bad.get(lineno, ("",))[0] == "line too long":
                    return None
                raw = text.encode("utf-8", "surrogatepass")
            parts.append(raw)
        return strip_eol(b"".join(parts))

    def _take(self, lineno: int, text: str, size: int) -> None:
        """Note a line as part of the record in progress; cap multi-line records."""
        if self.pending:
            self.pending_bytes += size
            if self.pending_bytes > MAX_CSV_RECORD_BYTES:
                self.pending.append((lineno, text))
                raise _RecordTooLong
        else:
            self.pending_bytes = size
        self.pending.append((lineno, text))

    def lines(self) -> Iterator[str]:
        pending = self.pending
        replay = self.replay
        while replay:
            lineno, text = replay.pop()
            self.lineno = lineno
            self._take(lineno, text, len(text))
            yield text
        readline = self.stream.readline
        limit = MAX_LINE_BYTES + 1
        while True:
            raw = readline(limit)
            if not raw:
                return
            self.lineno += 1
            if self.bom:
                self.bom = False
                if raw.startswith(BOM):
                    raw = raw[3:]
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                loc = Location("", self.lineno)
                self.bad[self.lineno] = ("undecodable byte", undecodable(loc, raw, exc).message)
                self.undecoded[self.lineno] = raw
                text = raw.decode("utf-8", "replace")
            if len(raw) == limit and not raw.endswith(b"\n"):
                skip_line(self.stream, limit)
                self.bad[self.lineno] = ("line too long", too_long("", 0).message)
                text = "\n"
            if pending:
                self._take(self.lineno, text, len(raw))
            else:
                # The common case (a record on one line), kept inline for speed.
                self.pending_bytes = len(raw)
                pending.append((self.lineno, text))
            yield text


def read_delimited(src: Source) -> Iterator[Item]:
    name = src.name
    fmt = src.fmt
    with src.open() as stream:
        delimiter = "\t" if fmt == "tsv" else ","
        if csv.field_size_limit() != MAX_CSV_FIELD_CHARS:
            csv.field_size_limit(MAX_CSV_FIELD_CHARS)
        feed = _LineFeed(stream)
        pending = feed.pending
        new = tuple.__new__
        header: list[str] | None = None
        ncols = 0
        drop_error = False
        while True:
            reader = csv.reader(feed.lines(), delimiter=delimiter, strict=True)
            try:
                for row in reader:
                    start = pending[0][0]
                    if feed.bad:
                        raw = feed.record_bytes(pending)
                        problem = _bad_in(feed.bad, start, feed.lineno)
                        if problem is not None:
                            pending.clear()
                            yield RowError(Location(name, start), None, problem[0], problem[1], raw)
                            continue
                    if not row or (len(row) == 1 and not row[0].strip()):
                        pending.clear()
                        yield Notice(Location(name, start), "blank line skipped")
                        continue
                    if header is None:
                        pending.clear()
                        header = check_header(name, start, row, delimiter)
                        ncols = len(header)
                        drop_error = ERROR_KEY in header
                        continue
                    if len(row) != ncols:
                        raw = feed.record_bytes(pending)
                        pending.clear()
                        yield _ragged(Location(name, start), len(row), ncols, delimiter, raw)
                        continue
                    pending.clear()
                    data = {k: v for k, v in zip(header, row, strict=True) if v}
                    if drop_error:
                        data.pop(ERROR_KEY, None)
                    # Record(Location(name, start), fmt, data), minus two Python-level calls.
                    yield new(Record, (new(Location, (name, start)), fmt, data))
                if header is None:
                    raise InputFileError(
                        name,
                        "has no header line (only blank lines)",
                        hint="the first line must name the columns, e.g. sample_uuid,category,...",
                    )
                return
            except (csv.Error, _RecordTooLong) as exc:
                start = pending[0][0] if pending else feed.lineno
                # Reading goes on at the next line (below), so the broken record
                # is its first line only.
                raw = feed.record_bytes(pending[:1]) if pending else None
                yield _csv_problem(Location(name, start), exc, feed.lineno, raw)
                # Go on from the line after the broken record's first one, replaying
                # the lines it swallowed: a quote that never closes (or closes at a
                # later record's quote) then costs one record, not the rest of the file.
                feed.replay.extend(reversed(pending[1:]))
                _drop_bad(feed.bad, start, start)
                pending.clear()
            except STREAM_ERRORS as exc:
                yield stream_error(name, feed.lineno + 1, exc)
                return


def _bad_in(bad: dict[int, tuple[str, str]], start: int, end: int) -> tuple[str, str] | None:
    found = None
    for line in range(start, end + 1):
        problem = bad.pop(line, None)
        if problem is not None and found is None:
            found = problem
    return found


def _drop_bad(bad: dict[int, tuple[str, str]], start: int, end: int) -> None:
    for line in range(start, end + 1):
        bad.pop(line, None)


def _ragged(loc: Location, got: int, want: int, delimiter: str, raw: bytes | None) -> RowError:
    sep = "tabs" if delimiter == "\t" else "commas"
    return RowError(
        loc,
        None,
        "ragged row",
        f"{got} fields where the header has {want}; quote cells that contain {sep} "
        "and give every row one cell per column",
        raw,
    )


def _csv_problem(loc: Location, exc: Exception, last_line: int, raw: bytes | None) -> RowError:
    return replace(_csv_error(loc, exc, last_line), raw=raw)


def _csv_error(loc: Location, exc: Exception, last_line: int) -> RowError:
    msg = str(exc)
    spans = last_line - loc.line + 1
    if (
        isinstance(exc, _RecordTooLong)
        or "end of data" in msg
        or (spans > 1 and ("field larger than field limit" in msg or "expected after" in msg))
    ):
        # A record running over several lines until it breaks: almost always a
        # quote that was never closed (a later quote closed it by accident).
        how = "is never closed" if "end of data" in msg else f"runs on over {spans} lines"
        return RowError(
            loc,
            None,
            "unterminated quote",
            f"a quoted cell that starts here {how}: its closing quote is probably missing; "
            'close it, and write a quote inside a quoted cell as ""',
        )
    if "field larger than field limit" in msg:
        return RowError(
            loc,
            None,
            "field too long",
            f"a cell is longer than {MAX_CSV_FIELD_CHARS // 1024} KiB; shorten it",
        )
    if "expected after" in msg:
        return RowError(
            loc,
            None,
            "invalid quoting",
            'text follows a closing quote; quote the whole cell and write a quote inside it as ""',
        )
    return RowError(loc, None, "invalid CSV", f"cannot parse the record: {msg}")
