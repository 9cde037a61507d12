"""From input files to label jobs: the read → convert → group → dedupe stages.

:class:`Preparer` turns sources into a lazy stream of :data:`Item` values, one
per label or per failed/skipped group of input records, so that every input
record ends in exactly one outcome::

    sources ──read_records──▶ Record | RowError | Notice
      JSON/JSONL rows ──Converter.convert──▶ LabelJob | Failure   (streamed)
      CSV/TSV records ──Converter.csv_part──▶ Grouper (bounded memory)
                      ──Converter.convert_group──▶ LabelJob | Failure

Duplicates: two labels for the same (sample, label set) must *both* fail (each
naming the other's location), or with ``on_duplicate="last"`` the last one wins
and the others are skipped as superseded. A label is one JSON/JSONL row, or
the CSV/TSV records of one sample *in one file* (a CSV file's records of a
sample form one label by design; the same sample in two CSV files, or in a CSV
file and a JSON row, is two labels). "Last" is input order: the order of the
files on the command line, then line order; a CSV label stands at its first
line. Knowing all that before the first of them is emitted needs a look
ahead, so the input is read twice: a first pass reads each row only for its
key and feeds a :class:`~upload_preds.dedupe.DuplicateIndex` (bounded memory;
a CSV file's records of one key count once), the second pass converts. CSV
files take part only when there is more than one input file (within one file
they cannot repeat a label). Standard input is spooled to a temporary file
first so that it can be read twice.

A run that sends nothing (a dry run) needs no look-ahead: after
:meth:`Preparer.single_pass` the input is read once. Each JSON row is checked
with :meth:`Converter.plan <upload_preds.convert.Converter.plan>` (the same
checks as ``convert``; annotation objects are built only if asked for) and its
label yielded at once, while a 64-bit hash of its key goes into a
:class:`~upload_preds.dedupe.HashSieve`; failures are held back in a temporary
file. The hashes of CSV records go into one more sieve per CSV file, which counts
each value once (``distinct``), so only a key in two files repeats. At the
end, only if some hash repeats, the inputs are read again to confirm the real
duplicates; labels already yielded for duplicate rows are taken back through
the caller's ``on_retract``, and the held-back failures come out merged in
input order with the duplicates' failures (or superseded skips). CSV labels
come out last in both modes, after the duplicates are known, so none of them
is ever taken back.
Measured on 1M JSONL rows of 5 boxes: the two-pass way cost about 9x
``orjson.loads`` of the same lines, the single pass under 4x.

Names resolved: once a run knows the dataset's samples it calls
:meth:`Preparer.resolve_names`, and from then on keys name samples by uuid
(:meth:`LabelKey.resolved <upload_preds.labelkey.LabelKey.resolved>`), so a
``sample_name`` row and a ``sample_uuid`` row of one sample, or two names
``--match`` maps to one sample, are duplicates like any others. The first pass
ran before that, so its duplicate keys are found again (one more read, only
for inputs that name samples; a uuid input's keys are not touched). Offline
(no dataset) names cannot be resolved and are compared as written. Labels of
detector formats (COCO, YOLO) are not deduplicated.

Which label a row is comes from :class:`~upload_preds.labelkey.LabelKey`; the
values handed out (:class:`~upload_preds.records.Failure`,
:class:`~upload_preds.records.Skip`) live in :mod:`upload_preds.records`, the
plan that counts them in :mod:`upload_preds.plan`, and the files written
beside a run in :mod:`upload_preds.outputs`.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Literal

from upload_preds.catmap import CategoryResolver
from upload_preds.convert import Converter
from upload_preds.convert.seqlines import looks_like_part
from upload_preds.dedupe import (
    SIEVE_CHUNK,
    SIEVE_PARTS,
    DuplicateIndex,
    HashSieve,
    duplicate_message,
    repeated_across,
)
from upload_preds.formats import FormatOptions, FormatRow, FormatSource, open_format_sources
from upload_preds.formats.tracks import sequence_label
from upload_preds.gcpolicy import frozen_heap
from upload_preds.grouping import Grouper
from upload_preds.labelkey import LabelKey, Resolve, job_hash, resolved_group
from upload_preds.readers import Source, open_sources, read_records
from upload_preds.records import (
    Failure,
    LabelJob,
    Location,
    Notice,
    Record,
    RowError,
    Skip,
)
from upload_preds.seqgroups import SequenceGroups

__all__ = ["Item", "OnDuplicate", "Preparer", "Scan"]

OnDuplicate = Literal["error", "last"]

#: What the pipeline hands out: one per label, or per failed or skipped group of records.
Item = LabelJob | Failure | Skip | Notice


def _split_by_file(
    members: list[tuple[Location, dict[str, Any]]],
) -> list[list[tuple[Location, dict[str, Any]]]]:
    """A group's items cut into one run per file (items are in input order)."""
    out: list[list[tuple[Location, dict[str, Any]]]] = []
    for member in members:
        if out and out[-1][0][0].file == member[0].file:
            out[-1].append(member)
        else:
            out.append([member])
    return out


