"""What every reader shares: the limits on input, the key the failures file adds,
the errors of a broken stream, and the row errors more than one reader makes.

The limits bound memory per record whatever the input: a line over
:data:`MAX_LINE_BYTES` is skipped (its bytes are not kept), a CSV cell over
:data:`MAX_CSV_FIELD_CHARS` or a multi-line record over
:data:`MAX_CSV_RECORD_BYTES` fails, and a JSON row nested deeper than
:data:`MAX_DEPTH` fails (see :mod:`upload_preds.readers.rowchecks`).
"""

from __future__ import annotations

import zlib
from typing import BinaryIO, Final

from upload_preds.records import Location, Notice, Record, RowError

#: Longest accepted physical line (JSONL row, CSV line), in bytes.
MAX_LINE_BYTES: Final = 16 * 1024 * 1024
#: Longest accepted CSV/TSV cell, in characters (a ``points`` column of a big polygon fits).
MAX_CSV_FIELD_CHARS: Final = 1024 * 1024
#: Longest CSV/TSV record spanning several lines (quoted newlines); past it the
#: opening quote is taken to be unterminated.
MAX_CSV_RECORD_BYTES: Final = 4 * 1024 * 1024
#: The key/column the failures file adds to each failed row; dropped on reading.
ERROR_KEY: Final = "_error"
#: A JSONL failures file's key for a line that could not be parsed, kept as its
#: text (``{"_raw": "...", "_error": "..."}``): read back, the text is parsed in
#: place of the object, so it fails again the same way until it is fixed.
RAW_KEY: Final = "_raw"
#: Deepest accepted nesting of a JSON row's objects and arrays (the row is level 1).
#: Labels need about a dozen; far deeper rows could not be written back (orjson
#: writes 254 levels at most) or pickled, so they are row errors.
MAX_DEPTH: Final = 64

BOM: Final = b"\xef\xbb\xbf"
# What a broken compressed stream or a failing disk raises while reading.
STREAM_ERRORS: Final = (EOFError, OSError, zlib.error)

#: What a reader yields.
Item = Record | RowError | Notice


def read_some(stream: BinaryIO, n: int) -> bytes:
    """Read what is available, up to ``n`` bytes (``read1`` when the stream has it).

    ``read1`` returns what one underlying read produced, so the data decoded
    before a truncated gzip stream breaks is not thrown away with the error.
    """
    read1 = getattr(stream, "read1", None)
    data = read1(n) if read1 is not None else stream.read(n)
    return bytes(data) if data else b""


def stream_error(name: str, line: int, exc: BaseException, gz: bool = True) -> RowError:
    what = "the compressed data is truncated or corrupt" if gz else "reading failed"
    return RowError(
        Location(name, line),
        None,
        "unreadable data",
        f"{what} from this line on ({exc}); the rest of the file was not read. "
        "Check it with gzip -t, or recompress it",
    )


def strip_eol(line: bytes) -> bytes:
    """A line without its terminator (``\n`` or ``\r\n``): a record's raw bytes."""
    if line.endswith(b"\n"):
        line = line[:-2] if line.endswith(b"\r\n") else line[:-1]
    return line


def skip_line(stream: BinaryIO, limit: int) -> None:
    while True:
        chunk = stream.readline(limit)
        if not chunk or chunk.endswith(b"\n"):
            return


def too_long(name: str, line: int) -> RowError:
    return RowError(
        Location(name, line),
        None,
        "line too long",
        f"the line is longer than {MAX_LINE_BYTES // (1024 * 1024)} MiB and was skipped; "
        "split the row or check that the file has line breaks",
    )


def undecodable(loc: Location, raw: bytes, exc: UnicodeDecodeError) -> RowError:
    col = len(raw[: exc.start].decode("utf-8", "replace")) + 1
    return RowError(
        loc,
        None,
        "undecodable byte",
        f"byte 0x{raw[exc.start]:02x} at column {col} is not UTF-8; save the file as UTF-8",
        strip_eol(raw),
    )
