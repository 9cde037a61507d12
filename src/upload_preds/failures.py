"""Failures files: failed rows written back in their input's own format.

Every failed row of a run lands in a failures file, with an ``_error`` that
says why, so the file can be fixed and fed straight back in with the same
command. One interface, :class:`FailureSink` (``add`` rows as they fail,
``close`` to put the files in place), and :func:`open_failures`, which picks
the writer by the input's format:

* :class:`RowFailures` for the native row formats. JSON and JSONL rows go to
  ``<input>.failed.jsonl``, one object per row; CSV and TSV records go to
  ``<input>.failed.csv`` / ``.tsv`` under the input's own header plus an
  ``_error`` column.
* :class:`~upload_preds.detectorfailures.DetectorFailures` for ``--format
  coco|yolo|mot``: a COCO results list (or instances file), or a folder of
  YOLO or MOTChallenge txt files with an errors sidecar.

How each failed entry's ``_error`` is worded (its own errors, or that it went
down with its label) is in :mod:`upload_preds.failuremessages`.

A record the reader could not parse (a line that is not JSON, a CSV record
with a broken quote) has no fields to write back; it is written as its raw
text (:attr:`~upload_preds.records.RowError.raw`), in a form the reader reads
again as the same failing record:

* JSONL: ``{"_raw": "<the line>", "_error": "..."}``. The reader parses
  ``_raw`` in place of the object (:data:`~upload_preds.readers.RAW_KEY`), so
  the row fails again with the same error until ``_raw`` is fixed (or the line
  replaced by the fixed object). A line that is not UTF-8 cannot be a JSON
  string: it is copied as it was, and fails again as not UTF-8.
* CSV/TSV: the record's text as it was, with its ``_error`` cell appended: its
  cells stay in the header's columns, and the reader fails it again for the
  same reason (a wrong number of cells, a broken quote; the error of a quote
  that never closes is written inside that open quote, see
  :func:`_raw_csv_line`).

Files appear only when something failed, and under their final name only when
complete (written under a temporary name, then renamed). A write that fails
(a full disk) removes the temporary files and raises
:class:`~upload_preds.errors.OutputError`: the run stops, what was uploaded is
recorded in the journal, and no half-written file is left.

:meth:`FailureSink.targets` names every path the sink may write, before
anything is read, so that the run can refuse outputs that would overwrite an
input or each other (:mod:`upload_preds.outputs`).
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, BinaryIO, Protocol

import orjson

from upload_preds.detectorfailures import DetectorFailures
from upload_preds.errors import OutputError
from upload_preds.failuremessages import csv_line_error, write_failed
from upload_preds.outputs import AtomicWriter
from upload_preds.readers import ERROR_KEY, RAW_KEY, Source
from upload_preds.records import STDIN_NAME, Location, RowError

#: Failed rows: each source location with its original data (``{}`` when unparsed).
FailedRows = Sequence[tuple[Location, dict[str, Any]]]


class FailureSink(Protocol):
    """Where a run's failed rows go; one per run, chosen by :func:`open_failures`."""

    def targets(self) -> list[Path]:
        """Every path this sink may write (files or a folder), known before reading."""
        ...

    def add(self, rows: FailedRows, message: str, errors: Sequence[RowError] = ()) -> None:
        """Write back ``rows``, which failed with ``message`` (``errors``: located causes)."""
        ...

    def close(self) -> list[str]:
        """Put every file in place; the paths written (the retry command names them)."""
        ...


def open_failures(
    sources: Sequence[Source],
    target: Path | None,
    *,
    detector_fmt: str | None = None,
    detector_paths: Sequence[str] = (),
) -> FailureSink:
    """The sink for a run's inputs: detector files (COCO/YOLO) or native rows."""
    if detector_fmt is not None:
        return DetectorFailures(detector_paths, detector_fmt, target)
    return RowFailures(sources, target)


def _raw_of(loc: Location, errors: Sequence[RowError]) -> bytes | None:
    """The raw text of the record at ``loc`` that could not be parsed, if the reader kept it."""
    for e in errors:
        if e.loc == loc and e.raw is not None:
            return e.raw
    return None


