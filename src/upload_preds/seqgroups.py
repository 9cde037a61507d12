"""Sequence datasets in the pipeline: every row of a (sample, label set) into one group,
and each group out as one label.

In a sequence dataset a row or CSV record is a *part* of a label
(:mod:`upload_preds.convert.sequences`), so the pipeline hands every record to
:meth:`SequenceGroups.add` instead of converting it, in both of its ways (two
passes, or the dry run's single pass). ``add`` puts the record into the run's
:class:`~upload_preds.grouping.Grouper` (bounded memory, spilled to partition
files) under its group key, with the sample name resolved to its uuid once the
dataset's samples are known, so a name row and a uuid row of one sample are
parts of one label. The payload is the record itself (``{"r": row}`` or
``{"c": cells, "t": "csv"}``): the failures file needs it, and the converter
checks it when the group is complete.

:meth:`SequenceGroups.items` then yields, per group in key order, the label
(with the sample's frame count from ``frames_of``), or one failure per line,
or the superseded lines of ``--on-duplicate last``. Complete label rows
(``attributes``) are grouped too: a sample with a complete row and per-frame
rows, or two complete rows, has two labels, which are duplicates like any others
(each fails naming the others, or the last one stands).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import orjson

from upload_preds.convert import Converter
from upload_preds.dedupe import duplicate_message
from upload_preds.gcpolicy import paused_gc
from upload_preds.grouping import Grouper
from upload_preds.labelkey import Resolve
from upload_preds.records import Failure, LabelJob, Location, Notice, Record, RowError, Skip

__all__ = ["SequenceGroups"]

Member = tuple[Location, dict[str, Any]]
Item = LabelJob | Failure | Skip | Notice


def _is_complete(payload: dict[str, Any]) -> bool:
    """Whether a grouped payload is a complete label row (``attributes``)."""
    row = payload.get("r")
    return type(row) is dict and "attributes" in row


def _raw(payload: dict[str, Any]) -> dict[str, Any]:
    """The input data of a grouped payload: the JSON row or the CSV cells."""
    raw: dict[str, Any] = payload["r"] if "r" in payload else payload["c"]
    return raw


class SequenceGroups:
    """The rows of a sequence dataset's labels, grouped; one per run's pass."""

    def __init__(self, converter: Converter, on_duplicate: str) -> None:
        self.converter = converter
        self.on_duplicate = on_duplicate
        #: A sample's frame count by uuid (``None``: known by name only, or no count).
        self.frames_of: Callable[[str | None], int | Mapping[str, int] | None] | None = None
        #: Sample name → uuid once the dataset is known (keys are compared resolved).
        self.resolve: Resolve | None = None
        #: Labels whose frame count was not known (they took the highest index + 1).
        self.frames_guessed = 0

    def add(self, record: Record, grouper: Grouper) -> Failure | Record | None:
        """Put ``record`` into ``grouper`` (None); a failure when it names no usable
        sample; or the record itself back when it is a complete label row whose sample
        reference is unusable (converted alone, which reports every problem)."""
        key = self.converter.sequence_key(record)
        if key is None:
            return record
        if isinstance(key, RowError):
            return Failure((key,), ((record.loc, record.data),))
        if self.resolve is not None and ',"n",' in key:
            # Names are resolved before keys are compared: a name row and a uuid row
            # of one sample are parts of one label.
            labelset, _, ref = orjson.loads(key)
            uuid = self.resolve(ref)
            if uuid is not None:
                key = orjson.dumps([labelset, "u", uuid]).decode()
        fmt = record.fmt
        if fmt == "json" or fmt == "jsonl":
            grouper.add(key, record.loc, {"r": record.data})
        else:
            grouper.add(key, record.loc, {"c": record.data, "t": fmt})
        return None

    def items(self, grouper: Grouper) -> Iterator[Item]:
        """One label (or its failures, or superseded skips) per group of ``grouper``."""
        for key, members in grouper.groups():
            if any(_is_complete(p) for _, p in members):
                yield from self._with_complete_rows(key, members)
            else:
                yield from self._label(key, members)

    def _label(self, key: str, members: list[Member]) -> Iterator[Item]:
        """The per-frame parts of one (label set, sample) → its label, or a failure per
        line; lines whose objects were all superseded (--on-duplicate last) are skips."""
        frames_of = self.frames_of
        _labelset, kind, ref = orjson.loads(key)
        frames = frames_of(ref if kind == "u" else None) if frames_of is not None else None
        with paused_gc():  # the label's checked lines: alive together, no cycles
            result = self.converter.convert_sequence(key, members, frames, self.on_duplicate)
        raw = {loc: _raw(p) for loc, p in members}
        if isinstance(result, list):
            yield Failure(tuple(result), tuple((e.loc, raw[e.loc]) for e in result))
            return
        if result.extra.pop("frames_guessed", None) is not None:
            self.frames_guessed += 1
        gone = result.extra.pop("superseded", ())
        for loc, by in gone:
            yield Skip("superseded", f"superseded by {by}", ((loc, raw[loc]),))
        if gone:
            dead = {loc for loc, _ in gone}
            result.locs = tuple(loc for loc in result.locs if loc not in dead)
        result.extra["rows"] = tuple((loc, raw[loc]) for loc in result.locs)
        yield result

    def _with_complete_rows(self, key: str, members: list[Member]) -> Iterator[Item]:
        """A group that holds complete label rows: each complete row is a label, and the
        per-frame parts together are one more. One label alone is converted; several
        are duplicates: each fails naming the others, or the last one stands."""
        complete = [(loc, p["r"]) for loc, p in members if _is_complete(p)]
        parts = [(loc, p) for loc, p in members if not _is_complete(p)]
        # Occurrences in input order (members are): a complete row at its line, the
        # parts at their first line, as a CSV label stands at its first line.
        first = parts[0][0] if parts else None
        occurrences = [loc for loc, p in members if _is_complete(p) or loc == first]
        if len(occurrences) == 1:
            yield self._complete_row(*complete[0])
            return
        last = occurrences[-1]
        keep_last = self.on_duplicate == "last"
        for loc, row in complete:
            if keep_last and loc == last:
                yield self._complete_row(loc, row)
            elif keep_last:
                yield Skip("superseded", f"superseded by {last}", ((loc, row),))
            else:
                message = duplicate_message(loc, occurrences)
                yield Failure((RowError(loc, None, "duplicate row", message),), ((loc, row),))
        if first is None:
            return
        raw_parts = tuple((loc, _raw(p)) for loc, p in parts)
        if keep_last and first == last:
            yield from self._label(key, parts)
        elif keep_last:
            yield Skip("superseded", f"superseded by {last}", raw_parts)
        else:
            message = duplicate_message(first, occurrences)
            for loc, raw in raw_parts:
                yield Failure((RowError(loc, None, "duplicate row", message),), ((loc, raw),))

    def _complete_row(self, loc: Location, row: dict[str, Any]) -> Item:
        result = self.converter.convert(Record(loc, "json", row))
        if isinstance(result, LabelJob):
            result.extra["rows"] = ((loc, row),)
            return result
        return Failure(tuple(result), ((loc, row),))
