"""Format detection: which of JSONL, JSON, CSV and TSV a file holds.

The format comes from ``fmt`` when given, else from the extension (``.jsonl
.ndjson .json .csv .tsv``, after stripping ``.gz``), else from the content:
``[`` is JSON; ``{`` is JSONL unless the first line is not a complete JSON
value by itself or nothing but whitespace follows it (then the file is one
JSON document); anything else is CSV or TSV, whichever separator the header
line holds more of. A ``.json`` file starting with ``{`` goes through the same
``{`` rule, so a ``.json`` file that really holds JSON Lines is read as JSONL.
The first bytes are read through :class:`Head` (decompressed, on demand); a
CSV/TSV header that sits on one plain line is checked here already, so that
a bad header fails the file before any row of any file is read.

A JSON document is also checked for being a detector's COCO file read without
``--format coco`` (:func:`refuse_coco`): a results list (objects with
``image_id``, ``category_id``, ``bbox`` or ``segmentation``) or an instances
file (``images``, ``annotations``, ``categories``). Read as rows, each of its
detections would fail three times over; it fails once, as a file, naming the
flags that read it.

A file that is not rows is named for what it is when its first line says so
(:func:`_tracker_or_detector`): comma-separated numbers in a MOTChallenge
layout (``frame,id,bb_left,...``: no CSV of rows starts without a header) or a
YOLO label line (``class cx cy w h``, spaces); the error names the
``--format`` that reads it rather than failing every line as a CSV record.
"""

from __future__ import annotations

import csv
import os
import re
from typing import Any, BinaryIO, Final

import orjson

from upload_preds.errors import InputFileError
from upload_preds.readers.common import BOM, MAX_LINE_BYTES, STREAM_ERRORS, read_some
from upload_preds.readers.delimited import check_header
from upload_preds.records import FORMATS, Format

_SNIFF_BYTES: Final = 64 * 1024
BUFFER_BYTES: Final = 256 * 1024
FORMAT_HINT: Final = "name the format with --format " + "|".join(FORMATS)
WS = re.compile(r"[ \t\n\r]*")
_EXTENSIONS: Final[dict[str, Format]] = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
    ".csv": "csv",
    ".tsv": "tsv",
}


#: Keys of upload-preds rows; a COCO detection has none of them.
_ROW_KEYS: Final = frozenset({"sample_uuid", "sample_name", "annotations", "attributes"})
#: How many leading elements of a JSON array decide whether it is a COCO results list.
COCO_PROBE: Final = 3


def refuse_coco(name: str, value: Any, count: int = 1) -> None:
    """Raise :class:`InputFileError` when a parsed JSON document is a COCO results list
    (``value``: its first elements; ``count``: how many it has) or a COCO instances file
    (``value``: the top-level object), read without ``--format coco``."""
    if type(value) is list:
        probe = value[:COCO_PROBE]
        if probe and all(
            type(d) is dict
            and "image_id" in d
            and "category_id" in d
            and ("bbox" in d or "segmentation" in d)
            and not d.keys() & _ROW_KEYS
            for d in probe
        ):
            raise InputFileError(
                name,
                f"this is a COCO results list ({count:,} detections with image_id and "
                "category_id), not upload-preds rows",
                hint="read it with --format coco --coco-gt INSTANCES.json (the COCO dataset "
                "file that names its images and categories)",
            )
    elif (
        type(value) is dict
        and {"images", "annotations", "categories"} <= value.keys()
        and not value.keys() & {"sample_uuid", "sample_name"}
    ):
        raise InputFileError(
            name,
            "this is a COCO dataset (instances) file, not upload-preds rows",
            hint="read its annotations as predictions with --format coco",
        )


class Head:
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
                data = read_some(self.stream, max(n - len(self.buf), _SNIFF_BYTES))
            except STREAM_ERRORS as exc:
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


def resolve_format(name: str, path: str | None, fmt: Format | None, head: Head) -> Format:
    head.fill(_SNIFF_BYTES)
    start = 3 if head.buf.startswith(BOM) else 0
    first = WS.match(head.buf[start : start + _SNIFF_BYTES].decode("latin-1"))
    assert first is not None
    pos = start + first.end()
    while pos >= len(head.buf) and not head.eof:
        # A long run of blank lines at the start: look further.
        head.fill(len(head.buf) + _SNIFF_BYTES)
        more = WS.match(head.buf[pos : pos + _SNIFF_BYTES].decode("latin-1"))
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


def _brace_format(head: Head, pos: int) -> Format:
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


def _delimited_format(name: str, head: Head, start: int) -> Format:
    end = head.line_end(start)
    line = bytes(head.buf[start : end if end >= 0 else start + _SNIFF_BYTES])
    if b"\x00" in line:
        raise InputFileError(
            name,
            "looks binary, not like JSON, JSON Lines, CSV or TSV",
            hint="pass a prediction file, or " + FORMAT_HINT,
        )
    _tracker_or_detector(name, line)
    tabs, commas = line.count(b"\t"), line.count(b",")
    if tabs == 0 and commas == 0:
        raise InputFileError(
            name,
            "cannot tell its format: it starts with neither '[' nor '{' and its first line "
            "has no ',' or tab",
            hint=FORMAT_HINT,
        )
    return "tsv" if tabs > commas else "csv"


def _tracker_or_detector(name: str, line: bytes) -> None:
    """Raise :class:`InputFileError` when the first line is a MOTChallenge or YOLO line."""
    from upload_preds.formats.mot import LAYOUTS, mot_columns, yolo_like

    text = line.decode("latin-1")
    n = mot_columns(text)
    if n is not None:
        needs = "" if "class" in LAYOUTS[n] else " --mot-category NAME"
        raise InputFileError(
            name,
            f"this is MOTChallenge tracking output ({n} numbers a line: "
            f"{','.join(LAYOUTS[n])}), not upload-preds rows",
            hint=f"read it with --format mot{needs} (one sequence label per file)",
        )
    if yolo_like(text):
        raise InputFileError(
            name,
            "this is a YOLO label file (class cx cy w h [conf], normalised), not upload-preds rows",
            hint="read it with --format yolo --yolo-names data.yaml --images DIR",
        )


def _precheck_header(name: str, head: Head, start: int, delimiter: str) -> None:
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
    check_header(name, line, cells, delimiter)