# ---------------------------------------------------------------------------
# JSON, JSONL, CSV, TSV


def default_failures_path(source: Source) -> Path:
    """``preds.jsonl`` → ``preds.failed.jsonl``; CSV/TSV keep their format."""
    ext = {"csv": ".csv", "tsv": ".tsv"}.get(source.fmt, ".jsonl")
    if source.name == STDIN_NAME or source.path is None:
        return Path(f"upload-preds.failed{ext}")
    path = Path(source.name)
    name = path.name
    for suffix in (".gz", ".jsonl", ".ndjson", ".json", ".csv", ".tsv"):
        name = name.removesuffix(suffix)
    return path.with_name(f"{name}.failed{ext}")


class _CsvSpool:
    """A CSV/TSV input's failed records, kept until the end in a temporary JSONL file.

    The file's header is written first, and it is known only at the end (the
    input's header, read again then). Each spool line is ``[data, error]`` for
    a parsed record, or ``[raw text, error]`` for one that could not be parsed
    (latin-1, which maps bytes to text one to one).
    """

    def __init__(self) -> None:
        fd, self.name = tempfile.mkstemp(prefix="upload-preds-failed-")
        self.file: BinaryIO = os.fdopen(fd, "w+b")
        self.columns: list[str] = []  # the union of the data's keys, in order met

    def add(self, data: dict[str, Any] | str, error: str) -> None:
        if isinstance(data, dict):
            for key in data:
                if key not in self.columns:
                    self.columns.append(key)
        self.file.write(orjson.dumps([data, error]) + b"\n")

    def discard(self) -> None:
        self.file.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.name)


class RowFailures:
    """Failed rows of JSON/JSONL/CSV/TSV inputs, one failures file per input.

    ``--failures PATH`` names the file when there is one input (a folder that
    exists takes the default name inside it), else a folder for all of them.
    JSON rows are written as JSONL as they fail; CSV/TSV records are spooled
    until the end (:class:`_CsvSpool`).
    """

    def __init__(self, sources: Sequence[Source], target: Path | None) -> None:
        self._sources = list(sources)
        self._by_name = {s.name: s for s in sources}
        self._target = target
        self._into_folder = len(sources) > 1 or (target is not None and target.is_dir())
        self._json: dict[str, AtomicWriter] = {}
        self._csv: dict[str, _CsvSpool] = {}
        self._written: list[str] = []

    def _path_for(self, source: Source) -> Path:
        default = default_failures_path(source)
        if self._target is None:
            return default
        if self._into_folder:
            return self._target / default.name
        return self._target

    def targets(self) -> list[Path]:
        return [self._path_for(s) for s in self._sources]

    def add(self, rows: FailedRows, message: str, errors: Sequence[RowError] = ()) -> None:
        """Write back ``rows``, which failed with ``message``.

        ``errors`` are the label's errors with their locations, when known: a
        CSV/TSV line then gets its own errors rather than the whole label's
        (:func:`csv_line_error`), and a record that could not be parsed its
        raw text. A JSON row is a label by itself: its ``_error`` is ``message``.
        """
        for loc, data in rows:
            source = self._by_name.get(loc.file)
            if source is None:
                continue
            raw = None if data else _raw_of(loc, errors)
            if not data and raw is None:
                continue  # nothing was kept of it (e.g. a line too long to hold)
            if source.fmt in ("csv", "tsv"):
                spool = self._csv.get(source.name)
                if spool is None:
                    spool = self._csv[source.name] = _CsvSpool()
                error = csv_line_error(loc, message, errors)
                try:
                    spool.add(data if raw is None else raw.decode("latin-1"), error)
                except OSError as exc:
                    raise self._broken(self._path_for(source), exc) from None
            elif len(rows) > 1:
                # Rows of one sequence label (convert/sequences.py): each its own error.
                error = csv_line_error(loc, message, errors)
                self._write_json(source, _json_line(data, raw, error))
            else:
                self._write_json(source, _json_line(data, raw, message))

    def _write_json(self, source: Source, line: bytes) -> None:
        writer = self._json.get(source.name)
        try:
            if writer is None:
                writer = self._json[source.name] = AtomicWriter(self._path_for(source))
            writer.write(line)
        except OSError as exc:
            raise self._broken(self._path_for(source), exc) from None

    def _broken(self, path: Path, exc: OSError) -> OutputError:
        """A write failed: drop every temporary file, and say which file could not be written."""
        self.discard()
        return write_failed(path, exc)

    def discard(self) -> None:
        """Remove every temporary file; nothing more is written."""
        for writer in self._json.values():
            writer.abort()
        self._json.clear()
        for spool in self._csv.values():
            spool.discard()
        self._csv.clear()

    def close(self) -> list[str]:
        for name, writer in list(self._json.items()):
            try:
                writer.commit()
            except OSError as exc:
                raise self._broken(writer.path, exc) from None
            del self._json[name]
            self._written.append(str(writer.path))
        for name, spool in list(self._csv.items()):
            source = self._by_name[name]
            path = self._path_for(source)
            try:
                _write_csv(path, source, spool)
            except OSError as exc:
                raise self._broken(path, exc) from None
            spool.discard()
            del self._csv[name]
            self._written.append(str(path))
        return self._written