class _Spool:
    """Python objects pickled to an anonymous temporary file, read back in order.

    The one-pass dry run holds back failed rows (and re-read duplicate
    candidates) here until it knows which rows are duplicates: bounded memory
    however many rows fail, and no cost when none do.
    """

    def __init__(self) -> None:
        self._file: Any = None
        self.count = 0

    def add(self, obj: object) -> None:
        if self._file is None:
            # Closed by close(); an anonymous file, gone even after a crash.
            self._file = tempfile.TemporaryFile(prefix="upload-preds-held-")  # noqa: SIM115
        pickle.dump(obj, self._file, pickle.HIGHEST_PROTOCOL)
        self.count += 1

    def __iter__(self) -> Iterator[Any]:
        f = self._file
        if f is None:
            return
        f.flush()
        f.seek(0)
        for _ in range(self.count):
            yield pickle.load(f)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> _Spool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _spool(source: Source, stack: contextlib.ExitStack) -> Source:
    """Copy a once-only source (stdin) to a temporary file so it can be read twice."""
    fd, name = tempfile.mkstemp(prefix="upload-preds-stdin-")
    stack.callback(os.unlink, name)
    with os.fdopen(fd, "wb") as out, source.open() as stream:
        shutil.copyfileobj(stream, out, 1 << 20)
    return Source(name=source.name, path=name, fmt=source.fmt, gzip=False)


_JSON_FORMATS = ("json", "jsonl")
_CSV_FORMATS = ("csv", "tsv")


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


