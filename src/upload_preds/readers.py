"""Lazy reading of prediction files: JSONL/NDJSON, JSON, CSV and TSV, each optionally gzip.

Two steps, so that every file problem is reported before any row is processed:

1. :func:`open_sources` checks every path up front (exists, is a file, readable,
   not empty, gzip when it says so) and settles its :class:`Source`: display
   name, format and compression. The format comes from ``fmt`` when given,
   else from the extension (``.jsonl .ndjson .json .csv .tsv``, after
   stripping ``.gz``), else from the content: ``[`` is JSON; ``{`` is JSONL
   unless the first line is not a complete JSON value by itself or nothing but
   whitespace follows it (then the file is one JSON document); anything else is
   CSV or TSV, whichever separator the header line holds more of. A ``.json``
   file starting with ``{`` goes through the same ``{`` rule, so a ``.json``
   file that really holds JSON Lines is read as JSONL. gzip is recognised by
   its magic bytes, whatever the name; a ``.gz`` name without them is an error.
   ``-`` is stdin: its first bytes are buffered for sniffing and replayed.
   :func:`refuse_repeated_paths` (called by a run before anything else) refuses
   a file named twice, however it is spelt.

2. :func:`read_records` yields, in file order, a :class:`~upload_preds.records.Record`
   per good record, a :class:`~upload_preds.records.RowError` per bad one (and
   then goes on with the next record) and a :class:`~upload_preds.records.Notice`
   per blank line. Only header problems of CSV/TSV raise
   :class:`~upload_preds.errors.InputFileError`, because no row of such a file
   can be read correctly.

How each format is read:

* JSONL is streamed: binary lines (``readline`` with a length cap, so one
  over-long line cannot exhaust memory) go straight to ``orjson.loads``. The
  hot path does nothing else; blank lines, bad JSON, bad UTF-8 and over-long
  lines are told apart only after ``orjson`` has rejected a line.
* CSV/TSV are streamed through the :mod:`csv` module (``strict`` quoting) fed
  by a line generator that counts physical lines, decodes UTF-8 (a BOM is
  dropped) and caps line and record sizes. A record's location is its first
  physical line. After a broken record the reader restarts on the line after
  that record's first line, replaying the lines the broken record swallowed,
  so an unterminated quote costs one record, not the rest of the file.
  ``Record.data`` maps column names to cell text; **empty cells are omitted**,
  so a converter sees "missing" and "empty" the same way (``"score" not in
  data``). The :mod:`csv` field size limit is process-wide; reading a CSV file
  sets it to :data:`MAX_CSV_FIELD_CHARS`.
* JSON documents are loaded whole (allowed: they are one value) and walked
  element by element with the C scanner of :mod:`json` (``raw_decode``), which
  reports where each element ends; the start offset of each element maps to
  its line. A top-level array holds rows; an object is either one row, or a
  wrapper whose only array-of-objects member holds the rows
  (``{"predictions": [...]}``): it is one row when it has ``sample_uuid`` or
  ``sample_name``, a wrapper when exactly one member is an array of objects
  (other than ``annotations``); "array of objects" means at least one element
  is an object, so a stray non-object element is a row error, not a reason
  to misread the file. A syntax error stops the file after the rows
  before it, because JSON cannot be resynchronised.
* A key or column named ``_error`` (what the failures file adds) is dropped,
  so a failures file can be fed back in as it is.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import io
import json
import os
import re
import stat
import sys
import zlib
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from itertools import chain
from typing import Any, BinaryIO, Final, cast

import orjson

from upload_preds.errors import InputFileError
from upload_preds.records import (
    FORMATS,
    STDIN_NAME,
    Format,
    Location,
    Notice,
    Record,
    RowError,
)

__all__ = [
    "ERROR_KEY",
    "MAX_CSV_FIELD_CHARS",
    "MAX_CSV_RECORD_BYTES",
    "MAX_LINE_BYTES",
    "Source",
    "count_records",
    "open_sources",
    "read_records",
    "refuse_repeated_paths",
]

#: Longest accepted physical line (JSONL row, CSV line), in bytes.
MAX_LINE_BYTES: Final = 16 * 1024 * 1024
#: Longest accepted CSV/TSV cell, in characters (a ``points`` column of a big polygon fits).
MAX_CSV_FIELD_CHARS: Final = 1024 * 1024
#: Longest CSV/TSV record spanning several lines (quoted newlines); past it the
#: opening quote is taken to be unterminated.
MAX_CSV_RECORD_BYTES: Final = 4 * 1024 * 1024
#: The key/column the failures file adds to each failed row; dropped on reading.
ERROR_KEY: Final = "_error"
#: Deepest accepted nesting of a JSON row's objects and arrays (the row is level 1).
#: Labels need about a dozen; far deeper rows could not be written back (orjson
#: writes 254 levels at most) or pickled, so they are row errors.
MAX_DEPTH: Final = 64

_SNIFF_BYTES: Final = 64 * 1024
_BUFFER_BYTES: Final = 256 * 1024
_GZIP_MAGIC: Final = b"\x1f\x8b"
_BOM: Final = b"\xef\xbb\xbf"
_EXTENSIONS: Final[dict[str, Format]] = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
    ".csv": "csv",
    ".tsv": "tsv",
}
_SAMPLE_KEYS: Final = ("sample_uuid", "sample_name")
# What a broken compressed stream or a failing disk raises while reading.
_STREAM_ERRORS: Final = (EOFError, OSError, zlib.error)
_FORMAT_HINT: Final = "name the format with --format " + "|".join(FORMATS)
_WS = re.compile(r"[ \t\n\r]*")
_BLANK_LINES = re.compile(rb"^[ \t\r]*\n", re.MULTILINE)
_LOOKS_LIKE_DATA = re.compile(
    r"^\s*(?:[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12})\s*$"
)


# --------------------------------------------------------------------------- sources


class _Replay(io.RawIOBase):
    """A raw stream that serves ``head`` first, then the rest of ``tail`` (via ``read1``).

    stdin cannot be rewound, so the bytes read for sniffing are kept and
    replayed in front of the unread remainder.
    """

    def __init__(self, head: bytes, tail: BinaryIO) -> None:
        super().__init__()
        self._head = memoryview(head)
        self._tail = tail

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        if self._head:
            n = min(len(view), len(self._head))
            view[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = _read_some(self._tail, len(view))
        view[: len(data)] = data
        return len(data)


def _read_some(stream: BinaryIO, n: int) -> bytes:
    """Read what is available, up to ``n`` bytes (``read1`` when the stream has it).

    ``read1`` returns what one underlying read produced, so the data decoded
    before a truncated gzip stream breaks is not thrown away with the error.
    """
    read1 = getattr(stream, "read1", None)
    data = read1(n) if read1 is not None else stream.read(n)
    return bytes(data) if data else b""


class _Stdin:
    """stdin, already sniffed: the decoded bytes read so far and the stream they came from."""

    def __init__(self, head: bytes, stream: BinaryIO) -> None:
        self.head = head
        self.stream = stream
        self.taken = False


@dataclass(frozen=True, eq=False)
class Source:
    """One input file, checked and identified by :func:`open_sources`.

    ``name`` is what messages show (the path as given, or ``<stdin>``), ``path``
    is ``None`` for stdin, ``fmt`` the format rows are read in and ``gzip``
    whether the bytes are gzip-compressed. A stdin source can be read once.
    """

    name: str
    path: str | None
    fmt: Format
    gzip: bool
    _stdin: _Stdin | None = field(default=None, repr=False, compare=False)

    @contextlib.contextmanager
    def open(self) -> Iterator[BinaryIO]:
        """The decompressed bytes of the file, as a buffered binary stream."""
        if self._stdin is not None:
            if self._stdin.taken:
                raise InputFileError(self.name, "stdin can only be read once")
            self._stdin.taken = True
            yield io.BufferedReader(_Replay(self._stdin.head, self._stdin.stream), _BUFFER_BYTES)
            return
        assert self.path is not None
        with _open_path(self.path, self.name, self.gzip) as stream:
            yield stream


@contextlib.contextmanager
def _open_path(path: str, name: str, gz: bool) -> Iterator[BinaryIO]:
    try:
        raw = open(path, "rb", buffering=_BUFFER_BYTES)  # noqa: SIM115 (closed below)
    except OSError as exc:
        raise _os_error(name, exc) from None
    try:
        if gz:
            # A BufferedReader around GzipFile gives C-speed readline; GzipFile's
            # own readline goes through a Python-level wrapper for every call.
            yield _gunzip(raw)
        else:
            yield raw
    finally:
        raw.close()


def _gunzip(raw: BinaryIO) -> BinaryIO:
    """A buffered stream of the decompressed bytes of ``raw``.

    The outer BufferedReader gives C-speed ``readline`` (GzipFile's own goes
    through a Python-level wrapper on every call); the ``_Replay`` between
    them reads with ``read1``, so when the compressed data breaks, every byte
    decoded before the break still reaches the reader.
    """
    unzipped = cast(BinaryIO, gzip.GzipFile(fileobj=raw, mode="rb"))
    return io.BufferedReader(_Replay(b"", unzipped), _BUFFER_BYTES)


def _os_error(name: str, exc: OSError) -> InputFileError:
    if isinstance(exc, FileNotFoundError):
        return InputFileError(name, "no such file", hint="check the path and the current directory")
    if isinstance(exc, PermissionError):
        return InputFileError(
            name, "permission denied", hint="check the file's permissions (chmod +r)"
        )
    if isinstance(exc, IsADirectoryError):
        return InputFileError(name, "is a directory", hint="pass the files inside it")
    return InputFileError(name, f"cannot be read: {exc.strerror or exc}")


def open_sources(
    paths: Sequence[str], fmt: Format | None = None, *, stdin: BinaryIO | None = None
) -> list[Source]:
    """Check every path and settle its format and compression; raise on the first bad one.

    ``fmt`` forces the format of every file. ``"-"`` is stdin (``stdin``, by
    default ``sys.stdin.buffer``) and may appear once. Raises
    :class:`InputFileError` naming the file, what is wrong and what to try.
    """
    if fmt is not None and fmt not in FORMATS:
        raise InputFileError(str(fmt), "is not a known format", hint=_FORMAT_HINT)
    sources: list[Source] = []
    stdin_seen = False
    for path in paths:
        if path == "-":
            if stdin_seen:
                raise InputFileError(
                    STDIN_NAME, "'-' (stdin) is given more than once", hint="pass '-' once"
                )
            stdin_seen = True
            sources.append(_stdin_source(stdin if stdin is not None else sys.stdin.buffer, fmt))
        else:
            sources.append(_file_source(path, fmt))
    return sources


def refuse_repeated_paths(paths: Sequence[str]) -> None:
    """Raise :class:`InputFileError` when one file (or folder) is named twice.

    Paths are compared by what they resolve to (``a.jsonl``, ``./a.jsonl``, a
    symbolic or hard link to it): reading a file twice would make every one of
    its rows a duplicate of itself. ``-`` (stdin) is left to
    :func:`open_sources`, which allows it once; paths that cannot be looked at
    are left to it too, which says what is wrong with them.
    """
    seen: dict[tuple[int, int], str] = {}
    for path in paths:
        if path == "-":
            continue
        try:
            st = os.stat(path)
        except (OSError, ValueError):
            continue
        ident = (st.st_dev, st.st_ino)
        first = seen.get(ident)
        if first is None:
            seen[ident] = path
        else:
            same = "" if first == path else f" (as {first!r} and {path!r})"
            raise InputFileError(
                path,
                f"is given more than once{same}",
                hint="name each input file once: its rows would be read twice, "
                "and each would be a duplicate of itself",
            )


def _file_source(path: str, fmt: Format | None) -> Source:
    name = path
    try:
        st = os.stat(path)
    except OSError as exc:
        raise _os_error(name, exc) from None
    if stat.S_ISDIR(st.st_mode):
        raise InputFileError(
            name, "is a directory", hint=f"pass the files inside it, e.g. {path}/*.jsonl"
        )
    try:
        with open(path, "rb") as raw:
            magic = raw.read(2)
    except OSError as exc:
        raise _os_error(name, exc) from None
    if not magic:
        raise InputFileError(name, "is empty", hint="pass a file that holds predictions")
    gz = _check_gzip(name, magic, path.lower().endswith(".gz"))
    with _open_path(path, name, gz) as stream:
        head = _Head(stream, name, gz)
        resolved = _resolve_format(name, path, fmt, head)
    return Source(name=name, path=path, fmt=resolved, gzip=gz)


def _stdin_source(stream: BinaryIO, fmt: Format | None) -> Source:
    name = STDIN_NAME
    magic = b""
    while len(magic) < 2:
        more = stream.read(2 - len(magic))
        if not more:
            break
        magic += more
    if not magic:
        raise InputFileError(name, "is empty", hint="pipe the predictions into upload-preds")
    gz = magic.startswith(_GZIP_MAGIC)
    data: BinaryIO = io.BufferedReader(_Replay(magic, stream), _BUFFER_BYTES)
    if gz:
        data = _gunzip(data)
    head = _Head(data, name, gz)
    resolved = _resolve_format(name, None, fmt, head)
    return Source(
        name=name,
        path=None,
        fmt=resolved,
        gzip=gz,
        _stdin=_Stdin(bytes(head.buf), data),
    )


def _check_gzip(name: str, magic: bytes, named_gz: bool) -> bool:
    gz = magic.startswith(_GZIP_MAGIC)
    if named_gz and not gz:
        raise InputFileError(
            name,
            "is named .gz but is not gzip-compressed",
            hint="rename it without .gz, or compress it with gzip",
        )
    return gz


class _Head:
    """The first decompressed bytes of a stream, read on demand for sniffing."""

    def __init__(self, stream: BinaryIO, name: str, gz: bool) -> None:
        self.stream = stream
        self.name = name
        self.gz = gz
        self.buf = bytearray()
        self.eof = False
        self.broken = False

    def fill(self, n: int) -> None:
        """Make ``buf`` hold at least ``n`` bytes, unless the stream ends first."""
        while len(self.buf) < n and not self.eof:
            try:
                data = _read_some(self.stream, max(n - len(self.buf), _SNIFF_BYTES))
            except _STREAM_ERRORS as exc:
                if not self.buf:
                    what = "is not a valid gzip file" if self.gz else "cannot be read"
                    raise InputFileError(
                        self.name,
                        f"{what}: {exc}",
                        hint="check the file (gzip -t FILE) or pass it uncompressed",
                    ) from None
                # Something was decoded before the break: reading reports the
                # break at its line, after the rows before it.
                self.eof = self.broken = True
                return
            if not data:
                self.eof = True
            self.buf += data

    def line_end(self, start: int) -> int:
        """The offset just past the line starting at ``start``, or -1 if longer than the cap."""
        while True:
            nl = self.buf.find(b"\n", start)
            if nl >= 0:
                return nl + 1
            if self.eof:
                return len(self.buf)
            if len(self.buf) - start > MAX_LINE_BYTES:
                return -1
            self.fill(len(self.buf) + _SNIFF_BYTES)


def _resolve_format(name: str, path: str | None, fmt: Format | None, head: _Head) -> Format:
    head.fill(_SNIFF_BYTES)
    start = 3 if head.buf.startswith(_BOM) else 0
    first = _WS.match(head.buf[start : start + _SNIFF_BYTES].decode("latin-1"))
    assert first is not None
    pos = start + first.end()
    while pos >= len(head.buf) and not head.eof:
        # A long run of blank lines at the start: look further.
        head.fill(len(head.buf) + _SNIFF_BYTES)
        more = _WS.match(head.buf[pos : pos + _SNIFF_BYTES].decode("latin-1"))
        assert more is not None
        pos += more.end()
    if pos >= len(head.buf):
        what = "is empty after decompression" if head.gz else "holds only blank lines"
        raise InputFileError(name, what, hint="pass a file that holds predictions")
    lead = head.buf[pos : pos + 1]
    if fmt is None and path is not None:
        base = path.lower()
        if base.endswith(".gz"):
            base = base[:-3]
        fmt = _EXTENSIONS.get(os.path.splitext(base)[1])
        if fmt == "json" and lead == b"{":
            fmt = _brace_format(head, pos)
    if fmt is None:
        if lead == b"[":
            fmt = "json"
        elif lead == b"{":
            fmt = _brace_format(head, pos)
        else:
            fmt = _delimited_format(name, head, start)
    if fmt in ("csv", "tsv"):
        _precheck_header(name, head, start, "," if fmt == "csv" else "\t")
    return fmt


def _brace_format(head: _Head, pos: int) -> Format:
    """JSONL when the first line is a JSON value of its own and more follows, else JSON."""
    end = head.line_end(pos)
    if end < 0:
        return "json"
    try:
        orjson.loads(bytes(head.buf[pos:end]))
    except orjson.JSONDecodeError:
        # A pretty-printed document (or a broken first line: then reading the
        # document reports where, and suggests --format jsonl).
        return "json"
    rest = end
    while True:
        chunk = head.buf[rest:]
        stripped = chunk.lstrip()
        if stripped:
            return "jsonl"
        if head.eof:
            return "json"
        rest = len(head.buf)
        head.fill(len(head.buf) + _SNIFF_BYTES)


def _delimited_format(name: str, head: _Head, start: int) -> Format:
    end = head.line_end(start)
    line = bytes(head.buf[start : end if end >= 0 else start + _SNIFF_BYTES])
    if b"\x00" in line:
        raise InputFileError(
            name,
            "looks binary, not like JSON, JSON Lines, CSV or TSV",
            hint="pass a prediction file, or " + _FORMAT_HINT,
        )
    tabs, commas = line.count(b"\t"), line.count(b",")
    if tabs == 0 and commas == 0:
        raise InputFileError(
            name,
            "cannot tell its format: it starts with neither '[' nor '{' and its first line "
            "has no ',' or tab",
            hint=_FORMAT_HINT,
        )
    return "tsv" if tabs > commas else "csv"


def _precheck_header(name: str, head: _Head, start: int, delimiter: str) -> None:
    """Check a CSV/TSV header at open time when it is one plain line of the head."""
    pos = start
    while True:
        end = head.line_end(pos)
        if end < 0:
            return
        raw = bytes(head.buf[pos:end])
        if raw.strip() or end == pos:
            break
        pos = end
    if not raw.strip() or raw.count(b'"') % 2:
        return  # no header, or quoted newlines: reading checks it
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return  # reading reports the undecodable byte with its line
    line = head.buf.count(b"\n", 0, pos) + 1
    try:
        cells = next(csv.reader([text], delimiter=delimiter, strict=True))
    except csv.Error:
        return
    _check_header(name, line, cells, delimiter)


def _check_header(name: str, line: int, cells: list[str], delimiter: str) -> list[str]:
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


# --------------------------------------------------------------------------- reading

Item = Record | RowError | Notice


def read_records(sources: Iterable[Source]) -> Iterator[Item]:
    """Yield every record of every source, in order, with its location.

    Bad records become :class:`RowError` and reading goes on; blank lines
    become :class:`Notice`. CSV/TSV header problems raise :class:`InputFileError`.
    """
    # One generator per source (each opens its stream when first advanced),
    # chained in C: a record passes through its reader's frame only, where a
    # delegating ``yield from`` here would resume a second frame per record.
    return chain.from_iterable(map(_reader, sources))


def _reader(src: Source) -> Iterator[Item]:
    if src.fmt == "jsonl":
        return _read_jsonl(src)
    if src.fmt == "json":
        return _read_json(src)
    return _read_delimited(src)


def _stream_error(name: str, line: int, exc: BaseException, gz: bool = True) -> RowError:
    what = "the compressed data is truncated or corrupt" if gz else "reading failed"
    return RowError(
        Location(name, line),
        None,
        "unreadable data",
        f"{what} from this line on ({exc}); the rest of the file was not read. "
        "Check it with gzip -t, or recompress it",
    )


def _read_jsonl(src: Source) -> Iterator[Item]:
    name = src.name
    with src.open() as stream:
        readline = stream.readline
        loads = orjson.loads
        dumps = orjson.dumps
        new = tuple.__new__
        limit = MAX_LINE_BYTES + 1
        lineno = 0
        bom = True
        while True:
            try:
                line = readline(limit)
            except _STREAM_ERRORS as exc:
                yield _stream_error(name, lineno + 1, exc)
                return
            if not line:
                return
            lineno += 1
            if bom:
                bom = False
                if line.startswith(_BOM):
                    line = line[3:]
            try:
                obj = loads(line)
            except orjson.JSONDecodeError as exc:
                if len(line) == limit and not line.endswith(b"\n"):
                    try:
                        _skip_line(stream, limit)
                    except _STREAM_ERRORS as exc2:
                        yield _stream_error(name, lineno, exc2)
                        return
                    yield _too_long(name, lineno)
                else:
                    yield _jsonl_problem(name, lineno, line, exc)
                continue
            if type(obj) is dict:
                # orjson keeps the last of repeated keys: a row whose colons outnumber
                # those of the parsed object written back may have lost one (exact
                # unless a colon is written as an escape, which goes the slow way too).
                # Rows with more brackets than MAX_DEPTH may be too deep (and
                # must be checked before dumps, which stops at 254 levels).
                if (
                    line.count(b"{") + line.count(b"[") > MAX_DEPTH
                    or b"\\u003" in line
                    or line.count(b":") != dumps(obj).count(b":")
                ):
                    problem = _row_problem(line, obj, Location(name, lineno))
                    if problem is not None:
                        yield problem
                        continue
                if ERROR_KEY in obj:
                    del obj[ERROR_KEY]
                # Record(Location(name, lineno), "jsonl", obj) without the two
                # Python-level NamedTuple constructors: this runs once per row.
                yield new(Record, (new(Location, (name, lineno)), "jsonl", obj))
            else:
                yield _not_object(Location(name, lineno), obj, _strip_eol(line))


def _strip_eol(line: bytes) -> bytes:
    """A line without its terminator (``\n`` or ``\r\n``): a record's raw bytes."""
    if line.endswith(b"\n"):
        line = line[:-2] if line.endswith(b"\r\n") else line[:-1]
    return line