def _json_line(data: dict[str, Any], raw: bytes | None, message: str) -> bytes:
    if raw is None:
        return orjson.dumps({**data, ERROR_KEY: message}) + b"\n"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        # Not UTF-8, so not a JSON string: the line as it was fails again the same way.
        return raw.rstrip(b"\r\n") + b"\n"
    return orjson.dumps({RAW_KEY: text.rstrip("\r\n"), ERROR_KEY: message}) + b"\n"


def _input_header(source: Source, delimiter: str) -> list[str] | None:
    """The input's header (without a previous ``_error`` column), or None if unreadable."""
    # Any failure to read it again (gone, unreadable) falls back to the data's own columns.
    with contextlib.suppress(Exception), source.open() as stream:
        lines = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
        for row in csv.reader(lines, delimiter=delimiter):
            if row and any(cell.strip() for cell in row):
                return [c for c in row if c != ERROR_KEY]
    return None


def _write_csv(path: Path, source: Source, spool: _CsvSpool) -> None:
    """The CSV/TSV failures file: the input's header plus ``_error``, then the spooled records."""
    delimiter = "\t" if source.fmt == "tsv" else ","
    header = _input_header(source, delimiter) or []
    columns = header + [c for c in spool.columns if c not in header]
    out = AtomicWriter(path)
    try:
        text = io.StringIO()
        writer = csv.writer(text, delimiter=delimiter)
        writer.writerow([*columns, ERROR_KEY])
        spool.file.seek(0)
        for line in spool.file:
            data, error = orjson.loads(line)
            if isinstance(data, dict):
                writer.writerow([*(data.get(c, "") for c in columns), error])
            else:
                # A record that could not be parsed: its text as it was, then its error.
                out.write(text.getvalue().encode("utf-8"))
                text.seek(0)
                text.truncate()
                out.write(_raw_csv_line(data, error, delimiter))
            if text.tell() > 1 << 20:
                out.write(text.getvalue().encode("utf-8"))
                text.seek(0)
                text.truncate()
        out.write(text.getvalue().encode("utf-8"))
        out.commit()
    except BaseException:
        out.abort()
        raise


def _raw_csv_line(raw: str, error: str, delimiter: str) -> bytes:
    """A record that could not be parsed (``raw``, latin-1) with its ``_error`` cell appended.

    A record whose quote never closes keeps it open: the error is written as
    text inside that quoted cell (its quotes doubled), so the record still runs
    on unclosed when read again and fails for the same reason; a closed quote
    would turn it into another error.
    """
    line = raw.rstrip("\r\n").encode("latin-1") + delimiter.encode()
    if line.count(b'"') % 2:
        return line + error.replace('"', '""').encode("utf-8") + b"\r\n"
    cell = io.StringIO()
    csv.writer(cell, delimiter=delimiter).writerow([error])
    return line + cell.getvalue().encode("utf-8")


__all__ = [
    "FailedRows",
    "FailureSink",
    "RowFailures",
    "default_failures_path",
    "open_failures",
]
