"""The first pass over the input: :class:`Scan`, what it learned, and the pass itself.

:meth:`Scanner.scan` reads every row only for its key and feeds a
:class:`~upload_preds.dedupe.DuplicateIndex` (the duplicate labels the second
pass must fail or supersede); with ``full`` it also collects what the
preflight needs: label sets, sample names and uuids (bounded by
:data:`MAX_LOOKUP_NAMES`), a sample uuid, the row count, and the image keys
of detector formats. A mixin of :class:`~upload_preds.pipeline.Preparer`,
which holds the inputs named below.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from upload_preds.convert.seqlines import looks_like_part
from upload_preds.dedupe import DuplicateIndex
from upload_preds.formats import FormatSource
from upload_preds.labelkey import LabelKey, Resolve
from upload_preds.readers import Source, read_records
from upload_preds.records import Location, Record, RowError

__all__ = ["CSV_FORMATS", "JSON_FORMATS", "MAX_LOOKUP_NAMES", "Scan", "Scanner"]

JSON_FORMATS = ("json", "jsonl")
CSV_FORMATS = ("csv", "tsv")


#: Above this many distinct sample names a file always pages the dataset's
#: sample list (lookups would take more round trips than paging all but the
#: largest datasets), so the scan stops collecting them.
MAX_LOOKUP_NAMES = 100_000


@dataclass(slots=True)
class Scan:
    """What the first pass learned about the input."""

    rows: int = 0
    duplicates: dict[str, list[Location]] = field(default_factory=dict)
    labelsets: set[str] = field(default_factory=set)
    first_uuid: str | None = None
    uses_names: bool = False
    #: The image keys of detector-format inputs (COCO/YOLO), for the plan's match counts.
    keys: list[str] = field(default_factory=list)
    #: The distinct ``sample_name`` values of rows: the preflight looks these up
    #: one by one instead of paging the dataset when they are few. Collected up
    #: to :data:`MAX_LOOKUP_NAMES` only, so memory stays bounded; past that
    #: ``names_overflow`` is set (and the set emptied): so many names page.
    names: set[str] = field(default_factory=set)
    names_overflow: bool = False
    #: The distinct ``sample_uuid`` values of per-frame rows (parts of sequence
    #: labels), whose frame counts the preflight reads; bounded like ``names``.
    uuids: set[str] = field(default_factory=set)
    uuids_overflow: bool = False
    #: The distinct ``sample_uuid`` values of all rows, for the guard (which reads
    #: only the file's samples when they are few); bounded like ``names``.
    sample_uuids: set[str] = field(default_factory=set)
    sample_uuids_overflow: bool = False


class Scanner:
    """The first pass of :class:`~upload_preds.pipeline.Preparer`."""

    sources: list[Source]
    format_sources: list[FormatSource]
    resolve: Resolve | None
    _default_labelset: str
    _dedupe_csv: bool
    _scan: Scan | None

    def scan(self, *, full: bool = True) -> Scan:
        """The first pass: duplicate keys of JSON rows and CSV labels; with ``full``,
        also what the preflight needs to know (label sets, sample names, a sample
        uuid, row count) from every source."""
        out = Scan()
        default = self._default_labelset
        dedupe_csv = self._dedupe_csv
        sources = (
            self.sources
            if full or dedupe_csv
            else [s for s in self.sources if s.fmt in JSON_FORMATS]
        )
        if full:
            for fsrc in self.format_sources:
                for image_key, n in fsrc.image_keys():
                    out.rows += n
                    out.keys.append(image_key)
            if out.keys:
                out.uses_names = True
                out.labelsets.add(default)
        if not sources:
            self._scan = out
            return out
        resolve = self.resolve
        with DuplicateIndex() as index:
            last: tuple[str, str] | None = None  # the last CSV record's file and key
            for item in read_records(sources):
                if not isinstance(item, Record):
                    if isinstance(item, RowError):
                        out.rows += 1
                    continue
                out.rows += 1
                data = item.data
                if looks_like_part(item):
                    # A part of a sequence label: its many rows per key are one label,
                    # not duplicates (see seqgroups.py). Its sample's frame count is
                    # needed: the uuids, for the preflight (bounded like the names).
                    if full and not out.uuids_overflow:
                        uuid = data.get("sample_uuid")
                        if isinstance(uuid, str) and uuid.strip():
                            out.uuids.add(uuid.strip())
                            if len(out.uuids) > MAX_LOOKUP_NAMES:
                                out.uuids_overflow = True
                                out.uuids = set()
                elif item.fmt in JSON_FORMATS:
                    key = LabelKey.of_row(data, default)
                    if key is not None:
                        if resolve is not None:  # inputs by uuid pay nothing here
                            key = key.resolved(resolve)
                        index.add(key.text, item.loc)
                elif dedupe_csv:
                    key = LabelKey.of_cells(data, default)
                    if key is not None and resolve is not None:
                        key = key.resolved(resolve)
                    # A sorted file's records of one label come in a run: one add.
                    if key is not None and (item.loc.file, key.text) != last:
                        index.add(key.text, item.loc, grouped=True)
                        last = (item.loc.file, key.text)
                if full:
                    labelset = data.get("labelset")
                    if labelset is None:  # JSON null is the default, as for the converter
                        labelset = default
                    if isinstance(labelset, str) and labelset.strip():
                        out.labelsets.add(labelset.strip())
                    uuid = data.get("sample_uuid")
                    if isinstance(uuid, str) and uuid.strip():
                        if out.first_uuid is None:
                            out.first_uuid = uuid.strip()
                        if not out.sample_uuids_overflow:
                            # As written and trimmed: a converter may use either.
                            out.sample_uuids.update({uuid, uuid.strip()})
                            if len(out.sample_uuids) > MAX_LOOKUP_NAMES:
                                out.sample_uuids_overflow = True
                                out.sample_uuids = set()
                    elif isinstance(data.get("sample_name"), str):
                        out.uses_names = True
                        if not out.names_overflow:
                            out.names.add(data["sample_name"])
                            if len(out.names) > MAX_LOOKUP_NAMES:
                                out.names_overflow = True
                                out.names = set()
            out.duplicates = index.duplicates()
        self._scan = out
        return out