class Preparer:
    """Runs the read/convert/group/dedupe stages over a set of inputs."""

    def __init__(
        self,
        paths: Sequence[str],
        converter: Converter | None,
        *,
        fmt: str | None = None,
        default_labelset: str = "ground-truth",
        on_duplicate: OnDuplicate = "error",
        stdin: BinaryIO | None = None,
        formats: FormatOptions | None = None,
        resolver: CategoryResolver | None = None,
    ) -> None:
        self._converter: Converter | None = converter
        self._default_labelset = default_labelset
        self._on_duplicate = on_duplicate
        self._stack = contextlib.ExitStack()
        # Detector formats (COCO, YOLO) are read by their own readers, after the rows.
        self.format_sources: list[FormatSource] = (
            open_format_sources(list(paths), formats) if formats is not None else []
        )
        self.resolver = resolver if resolver is not None else CategoryResolver()
        sources = (
            open_sources(list(paths), fmt, stdin=stdin)  # type: ignore[arg-type]
            if formats is None
            else []
        )
        # Spool stdin so the scan pass and the convert pass can both read it.
        self.sources: list[Source] = [
            _spool(s, self._stack) if s.path is None else s for s in sources
        ]
        # CSV labels can only repeat a label of another file: with one input
        # file their records need no duplicate bookkeeping at all.
        self._dedupe_csv = len(self.sources) > 1 and any(
            s.fmt in _CSV_FORMATS for s in self.sources
        )
        self._scan: Scan | None = None
        #: Sample name → uuid, once the preflight knows the dataset's samples: keys
        #: are compared after resolution (see :meth:`resolve_names`).
        self.resolve: Resolve | None = None
        self._on_retract: Callable[[LabelJob], None] | None = None
        # Sample uuids that several detector images resolve to (resolve_names).
        self._format_dups: set[str] = set()
        #: A sequence sample's frame count by uuid (None: a sample known by name
        #: only); None or an unknown count: the highest frame index + 1 is taken.
        self.frames_of: Callable[[str | None], int | Mapping[str, int] | None] | None = None
        #: Sequence labels whose frame count was not known (for the plan).
        self.frames_guessed = 0
        #: Whether a dry run of a sequence dataset plans its labels as their rows stream
        #: by (seqstream.py) rather than grouping them first (both give the same items).
        self.stream_sequences = True

    @property
    def converter(self) -> Converter:
        """The converter; may be set after :meth:`scan` (the preflight provides categories)."""
        if self._converter is None:
            raise RuntimeError("Preparer.converter is not set")
        return self._converter

    @converter.setter
    def converter(self, value: Converter) -> None:
        self._converter = value

    def close(self) -> None:
        self._stack.close()

    def __enter__(self) -> Preparer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

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
            else [s for s in self.sources if s.fmt in _JSON_FORMATS]
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
                elif item.fmt in _JSON_FORMATS:
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

    def resolve_names(self, resolve: Resolve) -> None:
        """Compare labels by the samples their names resolve to, from now on.

        A ``sample_name`` row and a ``sample_uuid`` row of one sample, or two
        names that ``--match`` maps to one sample, are then duplicates like any
        others. The first pass ran before the dataset's names were known, so
        its duplicate keys are found again (one more read of the inputs that
        take part in deduplication), with resolved keys.
        """
        self.resolve = resolve
        keys = self._scan.keys if self._scan is not None else []
        self.scan(full=False)
        # Detector images (COCO, YOLO): one label per image key; two keys of one
        # sample (two label files of an image, or two names --match maps to one
        # sample) are two labels of it. Their uuids, to hold those labels back.
        uuids = Counter(u for u in map(resolve, keys) if u is not None)
        self._format_dups = {u for u, n in uuids.items() if n > 1}

    def single_pass(self, on_retract: Callable[[LabelJob], None]) -> None:
        """Make :meth:`items` read the input once, for a run that sends nothing.

        Without a look-ahead, :meth:`items` yields each JSON row's label as soon
        as it is converted, while it notes a hash of the row's duplicate key
        (:class:`~upload_preds.dedupe.HashSieve`); failed rows are held back in a
        temporary file. At the end, only if some hash repeats, it re-reads the
        JSON inputs to find the real duplicates, and for each duplicate row that
        had already been yielded as a label it calls ``on_retract(label)`` (the
        label is converted again from the re-read row: nothing per row is kept
        in memory) before yielding the row's duplicate failure or superseded
        skip. Held-back failures and duplicate outcomes come out in input
        order, so failures files and examples are those of the two-pass way.

        Only for runs that send nothing and write no labels (a dry run): the
        caller must undo in ``on_retract`` whatever it did with that label, and
        labels from this mode carry no raw rows (``raw_rows()`` is empty):
        nothing can fail after conversion when nothing is sent.
        """
        self._on_retract = on_retract

    def items(self) -> Iterator[Item]:
        """Every outcome-bearing item, lazily; JSON rows first-come, CSV labels last."""
        # The generator itself, not a delegating one: a frame less per item.
        if self._on_retract is not None:
            return self._single_pass_items(self._on_retract)
        return self._two_pass_items()

    def _two_pass_items(self) -> Iterator[Item]:
        scan = self._scan if self._scan is not None else self.scan(full=False)
        duplicates = scan.duplicates
        conv = self.converter
        sequence = self._sequence_groups()
        heap = frozen_heap() if sequence is not None else contextlib.nullcontext()
        with Grouper() as grouper, heap:
            take = sequence.taker(grouper) if sequence is not None else None
            for item in read_records(self.sources, take):
                if isinstance(item, Notice):
                    yield item
                elif isinstance(item, RowError):
                    yield Failure((item,), ((item.loc, {}),))
                elif sequence is not None:
                    outcome = sequence.add(item, grouper)
                    if isinstance(outcome, Failure):
                        yield outcome
                    elif outcome is not None:
                        yield from self._json_row(item, duplicates)
                elif item.fmt in ("csv", "tsv"):
                    part = conv.csv_part(item)
                    if isinstance(part, RowError):
                        yield Failure((part,), ((item.loc, item.data),))
                    else:
                        key = self._group_key(part, item.data)
                        grouper.add(key, item.loc, {"p": part[1], "raw": item.data})
                else:
                    yield from self._json_row(item, duplicates)
            if sequence is not None:
                yield from sequence.items(grouper)
                self.frames_guessed += sequence.frames_guessed
            else:
                yield from self._groups(grouper, duplicates)
        yield from self._format_items(conv.convert)

    def _sequence_groups(self) -> SequenceGroups | None:
        """For a sequence dataset, the grouping of its rows into labels (seqgroups.py)."""
        if self.converter.sequence is None:
            return None
        groups = SequenceGroups(self.converter, self._on_duplicate)
        groups.frames_of = self.frames_of
        groups.resolve = self.resolve
        return groups

    def _group_key(self, part: tuple[str, dict[str, Any]], cells: dict[str, Any]) -> str:
        """The :class:`Grouper` key of a CSV record: ``csv_part``'s, except that a
        sample name with spaces around it joins the label of the stripped name (the
        name resolves to the same sample, as for JSON rows), and, once names are
        resolved, a name joins the label of the uuid it resolves to: a file's lines
        of one sample are one label whether they name it or give its uuid."""
        key = part[0]
        name = cells.get("sample_name")
        if name and (self.resolve is not None or name[0].isspace() or name[-1].isspace()):
            key = resolved_group(key, self.resolve)
        return key

    def _label_key(self, key: str, first: dict[str, Any]) -> str:
        """The key a grouped label is converted with: its group key, but by name when
        its first line named the sample (so the label reads, and is sharded, as that
        line wrote it; the upload resolves the name to the same uuid)."""
        name = first.get("sample_name")
        if self.resolve is None or not name:
            return key
        label = LabelKey.of_group(key)
        return key if label.kind == "name" else LabelKey(label.labelset, "name", name.strip()).group

    def _groups(self, grouper: Grouper, dups: dict[str, list[Location]]) -> Iterator[Item]:
        """The labels (or failures, or superseded skips) of the grouped CSV records.

        A group holds the records of one key from every CSV file; each file's
        records are one label, so a group of several files is several labels of
        one key: duplicates, decided with the other occurrences in ``dups``.
        """
        conv = self.converter
        for key, members in grouper.groups():
            labels = _split_by_file(members)
            locs: list[Location] | None = None
            if dups:
                locs = dups.get(LabelKey.of_group(key).resolved(self.resolve).text)
            if locs is None and len(labels) > 1:
                locs = [label[0][0] for label in labels]  # not seen by the look-ahead
            for label in labels:
                rows = tuple((loc, m["raw"]) for loc, m in label)
                if locs is not None:
                    outcome = self._label_outcome(rows, locs)
                    if outcome is not None:
                        yield from outcome
                        continue
                parts = [(loc, m["p"]) for loc, m in label]
                result = conv.convert_group(self._label_key(key, label[0][1]["raw"]), parts)
                if isinstance(result, LabelJob):
                    result.extra["rows"] = rows
                    yield result
                else:
                    yield Failure(tuple(result), rows)

    def _label_outcome(
        self, rows: tuple[tuple[Location, dict[str, Any]], ...], locs: list[Location]
    ) -> tuple[Failure, ...] | tuple[Skip] | None:
        """What becomes of a CSV label (its ``rows``) whose key occurs at ``locs``
        (this label at its first line): every line fails naming the others (a failure
        per line, so each line's failures-file entry carries its one message), or the
        label is superseded, or None when it is the one that stands."""
        # A CSV file holds one label of a key: this label is the occurrence in its file.
        file = rows[0][0].file
        own = next((loc for loc in locs if loc.file == file), rows[0][0])
        if self._on_duplicate == "error":
            message = duplicate_message(own, locs, csv=True)
            return tuple(
                Failure((RowError(loc, None, "duplicate row", message),), ((loc, raw),))
                for loc, raw in rows
            )
        if locs[-1].file != file:
            return (Skip("superseded", f"superseded by {locs[-1]}", rows),)
        return None

    def _duplicate_outcome(self, record: Record, locs: list[Location]) -> Failure | Skip | None:
        """What becomes of a row whose key occurs at ``locs``: a failure naming the
        others, a superseded skip, or None when it is the one that stands."""
        rows = ((record.loc, record.data),)
        if self._on_duplicate == "error":
            err = RowError(record.loc, None, "duplicate row", duplicate_message(record.loc, locs))
            return Failure((err,), rows)
        if record.loc != locs[-1]:
            return Skip("superseded", f"superseded by {locs[-1]}", rows)
        return None

    def _json_row(self, record: Record, duplicates: dict[str, list[Location]]) -> Iterator[Item]:
        rows = ((record.loc, record.data),)
        if duplicates:
            key = LabelKey.of_row(record.data, self._default_labelset)
            if key is not None:
                key = key.resolved(self.resolve)
            locs = duplicates.get(key.text) if key is not None else None
            if locs is not None:
                outcome = self._duplicate_outcome(record, locs)
                if outcome is not None:
                    yield outcome
                    return
        result = self.converter.convert(record)
        if isinstance(result, LabelJob):
            result.extra["rows"] = rows
            yield result
        else:
            yield Failure(tuple(result), rows)

    # -- the single pass ---------------------------------------------------------------

    def _single_pass_items(self, on_retract: Callable[[LabelJob], None]) -> Iterator[Item]:
        conv = self.converter
        # Plan mode: same checks, annotation objects not built (PlannedLabelJob).
        convert = conv.plan
        default = self._default_labelset
        mask = SIEVE_PARTS - 1
        chunk = SIEVE_CHUNK
        dedupe_csv = self._dedupe_csv
        # One sieve per CSV file, counting each key once: a label's records are
        # one occurrence (see repeated_across).
        csv_sieves: list[HashSieve] = []
        csv_file: str | None = None
        csv_key: str | None = None  # the last CSV record's group key in csv_file
        csv_added = 0
        with contextlib.ExitStack() as stack:
            sieve = stack.enter_context(HashSieve())
            held = stack.enter_context(_Spool())
            grouper = stack.enter_context(Grouper())
            parts = sieve.parts
            # JSON records read so far: a record's ordinal, and the position in
            # input order of the failures held back between records.
            n = 0
            sequence = self._sequence_groups()
            if sequence is not None:
                sequence.planned = True  # the plan's labels are not built (seqplan.py)
                # Planned as the rows stream by, the input read again only for labels
                # the stream hands back (seqstream.py).
                if self.stream_sequences:
                    sequence.stream(lambda take: read_records(self.sources, take))
                stack.enter_context(frozen_heap())
            take = sequence.taker(grouper) if sequence is not None else None
            for item in read_records(self.sources, take):
                if isinstance(item, Record):
                    fmt = item.fmt
                    if sequence is not None:
                        outcome = sequence.add(item, grouper)
                        if outcome is None:
                            continue
                        if isinstance(outcome, Failure):
                            held.add(((n, 0), outcome))
                            continue
                    if fmt == "jsonl" or fmt == "json":
                        result = convert(item)
                        h: int | None
                        if isinstance(result, LabelJob):
                            h = job_hash(result)  # the row's key hash, from the checked job
                            yield result
                        else:
                            row_key = LabelKey.of_row(item.data, default)
                            h = row_key.hash if row_key is not None else None
                            held.add(((n, 1), Failure(tuple(result), ((item.loc, item.data),))))
                        if h is not None:
                            parts[h & mask].append(h)
                        n += 1
                        if not n % chunk:
                            sieve.spill()
                    else:
                        part = conv.csv_part(item)
                        if isinstance(part, RowError):
                            held.add(((n, 0), Failure((part,), ((item.loc, item.data),))))
                            continue
                        group = self._group_key(part, item.data)
                        grouper.add(group, item.loc, {"p": part[1], "raw": item.data})
                        if not dedupe_csv:
                            continue
                        if item.loc.file != csv_file:
                            csv_file = item.loc.file
                            csv_key = None
                            csv_sieves.append(stack.enter_context(HashSieve(distinct=True)))
                        if group != csv_key:  # a run of one label's records: one hash
                            csv_key = group
                            label = LabelKey.of_cells(item.data, default)
                            if label is None:  # csv_part grouped it, so it has a key
                                continue
                            h = label.hash
                            csv_sieves[-1].parts[h & mask].append(h)
                            csv_added += 1
                            if not csv_added % chunk:
                                csv_sieves[-1].spill()
                elif isinstance(item, Notice):
                    yield item
                else:
                    held.add(((n, 0), Failure((item,), ((item.loc, {}),))))
            repeated = repeated_across([sieve, *csv_sieves])
            sieve.close()
            for done in csv_sieves:
                done.close()
            with _Spool() as candidates:
                dups = self._confirm(repeated, candidates) if repeated else {}
                yield from self._replay(held, candidates, dups, on_retract)
            held.close()
            if sequence is not None:
                yield from sequence.items(grouper)
                self.frames_guessed += sequence.frames_guessed
            else:
                yield from self._groups(grouper, dups)
        yield from self._format_items(convert)

    # -- detector formats (COCO, YOLO) -----------------------------------------------------

    def _format_items(
        self, convert: Callable[[Record], LabelJob | list[RowError]]
    ) -> Iterator[Item]:
        """One label per image of the detector-format inputs (see :mod:`upload_preds.formats`).

        Each image's detections become one shorthand row for ``convert``; the
        label's ``locs`` and raw rows are the detections', so that counts are in
        detections and errors name the detection (``annotations[3].bbox`` of the
        row becomes the location of the detection that made annotation 3).
        """
        if not self.format_sources:
            return
        conv = self.converter
        cats = conv.categories
        task_type = cats.task_type if cats is not None else None
        self.resolver.bind(cats)
        dups = self._format_dups
        resolve = self.resolve
        held: dict[str, list[FormatRow]] = {}  # the images of one sample, in input order
        for fsrc in self.format_sources:
            for row in fsrc.rows(self.resolver, task_type):
                if isinstance(row, Notice):
                    yield row
                elif isinstance(row, RowError):
                    yield Failure((row,), ((row.loc, {}),))
                elif dups and resolve is not None and not row.errors and row.rows:
                    uuid = resolve(row.key)
                    if uuid in dups:
                        held.setdefault(uuid, []).append(row)
                    else:
                        yield from self._format_row(row, convert)
                else:
                    yield from self._format_row(row, convert)
        for rows in held.values():
            yield from self._format_duplicates(rows, convert)

    def _format_duplicates(
        self, images: list[FormatRow], convert: Callable[[Record], LabelJob | list[RowError]]
    ) -> Iterator[Item]:
        """The images (held back) that resolve to one sample: each fails naming the
        others, or with ``on_duplicate="last"`` the last one stands."""
        if len(images) == 1:  # the others failed on their own
            yield from self._format_row(images[0], convert)
            return
        locs = [image.loc for image in images]
        keys = ", ".join(dict.fromkeys(repr(image.key) for image in images))
        for image in images:
            rows = tuple(image.rows)
            if self._on_duplicate == "last" and image is images[-1]:
                yield from self._format_row(image, convert)
            elif self._on_duplicate == "last":
                yield Skip("superseded", f"superseded by {locs[-1]}", rows)
            else:
                message = duplicate_message(image.loc, locs) + f" (images {keys} are one sample)"
                yield Failure((RowError(image.loc, None, "duplicate row", message),), rows)

    def _format_row(
        self, row: FormatRow, convert: Callable[[Record], LabelJob | list[RowError]]
    ) -> Iterator[Item]:
        by_reason: dict[str, list[tuple[Location, dict[str, Any]]]] = {}
        for reason, loc, raw in row.skipped:
            by_reason.setdefault(reason, []).append((loc, raw))
        for reason, skipped in by_reason.items():
            yield Skip(reason, f"{len(skipped)} object(s) of {row.key!r}: {reason}", tuple(skipped))
        if row.errors:
            yield Failure(tuple(row.errors), tuple(row.rows))
            return
        if not row.rows and row.skipped:
            return  # every detection of the image was dropped on purpose
        rows = tuple(row.rows) or ((row.loc, {}),)
        anns = row.annotations
        data: dict[str, Any] = {"sample_name": "image", "annotations": anns}
        if row.masks is not None:
            # Segmentation datasets: each detection's mask (RLE or polygons) becomes
            # an instance of the label's bitmap (see upload_preds.masks).
            anns = [{**a, "segmentation": m} for a, m in zip(anns, row.masks, strict=True)]
            data = {"sample_name": "image", "annotations": anns}
            if row.width is not None and row.height is not None:
                data["width"] = row.width
                data["height"] = row.height
        if self.converter.sequence is not None:
            # A tracker's file is a whole sequence: each detection is a part of the
            # label, counted against the sample's frames (upload_preds.formats.tracks).
            uuid = self.resolve(row.key) if self.resolve is not None else None
            frames = self.frames_of(uuid) if self.frames_of is not None else None
            seq = sequence_label(self.converter, row, frames, self._on_duplicate)
            if isinstance(seq, list):
                yield Failure(tuple(seq), rows)
                return
            if seq.extra.pop("frames_guessed", None) is not None:
                self.frames_guessed += 1
            # --on-duplicate last: a line whose box a later line replaced is a skip.
            gone = seq.extra.pop("superseded", ())
            if gone:
                line_of = dict(rows)
                for loc, by in gone:
                    yield Skip("superseded", f"superseded by {by}", ((loc, line_of[loc]),))
                dead = {loc for loc, _ in gone}
                rows = tuple(r for r in rows if r[0] not in dead)
            result: LabelJob | list[RowError] = seq
        else:
            # The key is a file name or path ('val/0001.jpg'), which --match resolves;
            # the converter, which checks sample names of rows, gets a stand-in.
            result = convert(Record(row.loc, "json", data))
        if isinstance(result, LabelJob):
            result.sample_name = row.key
            result.locs = tuple(loc for loc, _ in rows)
            result.extra["rows"] = rows
            yield result
            return
        yield Failure(tuple(_detection_error(e, row) for e in result), rows)

    def _confirm(self, repeated: set[int], candidates: _Spool) -> dict[str, list[Location]]:
        """Re-read the inputs: the keys that really repeat, with their locations (a
        CSV label at its first line), in input order.

        Every JSON row whose key hash is in ``repeated`` is spooled to
        ``candidates`` as ``(ordinal, key, record)``, in input order, for
        :meth:`_replay`; CSV labels are settled later, by :meth:`_groups`.
        """
        default = self._default_labelset
        found: dict[str, list[Location]] = {}
        n = 0
        dedupe_csv = self._dedupe_csv
        sources = (
            self.sources if dedupe_csv else [s for s in self.sources if s.fmt in _JSON_FORMATS]
        )
        for item in read_records(sources):
            if type(item) is not Record:
                continue
            if item.fmt in _CSV_FORMATS:
                key = LabelKey.of_cells(item.data, default)
                if key is not None and key.hash in repeated:
                    locs = found.setdefault(key.text, [])
                    if not locs or locs[-1].file != item.loc.file:  # one label per file
                        locs.append(item.loc)
                continue
            key = LabelKey.of_row(item.data, default)
            if key is not None and key.hash in repeated:
                found.setdefault(key.text, []).append(item.loc)
                candidates.add((n, key.text, item))
            n += 1
        return {key: locs for key, locs in found.items() if len(locs) > 1}

    def _replay(
        self,
        held: _Spool,
        candidates: _Spool,
        dups: dict[str, list[Location]],
        on_retract: Callable[[LabelJob], None],
    ) -> Iterator[Item]:
        """The held-back failures merged, in input order, with the duplicates' outcomes."""
        pending: Iterator[tuple[int, str, Record]] = (
            (c for c in candidates if c[1] in dups) if dups else iter(())
        )
        nxt = next(pending, None)
        for pos, failure in held:
            while nxt is not None and (nxt[0], 1) < pos:
                yield from self._dup_row(nxt[2], dups[nxt[1]], None, on_retract)
                nxt = next(pending, None)
            if nxt is not None and (nxt[0], 1) == pos:
                yield from self._dup_row(nxt[2], dups[nxt[1]], failure, on_retract)
                nxt = next(pending, None)
            else:
                yield failure
        while nxt is not None:
            yield from self._dup_row(nxt[2], dups[nxt[1]], None, on_retract)
            nxt = next(pending, None)

    def _dup_row(
        self,
        record: Record,
        locs: list[Location],
        failure: Failure | None,
        on_retract: Callable[[LabelJob], None],
    ) -> Iterator[Item]:
        """A duplicate row's outcome; ``failure`` is what its conversion gave, or None
        when it converted (then its label was yielded already and is retracted)."""
        outcome = self._duplicate_outcome(record, locs)
        if outcome is None:
            if failure is not None:
                yield failure
            return
        if failure is None:
            job = self.converter.plan(record)
            if isinstance(job, LabelJob):
                on_retract(job)
        yield outcome


def _detection_error(err: RowError, row: FormatRow) -> RowError:
    """A converter error of an image's row, moved to the detection it is about."""
    f = err.field
    if f is not None and f.startswith("annotations["):
        idx, _, rest = f[len("annotations[") :].partition("]")
        if idx.isdigit() and int(idx) < len(row.ann_locs):
            return RowError(
                row.ann_locs[int(idx)], rest.lstrip(".") or None, err.reason, err.message
            )
    return RowError(err.loc, f, err.reason, f"{row.key}: {err.message}")