def _skip_line(stream: BinaryIO, limit: int) -> None:
    while True:
        chunk = stream.readline(limit)
        if not chunk or chunk.endswith(b"\n"):
            return


def _too_long(name: str, line: int) -> RowError:
    return RowError(
        Location(name, line),
        None,
        "line too long",
        f"the line is longer than {MAX_LINE_BYTES // (1024 * 1024)} MiB and was skipped; "
        "split the row or check that the file has line breaks",
    )


def _undecodable(loc: Location, raw: bytes, exc: UnicodeDecodeError) -> RowError:
    col = len(raw[: exc.start].decode("utf-8", "replace")) + 1
    return RowError(
        loc,
        None,
        "undecodable byte",
        f"byte 0x{raw[exc.start]:02x} at column {col} is not UTF-8; save the file as UTF-8",
        _strip_eol(raw),
    )


def _jsonl_problem(name: str, lineno: int, line: bytes, exc: orjson.JSONDecodeError) -> Item:
    loc = Location(name, lineno)
    if not line.strip():
        return Notice(loc, "blank line skipped")
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as uexc:
        return _undecodable(loc, line, uexc)
    if "depth limit" in exc.msg:
        # orjson stops at 1024 levels.
        return _too_deep(loc, _strip_eol(line))
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
        _strip_eol(line),
    )


