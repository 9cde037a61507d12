"""From input files to label jobs: the read → convert → group → dedupe stages.

:class:`Preparer` turns sources into a lazy stream of
:data:`~upload_preds.labeloutcomes.Item` values, one
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
:meth:`Preparer.single_pass` the input is read once, and the duplicates are
confirmed at the end, only if some key's hash repeats
(:mod:`upload_preds.singlepass`). CSV labels come out last in both modes, after the duplicates are known.
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

Where the parts are: the first pass and what it learns
(:class:`~upload_preds.scan.Scan`) in :mod:`upload_preds.scan`; what a JSON row or a CSV label becomes, duplicates
included, in :mod:`upload_preds.labeloutcomes`; the dry run's single pass in
:mod:`upload_preds.singlepass`; the labels of detector and tracker formats
(COCO, YOLO, MOT) in :mod:`upload_preds.formatitems`; temporary files in
:mod:`upload_preds.spool`. :class:`Preparer` is these parts together (its
bases), plus the inputs, the name resolution and the two-pass stream. Which
label a row is comes from :class:`~upload_preds.labelkey.LabelKey`; the
values handed out (:class:`~upload_preds.records.Failure`,
:class:`~upload_preds.records.Skip`) live in :mod:`upload_preds.records`, the
plan that counts them in :mod:`upload_preds.plan`, and the files written
beside a run in :mod:`upload_preds.outputs`.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import BinaryIO

from upload_preds.catmap import CategoryResolver
from upload_preds.convert import Converter
from upload_preds.formats import FormatOptions, FormatSource, open_format_sources
from upload_preds.gcpolicy import frozen_heap
from upload_preds.grouping import Grouper
from upload_preds.labelkey import Resolve
from upload_preds.labeloutcomes import Item, OnDuplicate
from upload_preds.readers import Source, open_sources, read_records
from upload_preds.records import Failure, LabelJob, Notice, RowError
from upload_preds.scan import CSV_FORMATS, Scan, Scanner
from upload_preds.singlepass import SinglePass
from upload_preds.spool import spool_stdin

__all__ = ["Preparer"]


class Preparer(Scanner, SinglePass):
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
            spool_stdin(s, self._stack) if s.path is None else s for s in sources
        ]
        # CSV labels can only repeat a label of another file: with one input
        # file their records need no duplicate bookkeeping at all.
        self._dedupe_csv = len(self.sources) > 1 and any(s.fmt in CSV_FORMATS for s in self.sources)
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
