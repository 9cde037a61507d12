"""JSON documents: one value, loaded whole and walked element by element.

The document is loaded whole (allowed: it is one value) and walked element by
element with the C scanner of :mod:`json` (``raw_decode``), which reports
where each element ends; the start offset of each element maps to its line,
and its text is kept as offsets, so a failed row keeps its raw text. A
top-level array holds rows; an object is either one row, or a wrapper whose
only array-of-objects member holds the rows (``{"predictions": [...]}``): it
is one row when it has ``sample_uuid`` or ``sample_name``, a wrapper when
exactly one member is an array of objects (other than ``annotations``);
"array of objects" means at least one element is an object, so a stray
non-object element is a row error, not a reason to misread the file. A
syntax error (or a wrapper's member given twice) stops the file after the
rows before it, because JSON cannot be resynchronised. A value nested too
deep for the parser's recursion is a file error: no row of the file is read.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Generator, Iterator
from typing import TYPE_CHECKING, Any, Final

from upload_preds.errors import InputFileError
from upload_preds.readers.common import (
    BOM,
    ERROR_KEY,
    MAX_DEPTH,
    STREAM_ERRORS,
    Item,
    read_some,
    stream_error,
)
from upload_preds.readers.detect import COCO_PROBE, WS, refuse_coco
from upload_preds.readers.rowchecks import flat_keys, not_object, row_problem
from upload_preds.records import Location, Notice, Record, RowError

if TYPE_CHECKING:
    from upload_preds.readers.sources import Source


_SAMPLE_KEYS: Final = ("sample_uuid", "sample_name")


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
        m = WS.match(self.text, pos)
        assert m is not None
        return m.end()

    def syntax(self, pos: int, msg: str) -> RowError:
        line = self.line_at(pos)
        if self.tail_error is not None and self.ws(pos) >= len(self.text):
            return stream_error(self.name, line, Exception(self.tail_error))
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


def read_json(src: Source) -> Iterator[Item]:
    name = src.name
    with src.open() as stream:
        chunks: list[bytes] = []
        tail_error: str | None = None
        while True:
            try:
                data = read_some(stream, 1 << 20)
            except STREAM_ERRORS as exc:
                tail_error = str(exc)
                break
            if not data:
                break
            chunks.append(data)
        raw = b"".join(chunks)
        del chunks
        if raw.startswith(BOM):
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
        refuse_coco(doc.name, [e[1] for e in rows[:COCO_PROBE]], len(rows))
    elif c == "{":
        end = yield from _walk_object(doc, pos, rows)
    elif not c:
        raise _StopAt(pos, "the document is empty")
    else:
        start = pos
        value, end = doc.value(pos)
        yield not_object(Location(doc.name, doc.line_at(start)), value, doc.raw_text(start, end))
        rows.clear()
    yield from _emit_rows(doc, rows)
    rest = doc.ws(end)
    if rest < len(text):
        raise _StopAt(rest, "unexpected content after the JSON document")
    if doc.tail_error is not None:
        yield stream_error(doc.name, doc.line_at(len(text)), Exception(doc.tail_error))


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
    refuse_coco(doc.name, row)
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
            # Tier 1 of rowchecks, as in the JSONL reader, on the element's text.
            if (
                text.count(":", start, end) != flat_keys(obj)
                or text.count("[", start, end) > MAX_DEPTH - 3
            ):
                problem = row_problem(text[start:end], obj, loc)
                if problem is not None:
                    yield problem
                    continue
            obj.pop(ERROR_KEY, None)
            yield Record(loc, "json", obj)
        else:
            yield not_object(loc, obj, doc.raw_text(start, end))
    rows.clear()
