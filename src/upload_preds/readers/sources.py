"""Opening the input files: every path checked up front, its format and compression settled.

:func:`open_sources` checks every path before any row is read (exists, is a
file, readable, not empty, gzip when it says so) and settles its
:class:`Source`: display name, format (see :mod:`upload_preds.readers.detect`)
and compression. gzip is recognised by its magic bytes, whatever the name; a
``.gz`` name without them is an error. ``-`` is stdin: its first bytes are
buffered for sniffing and replayed in front of the rest.
:func:`refuse_repeated_paths` (called by a run before anything else) refuses
a file named twice, however it is spelt. :func:`count_records` counts the
records of a plain file cheaply, for progress totals.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import re
import stat
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Final, cast

from upload_preds.errors import InputFileError
from upload_preds.readers.common import read_some
from upload_preds.readers.detect import BUFFER_BYTES, FORMAT_HINT, Head, resolve_format
from upload_preds.records import FORMATS, STDIN_NAME, Format

_GZIP_MAGIC: Final = b"\x1f\x8b"
_BLANK_LINES = re.compile(rb"^[ \t\r]*\n", re.MULTILINE)


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
        data = read_some(self._tail, len(view))
        view[: len(data)] = data
        return len(data)


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
            yield io.BufferedReader(_Replay(self._stdin.head, self._stdin.stream), BUFFER_BYTES)
            return
        assert self.path is not None
        with _open_path(self.path, self.name, self.gzip) as stream:
            yield stream


@contextlib.contextmanager
def _open_path(path: str, name: str, gz: bool) -> Iterator[BinaryIO]:
    try:
        raw = open(path, "rb", buffering=BUFFER_BYTES)  # noqa: SIM115 (closed below)
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
    return io.BufferedReader(_Replay(b"", unzipped), BUFFER_BYTES)


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
        raise InputFileError(str(fmt), "is not a known format", hint=FORMAT_HINT)
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
        head = Head(stream, name, gz)
        resolved = resolve_format(name, path, fmt, head)
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
    data: BinaryIO = io.BufferedReader(_Replay(magic, stream), BUFFER_BYTES)
    if gz:
        data = _gunzip(data)
    head = Head(data, name, gz)
    resolved = resolve_format(name, None, fmt, head)
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
