"""The offline dry run of a sequence dataset, planned while the rows stream by: no grouping.

A sequence label is made of rows anywhere in the input, so the upload groups
them on disk first (:mod:`upload_preds.grouping`) and reads each group back.
An offline dry run (``--dry-run`` without an API key) builds no label and
sends nothing: it only needs each label's verdict and counts. For the common
tracker row (image boxes checked when read, see
:class:`~upload_preds.convert.seqdecode.RowDecoder`) those come from a little
state per label, updated as each row streams by, with nothing per row kept:

* the category of each track, and a bit per (track, frame) seen (one
  ``bytearray`` per track), for the rules "a track keeps its category" and
  "an object is given once";
* the highest frame (the frame count when none is known), and the frame
  count's bound when one is (``--frames``);
* the ``--min-score`` drops, the running sum, least and greatest of the kept
  scores (the label score, summed left to right as
  :func:`~upload_preds.convert.checks.derive_score` does, so the same float),
  and the kept objects' categories, counted (``plan_categories`` then lists each
  category as many times as it was kept, in the order each first appeared: the
  plan's tally counts them, and sees the same counts in the same order).

This is what :func:`~upload_preds.convert.seqplan.plan_sequence` computes over a
group read back, in the same order (input order), so a label that passes gets
the same planned job either way. A label whose rule breaks, or that has a row
the fast path does not take (CSV lines, complete labels, other shapes), is
*handed back*: its state is dropped and :meth:`SequenceStream.handed_back`
names it, and after the first read :mod:`upload_preds.seqgroups` reads the
input a second time for those labels only, grouping their rows as the upload
does, so every error is found and worded by the full path, as before. A file
whose labels all pass (the common case) is read once.

Why: measured on the issue's bench (1M shuffled rows of 2,000 sequences), the
grouped dry run spent about 7 µs a row beyond reading; the grouping alone
(spill lines formatted, written, read back, parsed and grouped) was more than
half of it. Streaming costs a dict lookup and a few integer operations a row.

Memory: the state is per label and track, not per row (about 260 bytes a
track over 500 frames). Past :data:`MAX_LABELS` labels (followed, or handed
back) or
:data:`MAX_TRACK_BYTES` of tracks, the stream gives up
(:attr:`SequenceStream.gave_up`) and every label takes the grouped way, whose
memory is bounded whatever the number of labels.

A streamed label's job keeps no rows: its :attr:`~upload_preds.records.LabelJob.locs`
know their count at once (what a dry run counts) and list the lines only when
asked, by reading the input for that label again (:class:`ReadBackLocs`); its
attributes are built the same way. A dry run asks for neither.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Final, overload

import orjson

from upload_preds.convert.seqdecode import RowDecoder
from upload_preds.convert.seqfast import FIELDS, Compact
from upload_preds.convert.seqlines import FrameRules
from upload_preds.grouping import key_order
from upload_preds.records import Location, PlannedLabelJob

__all__ = ["MAX_LABELS", "ReadBackLocs", "SequenceStream"]

#: Labels followed at once; past it the stream gives up.
MAX_LABELS: Final = 20_000
#: The estimated bytes of the tracks' state (their bits and entries); past it the stream
#: gives up. (The issue's bench holds about 2 MB: 2,000 labels of five tracks.)
MAX_TRACK_BYTES: Final = 24 * 1024 * 1024
# Estimated bytes of a track's entry beyond its bits (the tuple, the bytearray object,
# its key and slot in the label's dict).
_TRACK_OVERHEAD: Final = 200
# A frame index past this is not given a bit (the bitmap would be large): the label is
# handed back, and the grouped way judges it (an index that high is rarely right).
_MAX_BIT_FRAME: Final = 1 << 20
_INF: Final = float("inf")

# A label's state, a list for speed (index names below).
_TRACKS, _LINES, _TOTAL, _COUNT, _LOW, _HIGH, _FILTERED, _ANY, _KEPT, _TOP, _FIRST = range(11)

#: ``load(key)``: the ``[(location, compact objects)]`` of a label's lines, in input
#: order, read from the input again.
LoadLines = Callable[[str], list[tuple[Location, Compact]]]


class ReadBackLocs(Sequence[Location]):
    """The locations of a streamed label's lines: their count known, the lines read back
    from the input on first use (``load``)."""

    __slots__ = ("_count", "_key", "_load", "_locs")

    def __init__(self, count: int, key: str, load: LoadLines) -> None:
        self._count = count
        self._key = key
        self._load = load
        self._locs: tuple[Location, ...] | None = None

    def _all(self) -> tuple[Location, ...]:
        if self._locs is None:
            self._locs = tuple(loc for loc, _ in self._load(self._key))
        return self._locs

    def __len__(self) -> int:
        return self._count

    @overload
    def __getitem__(self, index: int) -> Location: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[Location]: ...

    def __getitem__(self, index: int | slice) -> Location | Sequence[Location]:
        return self._all()[index]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence):
            return self._all() == tuple(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"ReadBackLocs({self._count} lines of {self._key})"


class SequenceStream:
    """Plans the labels of one offline dry run from their rows as they are read."""

    def __init__(self, rules: FrameRules, frames: int | None, load: LoadLines) -> None:
        self.rules = rules
        self.frames = frames
        self._load = load
        self._decoder = RowDecoder(rules)
        #: sample_uuid → group key, for lines that name their sample by uuid alone.
        self.keys: dict[str, str] = {}
        # Group key → its state (see _new); a handed-back label has none.
        self._state: dict[str, list[Any]] = {}
        #: Labels handed back to the grouped way (read again after the first read).
        self.handed_back: set[str] = set()
        #: Whether the stream gave up (too many labels): every label is handed back.
        self.gave_up = False
        #: Labels whose frame count was not known (the highest index + 1 was taken).
        self.frames_guessed = 0
        self._min_score = rules.ctx.min_score
        self._feed = self._feeder()
        self._take = self._taker()

    # -- reading ---------------------------------------------------------------------------

    def taker(self) -> Callable[[bytes, str, int, int], bool]:
        """The reader's ``take`` (:data:`upload_preds.readers.Take`): a common row of a
        label already met is planned from its bytes; any other line is left to the
        reader (False), which makes a record of it for :meth:`add`."""
        return self._take

    def _taker(self) -> Callable[[bytes, str, int, int], bool]:
        objects = self._decoder.objects
        key_of = self.keys.get
        state_of = self._state.get
        feed = self._feed
        hand_back = self.hand_back

        def take(line: bytes, name: str, lineno: int, offset: int) -> bool:
            got = objects(line)
            if got is None:
                return False
            key = key_of(got[0])
            if key is None:
                return False  # a label's first row: its key is made the full way
            state = state_of(key)
            # (A handed-back label's lines are read again later, with all of its others.)
            if state is not None:
                state[_LINES] += 1
                if not feed(state, got[1]):
                    hand_back(key)
            return True

        return take

    def add(self, key: str, loc: Location, objects: Compact | None, uuid: str | None) -> None:
        """A row of ``key`` made the full way: its compact objects, or ``None`` when the
        fast path does not take it (the label is handed back); ``uuid``: the row names
        its sample by this uuid alone (its next rows are then taken from their bytes)."""
        if self.gave_up or key in self.handed_back:
            return
        state = self._state.get(key)
        if state is None:
            if len(self._state) >= MAX_LABELS:
                self.give_up()
                return
            state = self._state[key] = [{}, 0, 0.0, 0, None, None, 0, False, {}, -1, loc]
            if uuid is not None:
                self.keys[uuid] = key
        state[_LINES] += 1
        if objects is None or not self._feed(state, objects):
            self.hand_back(key)

    def hand_back(self, key: str) -> None:
        """Leave ``key`` to the grouped way (every label, past MAX_LABELS handed back:
        the set of their keys is bounded like the state)."""
        self._state.pop(key, None)
        if len(self.handed_back) >= MAX_LABELS:
            self.give_up()
            return
        self.handed_back.add(key)

    def give_up(self) -> None:
        """Leave every label to the grouped way (too many to follow at once)."""
        self.gave_up = True
        self._state.clear()
        self.keys.clear()

    def _feeder(self) -> Callable[[list[Any], Compact], bool]:
        """``feed(state, objects)``: add a line's compact objects to its label's state;
        False when a rule across lines breaks (the grouped way then reports it)."""
        frames = self.frames
        # With a frame count, a track's bits are made at once and no index passes it;
        # without, the bits grow with the highest frame (up to _MAX_BIT_FRAME).
        limit = frames if frames is not None else _MAX_BIT_FRAME
        size = (frames + 7) // 8 if frames is not None else 0
        guess = frames is None
        min_score = self._min_score if self._min_score is not None else -_INF
        extremes = self.rules.ctx.options.score_from in ("min", "max")
        spent = [0]  # the tracks' estimated bytes
        give_up = self.give_up

        def grown(more: int) -> bool:
            spent[0] += more
            if spent[0] <= MAX_TRACK_BYTES:
                return True
            give_up()
            return False

        def feed(state: list[Any], objs: Compact) -> bool:
            tracks: dict[int, tuple[Any, bytearray]] = state[_TRACKS]
            n = len(objs)
            i = 0
            while i < n:
                frame = objs[i]
                if frame >= limit:
                    return False
                cid = objs[i + 4]
                entry = tracks.get(objs[i + 1])
                if entry is None:
                    seen = bytearray(size or (frame >> 3) + 1)
                    tracks[objs[i + 1]] = (cid, seen)
                    if not grown(len(seen) + _TRACK_OVERHEAD):
                        return False
                elif entry[0] != cid:
                    return False  # a track changes category
                else:
                    seen = entry[1]
                at = frame >> 3
                if guess:
                    if at >= len(seen):
                        if not grown(at + 1 - len(seen)):
                            return False
                        seen.extend(bytes(at + 1 - len(seen)))
                    if frame > state[_TOP]:
                        state[_TOP] = frame
                bit = 1 << (frame & 7)
                if seen[at] & bit:
                    return False  # the same (frame, track) twice
                seen[at] |= bit
                score = objs[i + 3]
                i += FIELDS
                if score is not None:
                    state[_ANY] = True
                    if score < min_score:
                        state[_FILTERED] += 1
                        continue
                    state[_TOTAL] += score
                    state[_COUNT] += 1
                    if extremes:
                        low = state[_LOW]
                        if low is None or score < low:
                            state[_LOW] = score
                        high = state[_HIGH]
                        if high is None or score > high:
                            state[_HIGH] = score
                kept = state[_KEPT]
                kept[cid] = kept.get(cid, 0) + 1
            return True

        return feed

    # -- the labels ------------------------------------------------------------------------

    def keys_in_order(self) -> list[tuple[tuple[int, str], str]]:
        """``(key_order(key), key)`` of the streamed labels, in the order groups come out
        (:func:`key_order`)."""
        return sorted((key_order(key), key) for key in self._state)

    def job(self, key: str) -> PlannedLabelJob:
        """The planned job of a streamed label (as :func:`.seqplan.plan_sequence` makes
        it of the label's lines); its state is dropped."""
        state = self._state.pop(key)
        ctx = self.rules.ctx
        how = ctx.options.score_from
        count = state[_COUNT]
        score: float | None
        if how == "none" or not count:
            score = None
        elif how == "max":
            score = state[_HIGH]
        elif how == "min":
            score = state[_LOW]
        else:  # the mean, summed left to right as derive_score() sums it
            score = state[_TOTAL] / count
        labelset, ref_kind, ref = orjson.loads(key)
        categories: list[Any] = []
        for cid, n in state[_KEPT].items():
            categories += [cid] * n
        if self.frames is None:
            self.frames_guessed += 1
        return PlannedLabelJob(
            sample_uuid=ref if ref_kind == "u" else None,
            sample_name=ref if ref_kind == "n" else None,
            labelset=labelset,
            label_status=ctx.options.label_status,
            score=score,
            locs=ReadBackLocs(state[_LINES], key, self._load),
            filtered_annotations=state[_FILTERED],
            object_scores_dropped=ctx.osa is None and state[_ANY],
            score_derived=score is not None,
            plan_type="bbox",
            plan_categories=categories,
            source=(_build, (self, key), state[_FIRST]),
        )


def _build(source: tuple[SequenceStream, str], loc: Location) -> dict[str, Any]:
    """The label of a streamed job, built when its attributes are read: its lines read
    back from the input and assembled as the upload assembles them."""
    from upload_preds.convert.seqfast import compact_line
    from upload_preds.convert.sequences import Assembled, assemble

    stream, key = source
    lines = stream._load(key)
    result = assemble(stream.rules, [compact_line(at, objs) for at, objs in lines], stream.frames)
    assert isinstance(result, Assembled), "the stream checked the lines"
    return result.label