def _row_problem(text: bytes | str, row: dict[str, Any], loc: Location) -> RowError | None:
    """The exact check of a row the cheap test flagged: too deep, or a key given twice.

    ``text`` is the row as written (a JSONL line, a JSON document's element),
    ``row`` what it parsed to. Rows the check passes are fine as they are.
    """
    raw = _strip_eol(text) if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass")
    if _deeper_than(row, MAX_DEPTH):
        return _too_deep(loc, raw)
    # Parse again, keeping every key: only rows the cheap test flagged get here.
    tree = json.loads(text, object_pairs_hook=_pairs)
    found = _first_repeated(tree, "")
    if found is None:
        return None
    where, key = found
    return RowError(
        loc,
        f"{where}.{key}" if where else key,
        "duplicate key",
        f"the key {key!r} is given twice in one object; JSON keeps only the last value, "
        "so the other one would be lost: remove or rename one of them",
        raw,
    )


def _too_deep(loc: Location, raw: bytes) -> RowError:
    return RowError(
        loc,
        None,
        "too deeply nested",
        f"the row nests objects and arrays more than {MAX_DEPTH} levels deep; "
        "a label needs far fewer: check how the row was written",
        raw,
    )


def _deeper_than(value: dict[str, Any], limit: int) -> bool:
    """Whether ``value`` nests objects and arrays more than ``limit`` levels deep."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        for child in node.values() if type(node) is dict else node:
            if type(child) is dict or type(child) is list:
                stack.append((child, depth + 1))
    return False


class _Repeats(dict[str, Any]):
    """An object of a re-parsed row that has ``key`` more than once."""

    key: str


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) == len(pairs):
        return out
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            marked = _Repeats(out)
            marked.key = key
            return marked
        seen.add(key)
    raise AssertionError("unreachable: fewer keys than pairs means a repeat")


def _first_repeated(value: Any, path: str) -> tuple[str, str] | None:
    """The path and key of the first object (in document order) with a repeated key."""
    if isinstance(value, _Repeats):
        return path, value.key
    if isinstance(value, dict):
        for key, child in value.items():
            found = _first_repeated(child, f"{path}.{key}" if path else key)
            if found is not None:
                return found
    elif type(value) is list:
        for i, child in enumerate(value):
            found = _first_repeated(child, f"{path}[{i}]")
            if found is not None:
                return found
    return None


def _not_object(loc: Location, value: object, raw: bytes | None) -> RowError:
    kind = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number"
    )
    return RowError(
        loc, None, "not an object", f"expected a JSON object for the row, got {kind}", raw
    )


# ---- JSON documents


#: An element of a JSON document as walked: (line, value, bad-byte message or
#: None, start offset, end offset); the offsets give a failed row its raw text.
_Element = tuple[int, Any, str | None, int, int]


class _JsonDoc:
    """A decoded JSON document walked element by element, with offsets mapped to lines."""

    def __init__(self, name: str, text: str, bad_lines: dict[int, str], tail_error: str | None):
        self.name = name
        self.text = text
        self.bad_lines = bad_lines
        self.tail_error = tail_error
        self._pos = 0
        self._line = 1
        self.raw: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder(
            parse_constant=_reject_constant
        ).raw_decode

    def line_at(self, pos: int) -> int:
        # Offsets only grow while walking, so counting from the last one is linear overall.
        if pos < self._pos:
            return self.text.count("\n", 0, pos) + 1
        self._line += self.text.count("\n", self._pos, pos)
        self._pos = pos
        return self._line

    def raw_text(self, start: int, end: int) -> bytes:
        """The bytes of the document between two offsets (a failed row's raw text)."""
        return self.text[start:end].encode("utf-8", "surrogatepass")

    def ws(self, pos: int) -> int:
        m = _WS.match(self.text, pos)
        assert m is not None
        return m.end()

    def syntax(self, pos: int, msg: str) -> RowError:
        line = self.line_at(pos)
        if self.tail_error is not None and self.ws(pos) >= len(self.text):
            return _stream_error(self.name, line, Exception(self.tail_error))
        col = pos - (self.text.rfind("\n", 0, pos) + 1) + 1
        return RowError(
            Location(self.name, line),
            None,
            "invalid JSON",
            f"invalid JSON at column {col}: {msg}; the rest of the file was not read "
            "(if the file holds one object per line, use --format jsonl)",
        )

    def value(self, pos: int) -> tuple[Any, int]:
        try:
            return self.raw(self.text, pos)
        except json.JSONDecodeError as exc:
            raise _StopAt(exc.pos, exc.msg) from None
        except ValueError as exc:
            raise _StopAt(pos, str(exc)) from None
        except RecursionError:
            # The parser recurses once per level: past Python's limit the element
            # cannot be read, nor its end found, so nothing after it either.
            raise InputFileError(
                self.name,
                f"a value nested about {sys.getrecursionlimit()} levels deep or more "
                "cannot be read (rows are nested a few levels; at most "
                f"{MAX_DEPTH} are accepted)",
                line=self.line_at(pos),
                hint="check how the file was written; no row of it was read",
            ) from None

    def bad_in(self, start: int, end: int) -> str | None:
        if not self.bad_lines:
            return None
        first, last = self.line_at(start), self.text.count("\n", 0, end) + 1
        for line in range(first, last + 1):
            if line in self.bad_lines:
                return self.bad_lines[line]
        return None

    def array(self, pos: int, out: list[_Element]) -> int:
        """Walk the array at ``pos`` into ``out`` (see :data:`_Element`); return its end."""
        pos = self.ws(pos + 1)
        if self.text.startswith("]", pos):
            return pos + 1
        while True:
            start = pos
            obj, pos = self.value(pos)
            out.append((self.line_at(start), obj, self.bad_in(start, pos), start, pos))
            pos = self.ws(pos)
            c = self.text[pos : pos + 1]
            if c == ",":
                pos = self.ws(pos + 1)
            elif c == "]":
                return pos + 1
            else:
                raise _StopAt(pos, "expected ',' or ']' after an array element")


class _StopAt(Exception):
    """The document cannot be walked past ``pos`` (a syntax error there)."""

    def __init__(self, pos: int, msg: str) -> None:
        super().__init__(msg)
        self.pos = pos
        self.msg = msg


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON (write a number or null)")


def _read_json(src: Source) -> Iterator[Item]:
    name = src.name
    with src.open() as stream:
        chunks: list[bytes] = []
        tail_error: str | None = None
        while True:
            try:
                data = _read_some(stream, 1 << 20)
            except _STREAM_ERRORS as exc:
                tail_error = str(exc)
                break
            if not data:
                break
            chunks.append(data)
        raw = b"".join(chunks)
        del chunks
        if raw.startswith(_BOM):
            raw = raw[3:]
        bad_lines: dict[int, str] = {}
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = _decode_marking(raw, bad_lines)
        del raw
        doc = _JsonDoc(name, text, bad_lines, tail_error)
        rows: list[_Element] = []
        try:
            yield from _walk_document(doc, rows)
        except _StopAt as stop:
            yield from _emit_rows(doc, rows)
            yield doc.syntax(stop.pos, stop.msg)


def _decode_marking(raw: bytes, bad_lines: dict[int, str]) -> str:
    """Decode with U+FFFD for bad bytes, noting each bad byte's line; the rows there fail."""
    pos = 0
    while True:
        try:
            raw[pos:].decode("utf-8")
            break
        except UnicodeDecodeError as exc:
            at = pos + exc.start
            line_start = raw.rfind(b"\n", 0, at) + 1
            line = raw.count(b"\n", 0, at) + 1
            col = len(raw[line_start:at].decode("utf-8", "replace")) + 1
            bad_lines.setdefault(
                line,
                f"byte 0x{raw[at]:02x} at line {line} column {col} is not UTF-8; "
                "save the file as UTF-8",
            )
            pos = pos + exc.end
    return raw.decode("utf-8", "replace")


def _walk_document(doc: _JsonDoc, rows: list[_Element]) -> Iterator[Item]:
    text = doc.text
    pos = doc.ws(0)
    c = text[pos : pos + 1]
    if c == "[":
        end = doc.array(pos, rows)
    elif c == "{":
        end = yield from _walk_object(doc, pos, rows)
    elif not c:
        raise _StopAt(pos, "the document is empty")
    else:
        start = pos
        value, end = doc.value(pos)
        yield _not_object(Location(doc.name, doc.line_at(start)), value, doc.raw_text(start, end))
        rows.clear()
    yield from _emit_rows(doc, rows)
    rest = doc.ws(end)
    if rest < len(text):
        raise _StopAt(rest, "unexpected content after the JSON document")
    if doc.tail_error is not None:
        yield _stream_error(doc.name, doc.line_at(len(text)), Exception(doc.tail_error))


def _walk_object(doc: _JsonDoc, pos: int, rows: list[_Element]) -> Generator[Item, None, int]:
    """Walk a top-level object: one row, or a wrapper whose one array holds the rows.

    Returns the end offset (as the generator's value) and leaves the rows to
    emit in ``rows``. Arrays are walked element-wise as they are met, so the
    wrapper's elements keep their lines without parsing anything twice.
    """
    text = doc.text
    first_line = doc.line_at(pos)
    first = pos
    members: dict[str, Any] = {}
    arrays: dict[str, list[_Element]] = {}
    repeated: tuple[str, int] | None = None  # the first member name given twice, where
    pos = doc.ws(pos + 1)
    if text.startswith("}", pos):
        end = pos + 1
    else:
        while True:
            if not text.startswith('"', pos):
                raise _StopAt(pos, "expected a member name in double quotes")
            if repeated is None:
                key_pos = pos
            key, pos = doc.value(pos)
            if repeated is None and key in members:
                repeated = (key, key_pos)
            pos = doc.ws(pos)
            if not text.startswith(":", pos):
                raise _StopAt(pos, "expected ':' after a member name")
            pos = doc.ws(pos + 1)
            if text.startswith("[", pos):
                items: list[_Element] = []
                arrays[key] = items
                try:
                    pos = doc.array(pos, items)
                except _StopAt:
                    # The document breaks inside this array: if it looks like the
                    # rows' wrapper, hand out the rows read before the break.
                    if len(arrays) == 1 and not any(k in members for k in _SAMPLE_KEYS):
                        rows.extend(items)
                    raise
                members[key] = None
            else:
                members[key], pos = doc.value(pos)
            pos = doc.ws(pos)
            c = text[pos : pos + 1]
            if c == ",":
                pos = doc.ws(pos + 1)
            elif c == "}":
                end = pos + 1
                break
            else:
                raise _StopAt(pos, "expected ',' or '}' after an object member")
    wrapper = _wrapper_key(members, arrays)
    if wrapper is not None and repeated is not None:
        # Which of the two holds the rows? Guessing could drop a whole array.
        raise _StopAt(repeated[1], f"the member {repeated[0]!r} is given twice; keep one of them")
    if wrapper is not None:
        for key in members:
            if key != wrapper:
                yield Notice(
                    Location(doc.name, first_line),
                    f"top-level member {key!r} ignored: the rows are read from {wrapper!r}",
                )
        rows.extend(arrays[wrapper])
        return end
    row = {
        k: [e[1] for e in arrays[k]] if k in arrays else v
        for k, v in members.items()
        if k != ERROR_KEY
    }
    bad = doc.bad_in(pos, end) if doc.bad_lines else None
    rows.append((first_line, row, bad, first, end))
    return end


def _wrapper_key(members: dict[str, Any], arrays: dict[str, list[Any]]) -> str | None:
    if any(k in members for k in _SAMPLE_KEYS):
        return None
    candidates = [
        k
        for k, items in arrays.items()
        if k != "annotations" and (not items or any(type(e[1]) is dict for e in items))
    ]
    return candidates[0] if len(candidates) == 1 else None


def _emit_rows(doc: _JsonDoc, rows: list[_Element]) -> Iterator[Item]:
    name = doc.name
    for line, obj, bad, start, end in rows:
        loc = Location(name, line)
        if bad is not None:
            # The text holds U+FFFD where the bad bytes were: not the row as read.
            yield RowError(loc, None, "undecodable byte", bad)
        elif type(obj) is dict:
            text = doc.text
            # The cheap test of the JSONL reader (see there), on the element's text.
            if (
                text.count("{", start, end) + text.count("[", start, end) > MAX_DEPTH
                or text.find("\\u003", start, end) >= 0
                or text.count(":", start, end) != orjson.dumps(obj).count(b":")
            ):
                problem = _row_problem(text[start:end], obj, loc)
                if problem is not None:
                    yield problem
                    continue
            obj.pop(ERROR_KEY, None)
            yield Record(loc, "json", obj)
        else:
            yield _not_object(loc, obj, doc.raw_text(start, end))
    rows.clear()


# ---- CSV / TSV


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
        return _strip_eol(b"".join(parts))

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
                if raw.startswith(_BOM):
                    raw = raw[3:]
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                loc = Location("", self.lineno)
                self.bad[self.lineno] = ("undecodable byte", _undecodable(loc, raw, exc).message)
                self.undecoded[self.lineno] = raw
                text = raw.decode("utf-8", "replace")
            if len(raw) == limit and not raw.endswith(b"\n"):
                _skip_line(self.stream, limit)
                self.bad[self.lineno] = ("line too long", _too_long("", 0).message)
                text = "\n"
            if pending:
                self._take(self.lineno, text, len(raw))
            else:
                # The common case (a record on one line), kept inline for speed.
                self.pending_bytes = len(raw)
                pending.append((self.lineno, text))
            yield text


def _read_delimited(src: Source) -> Iterator[Item]:
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
                        header = _check_header(name, start, row, delimiter)
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
            except _STREAM_ERRORS as exc:
                yield _stream_error(name, feed.lineno + 1, exc)
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


# --------------------------------------------------------------------------- counting


def count_records(source: Source) -> int | None:
    """A cheap count of the records in ``source``, for progress totals, or ``None``.

    Uncompressed JSONL: its non-blank lines. Uncompressed CSV/TSV: its non-blank
    lines minus the header (exact unless cells hold line breaks). ``None`` for
    stdin, gzip and JSON documents, which would have to be read to be counted.
    """
    if source.path is None or source.gzip or source.fmt == "json":
        return None
    lines = 0
    blank = 0
    carry = b""
    try:
        with open(source.path, "rb") as f:
            while True:
                chunk = f.read(1 << 20)
                if not chunk:
                    break
                cut = chunk.rfind(b"\n") + 1
                whole, carry_next = carry + chunk[:cut], chunk[cut:]
                if cut == 0:
                    carry += chunk
                    continue
                lines += whole.count(b"\n")
                blank += len(_BLANK_LINES.findall(whole))
                carry = carry_next
    except OSError:
        return None
    if carry.strip():
        lines += 1
    elif carry:
        lines += 1
        blank += 1
    count = lines - blank
    if source.fmt in ("csv", "tsv"):
        count = max(count - 1, 0)
    return count
