"""The dry run's single pass over the input, with its deferred duplicate check.

A run that sends nothing (a dry run) needs no look-ahead: after
:meth:`Preparer.single_pass <upload_preds.pipeline.Preparer.single_pass>` the
input is read once. Each JSON row is checked
with :meth:`Converter.plan <upload_preds.convert.Converter.plan>` (the same
checks as ``convert``; annotation objects are built only if asked for) and its
label yielded at once, while a 64-bit hash of its key goes into a
:class:`~upload_preds.dedupe.HashSieve`; failures are held back in a temporary
file (:class:`~upload_preds.spool.Spool`). The hashes of CSV records go into
one more sieve per CSV file, which counts
each value once (``distinct``), so only a key in two files repeats. At the
end, only if some hash repeats, the inputs are read again to confirm the real
duplicates (:meth:`SinglePass._confirm`); labels already yielded for duplicate
rows are taken back through the caller's ``on_retract``, and the held-back
failures come out merged in input order with the duplicates' failures (or
superseded skips; :meth:`SinglePass._replay`). CSV labels come out last, after
the duplicates are known, so none of them is ever taken back.
A mixin of :class:`~upload_preds.pipeline.Preparer`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

from upload_preds.dedupe import SIEVE_CHUNK, SIEVE_PARTS, HashSieve, repeated_across
from upload_preds.formatitems import FormatItems
from upload_preds.gcpolicy import frozen_heap
from upload_preds.grouping import Grouper
from upload_preds.labelkey import LabelKey, job_hash
from upload_preds.labeloutcomes import Item, LabelOutcomes
from upload_preds.readers import Source, read_records
from upload_preds.records import Failure, LabelJob, Location, Notice, Record, RowError
from upload_preds.scan import CSV_FORMATS, JSON_FORMATS
from upload_preds.spool import Spool

__all__ = ["SinglePass"]


class SinglePass(LabelOutcomes, FormatItems):
    """The one-pass item stream of :class:`~upload_preds.pipeline.Preparer`."""

    sources: list[Source]
    stream_sequences: bool
    _dedupe_csv: bool

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
            held = stack.enter_context(Spool())
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
            with Spool() as candidates:
                dups = self._confirm(repeated, candidates) if repeated else {}
                yield from self._replay(held, candidates, dups, on_retract)
            held.close()
            if sequence is not None:
                yield from sequence.items(grouper)
                self.frames_guessed += sequence.frames_guessed
            else:
                yield from self._groups(grouper, dups)
        yield from self._format_items(convert)

    def _confirm(self, repeated: set[int], candidates: Spool) -> dict[str, list[Location]]:
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
        sources = self.sources if dedupe_csv else [s for s in self.sources if s.fmt in JSON_FORMATS]
        for item in read_records(sources):
            if type(item) is not Record:
                continue
            if item.fmt in CSV_FORMATS:
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
        held: Spool,
        candidates: Spool,
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
