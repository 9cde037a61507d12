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
checks it when the group is complete. The common tracker row (image boxes, see
:func:`~upload_preds.convert.seqfast.fast_objects`) is checked here instead,
when it is read, and grouped as its compact objects (``{"q": objects}``) with
the row's JSON beside them unparsed (``"j"``, see ``Grouper.add``): the row is
parsed again only if its label fails or is uploaded (the failures file needs it).
A JSONL line of such a row whose sample's key is known goes further:
:meth:`SequenceGroups.taker` gives the reader a ``take`` that decodes the line's
bytes into typed structs (:class:`~upload_preds.convert.seqdecode.RowDecoder`)
and pushes its compact objects with the line itself as the raw row, before any
dict is made of it; a line it declines is read and added as above. In the dry
run a line of a plain file is pushed with its byte offset instead of its bytes
(``{"q": objects, "o": offset}``): :mod:`upload_preds.rawlines` reads it again
for the few labels that need their rows (failed, or converted the full way).

In the dry run (``planned``) a label whose lines are all compact is not built:
:func:`~upload_preds.convert.seqplan.plan_sequence` runs the label's rules over
the compact objects and gives a planned job; a label it declines, or one with
other lines, is converted the full way (every check and message the same).

:meth:`SequenceGroups.items` then yields, per group in key order, the label
(with the sample's frame count from ``frames_of``), or one failure per line,
or the superseded lines of ``--on-duplicate last``. Complete label rows
(``attributes``) are grouped too: a sample with a complete row and per-frame
rows, or two complete rows, has two labels, which are duplicates like any others
(each fails naming the others, or the last one stands).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from itertools import repeat
from operator import itemgetter
from typing import Any

import orjson

from upload_preds.convert import Converter
from upload_preds.convert.seqdecode import RowDecoder
from upload_preds.convert.seqfast import fast_objects
from upload_preds.convert.seqlines import FrameRules
from upload_preds.convert.seqplan import plan_sequence
from upload_preds.dedupe import duplicate_message
from upload_preds.gcpolicy import paused_gc
from upload_preds.grouping import Grouper, key_order
from upload_preds.labelkey import Resolve
from upload_preds.rawlines import raw_rows
from upload_preds.readers import Take
from upload_preds.records import Failure, LabelJob, Location, Notice, Record, RowError, Skip
from upload_preds.seqstream import SequenceStream

__all__ = ["SequenceGroups"]

Member = tuple[Location, dict[str, Any]]
_FIRST = itemgetter(0)
_SECOND = itemgetter(1)
_Q = itemgetter("q")
Item = LabelJob | Failure | Skip | Notice
#: ``reread(take)``: the run's input read again from the start (read_records' items).
Reread = Callable[[Take | None], Iterable[object]]


def _is_complete(payload: dict[str, Any]) -> bool:
    """Whether a grouped payload is a complete label row (``attributes``)."""
    row = payload.get("r")
    return type(row) is dict and "attributes" in row


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
        #: The dry run: labels of compact lines are planned, not built (seqplan.py).
        self.planned = False
        rules = converter.sequence
        # Rows the fast path may take are checked when read (see the module docstring).
        self._fast = rules if isinstance(rules, FrameRules) and rules.fast else None
        # sample_uuid → group key, for rows that name their sample by uuid alone.
        self._uuid_keys: dict[str, str] = {}
        # The offline dry run's stream (seqstream.py), and how to read the input again.
        self._stream: SequenceStream | None = None
        self._reread: Reread | None = None

    def stream(self, reread: Reread) -> None:
        """Plan this run's labels while their rows stream by (the offline dry run, see
        :mod:`upload_preds.seqstream`), reading the input again with ``reread`` for the
        labels the stream hands back; when the dataset's rows allow it: the common
        tracker row has a fast path, and frame counts come from ``--frames`` or the
        rows (no dataset, no names to resolve)."""
        if self._fast is None or not self.planned:
            return
        if self.frames_of is not None or self.resolve is not None:
            return
        self._reread = reread
        self._stream = SequenceStream(self._fast, self.converter.options.frames, self._load)

    def taker(self, grouper: Grouper, only: set[str] | None = None) -> Take | None:
        """The reader's ``take`` for JSONL lines (see :mod:`upload_preds.readers.jsonl`):
        a common row of a sample whose key is known goes into ``grouper`` straight
        from its bytes (:class:`~upload_preds.convert.seqdecode.RowDecoder`), with the
        line itself kept as its raw row. ``None`` when the dataset's rows have no
        fast path. While the run streams, the stream's own ``take``; with ``only``,
        lines of other groups are passed over (the second read of a streamed run)."""
        if self._fast is None:
            return None
        if self._stream is not None:
            return self._stream.taker()
        decode = RowDecoder(self._fast).decode
        keys = self._uuid_keys
        push = grouper.push_line
        file_id = grouper.file_id
        prefix = grouper.prefix
        # uuid → (group key, start of its spilled lines) for the current file.
        starts: dict[str, tuple[str, bytes]] = {}
        current: list[Any] = [None, 0]  # the current file's name and id
        # The dry run builds no label: a row of a plain file is kept by its offset
        # (read again only if its label fails, rawlines.py), not by its bytes.
        by_offset = self.planned

        def take(line: bytes, name: str, lineno: int, offset: int) -> bool:
            got = decode(line)
            if got is None:
                return False
            uuid, objs = got
            if name is not current[0]:
                current[0], current[1] = name, file_id(name)
                starts.clear()
            start = starts.get(uuid)
            if start is None:
                key = keys.get(uuid)
                if key is None:
                    return False  # a sample's first row: its key is made the full way
                if len(starts) >= 4096:  # bounded, as the keys are
                    starts.clear()
                start = starts[uuid] = key, prefix(key, current[1])
            if only is not None and start[0] not in only:
                return True  # (planned by the stream already)
            if by_offset and offset >= 0:
                push(start[0], b'%b%d,{"q":%b,"o":%d}]\n' % (start[1], lineno, objs, offset))
                return True
            if line[-1:] != b"\n":  # (the last line of a file)
                line += b"\n"
            # The line itself is kept as the raw row (parsed again only if needed).
            push(start[0], b'%b%d,{"q":%b}]\n' % (start[1], lineno, objs), line)
            return True

        return take

    def add(
        self, record: Record, grouper: Grouper, only: set[str] | None = None
    ) -> Failure | Record | None:
        """Put ``record`` into ``grouper`` (None); a failure when it names no usable
        sample; or the record itself back when it is a complete label row whose sample
        reference is unusable (converted alone, which reports every problem). While
        the run streams, its row goes to the stream instead; with ``only``, a record
        of another group is passed over."""
        data = record.data
        fast = self._fast
        uuid: Any = None
        if (record.fmt == "jsonl" or record.fmt == "json") and type(data) is dict:
            # The common row names its sample by uuid alone: its key is the one made
            # for the sample's first row (part_key's checks ran for that one).
            uuid = data.get("sample_uuid")
            if type(uuid) is not str or "sample_name" in data or "labelset" in data:
                uuid = None
            known = self._uuid_keys.get(uuid) if uuid is not None else None
            if known is not None:
                if only is not None and known not in only:
                    return None
                objs = fast_objects(fast, data) if fast is not None else None
                if self._stream is not None:
                    self._stream.add(known, record.loc, objs, uuid)
                elif objs is not None:
                    grouper.add_compact(known, record.loc, objs, data)
                else:
                    grouper.add(known, record.loc, {"r": data})
                return None
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
        if only is not None and key not in only:
            return None
        if self._stream is not None:
            json_row = fmt == "json" or fmt == "jsonl"
            objs = fast_objects(fast, data) if json_row and fast is not None else None
            self._stream.add(key, record.loc, objs, uuid if json_row else None)
        elif fmt == "json" or fmt == "jsonl":
            if uuid is not None:
                if len(self._uuid_keys) >= 4096:  # bounded: the latest samples' keys
                    self._uuid_keys.clear()
                self._uuid_keys[uuid] = key
            objs = fast_objects(fast, data) if fast is not None else None
            if objs is not None:
                grouper.add_compact(key, record.loc, objs, data)
            else:
                grouper.add(key, record.loc, {"r": data})
        else:
            grouper.add(key, record.loc, {"c": record.data, "t": fmt})
        return None

    def items(self, grouper: Grouper) -> Iterator[Item]:
        """One label (or its failures, or superseded skips) per group of ``grouper``,
        and per label of the stream, all in :func:`key_order`."""
        stream = self._stream
        if stream is None:
            for key, members in grouper.groups():
                yield from self._group(key, members)
            return
        self._stream = None  # from now on, rows go to groups
        if stream.gave_up or stream.handed_back:
            self._regroup(grouper, None if stream.gave_up else stream.handed_back)
        # The streamed labels merged into the groups' order (both in key_order).
        streamed = stream.keys_in_order()
        i = 0
        for key, members in grouper.groups():
            order = key_order(key)
            while i < len(streamed) and streamed[i][0] < order:
                yield stream.job(streamed[i][1])
                i += 1
            yield from self._group(key, members)
        for _, key in streamed[i:]:
            yield stream.job(key)
        self.frames_guessed += stream.frames_guessed

    def _regroup(self, grouper: Grouper, only: set[str] | None) -> None:
        """Read the input again and group the rows of ``only`` (every group: None), the
        labels a stream handed back. Everything else in it was accounted for by the
        first read (its failures, its labels) and is passed over."""
        assert self._reread is not None
        assert self._stream is None
        for item in self._reread(self.taker(grouper, only)):
            if isinstance(item, Record):
                self.add(item, grouper, only)

    def _load(self, key: str) -> list[tuple[Location, Any]]:
        """The compact lines of a streamed label, read back from the input (for a
        planned job's ``locs`` or attributes, when someone asks for them)."""
        with Grouper() as grouper:
            saved, self._stream = self._stream, None
            try:
                self._regroup(grouper, {key})
            finally:
                self._stream = saved
            lines = [(loc, p["q"]) for _, members in grouper.groups() for loc, p in members]
        return lines

    def _group(self, key: str, members: list[Member]) -> Iterator[Item]:
        """One group's label, or its failures, or superseded skips."""
        if self.planned:
            planned = self._planned(key, members)
            if planned is not None:
                yield planned
                return
        if any(_is_complete(p) for _, p in members):
            yield from self._with_complete_rows(key, members)
        else:
            yield from self._label(key, members)

    def _planned(self, key: str, members: list[Member]) -> LabelJob | None:
        """The dry run's label of a group whose lines are all compact, planned without
        building it (seqplan.py); ``None`` for any other group, or one the plan declines."""
        rules = self._fast
        payloads = list(map(_SECOND, members))
        # (In C: a Python-level test per line was a tenth of the plan's time.)
        if rules is None or not all(map(dict.__contains__, payloads, repeat("q"))):
            return None
        frames: int | None = None
        if self.frames_of is not None:
            _labelset, kind, ref = orjson.loads(key)
            count = self.frames_of(ref if kind == "u" else None)
            if isinstance(count, Mapping):
                return None
            frames = count
        if frames is None:
            frames = self.converter.options.frames
        # A group's items come in the order they were added, which is input order
        # (files one after the other, lines ascending): no input_order() sort here.
        lines = list(zip(map(_FIRST, members), map(_Q, payloads), strict=True))
        planned = plan_sequence(rules, key, lines, frames)
        if planned is not None and planned.extra.pop("frames_guessed", None) is not None:
            self.frames_guessed += 1
        return planned

    def _label(self, key: str, members: list[Member]) -> Iterator[Item]:
        """The per-frame parts of one (label set, sample) → its label, or a failure per
        line; lines whose objects were all superseded (--on-duplicate last) are skips."""
        frames_of = self.frames_of
        _labelset, kind, ref = orjson.loads(key)
        frames = frames_of(ref if kind == "u" else None) if frames_of is not None else None
        with paused_gc():  # the label's checked lines: alive together, no cycles
            result = self.converter.convert_sequence(key, members, frames, self.on_duplicate)
        raw = raw_rows(members)
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
        read = raw_rows(parts)
        raw_parts = tuple((loc, read[loc]) for loc, _ in parts)
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
