"""Per-frame rows → one sequence label (image vector, point cloud cuboid and vector sequences).

In a sequence dataset a JSON/JSONL row or a CSV/TSV record is a *part* of a
label, as a CSV record is for single images: every row and record of one
(sample, label set), from every input file and in any order, becomes one
``{"format_version": ..., "frames": [...]}`` label. The pipeline groups them
(:class:`~upload_preds.grouping.Grouper`, see :mod:`upload_preds.seqgroups`) by
:func:`.seqlines.part_key`, with the row
itself as the payload, and hands each group to :func:`convert_sequence` with
the sample's frame count.

How a group becomes a label:

1. Each line is checked on its own (:func:`.seqlines.check_line`): the sequence fields
   (``frame`` of the row or of an annotation, ``track_id``, ``is_keyframe``, or
   the CSV columns of those names) here, and everything else of an annotation
   by the *frame task type's* label family: ``LABEL_FAMILIES[frame kind].build``
   with a context whose task type is the single-frame one (``vector`` for
   ``image-vector-sequence``, ``pointcloud-cuboid`` for its sequence...), so
   every single-image rule and message applies unchanged, and a frame kind
   whose family exists plugs in with one line in :data:`SEQUENCE_FRAME_KINDS`.
   CSV records go through :func:`~.csvrows.csv_part` with that context.
2. Then the label's rules, over all lines in input order: the frame index is
   in range (the sample's frame count), a track keeps its category, and an
   object (frame, track) is given once: a second one is an error naming both
   lines, or with ``--on-duplicate last`` the later wins and a line whose
   objects were all superseded is reported as superseded. :func:`assemble`
   first tries one pass that gathers each frame's objects by track as it
   checks them and gives up at the first broken rule; only then (or with
   ``--on-duplicate last``) the checked way runs, which finds and words every
   error. A property test holds the two to byte-identical labels.
3. The frames: exactly as many as the sample has, empty ones included; an
   object's annotation is the frame family's, with ``id`` = ``track_id`` (one
   id per track across frames, as the platform numbers them, so ids are unique
   within every frame), ``track_id`` and ``is_keyframe`` (default true: a
   prediction for a frame is a position observed there, not interpolated).
   Annotations of a frame are ordered by track id, so the label does not
   depend on the order of the input.

Scores follow the single-image rules: ``--min-score`` drops scored objects
below it (they are still checked), ``--object-score-attribute`` stores an
object's score in its attributes, and the label score is ``--score-from`` over
the kept objects of the whole sequence. If any line fails, the whole label
fails and every line gets one error (its own, or "line N of the same label
failed"), as for CSV labels.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import orjson

from upload_preds.convert.checks import INT_MAX, R_INVALID, derive_score
from upload_preds.convert.context import Built, Context
from upload_preds.convert.csvrows import input_order, label_failed
from upload_preds.convert.seqlines import (
    R_FRAME,
    R_TRACK,
    FrameRules,
    Line,
    Obj,
    _json_line,
    check_line,
)
from upload_preds.records import LabelJob, Location, Record, RowError

#: Sequence task type (label kind) → the label kind of one of its frames. A frame kind
#: needs a label family in ``LABEL_FAMILIES``; adding a sequence type is one line here.
SEQUENCE_FRAME_KINDS: dict[str, str] = {
    "image-vector-sequence": "vector",
    "pointcloud-cuboid-sequence": "pointcloud-cuboid",
    "pointcloud-vector-sequence": "pointcloud-vector",
}

R_DUPLICATE_OBJECT = "duplicate object"


@dataclass(slots=True)
class Assembled:
    """A sequence label made of checked lines, and what the plan counts about it."""

    label: dict[str, Any]
    score: float | None
    filtered: int
    dropped: bool
    #: Lines all of whose objects were superseded (``--on-duplicate last``), each
    #: with the location of the line that superseded it.
    superseded: list[tuple[Location, Location]]
    #: The kept objects' scores: a multi-sensor label's score is taken over all its
    #: sensors' objects (convert/multisensor.py).
    kept_scores: list[float] = dataclasses.field(default_factory=list)


#: No category seen yet for a track (a category id may be None).
_UNSEEN: Any = object()


def _out_of_range(loc: Location, where: str, frame: int, frames: int) -> RowError:
    return RowError(
        loc,
        f"{where}.frame" if where else "frame",
        R_FRAME,
        f"frame {frame} is out of range: the sample has {frames} frame(s), 0 to {frames - 1}",
    )


def _name(loc: Location, other: Location) -> str:
    """``other`` as seen from ``loc``: ``line N`` in the same file, else ``file:line``."""
    return f"line {other.line}" if other.file == loc.file else str(other)


def assemble(
    rules: FrameRules,
    lines: list[Line],
    frames: int | None,
    on_duplicate: str = "error",
) -> Assembled | dict[int, RowError]:
    """Checked lines (in input order) → one sequence label, or the errors by line index.

    ``frames`` is the sample's frame count; ``None`` (unknown) takes the highest
    frame index + 1.
    """
    if on_duplicate != "last":
        built = _assemble_passing(rules, lines, frames)
        if built is not None:
            return built
    return _assemble_checked(rules, lines, frames, on_duplicate)


def _fv(rules: FrameRules) -> str:
    return "0.2" if rules.frame_kind.startswith("pointcloud") else "0.1"


def _assemble_passing(rules: FrameRules, lines: list[Line], frames: int | None) -> Assembled | None:
    """:func:`assemble` for a label that breaks no rule, in one pass; ``None`` at the
    first broken rule (then :func:`_assemble_checked` finds and words every error).

    Why a second way: a label that passes is what is built nearly always, and
    without the checked way's bookkeeping (the line that gave each track its
    category, the owners of superseded objects, every score kept for a second
    look) its pass is about a tenth faster (bench_sequences.py, section 2). A
    test holds the two to byte-identical labels."""
    ctx = rules.ctx
    # Each frame's objects by track, as they come: the duplicate check and the
    # frame's annotations in one dict (a filtered object holds its place as None).
    slots: dict[int, dict[int, dict[str, Any] | None]] = {}
    slot = slots.get
    limit = frames if frames is not None else INT_MAX + 1
    category: dict[int, Any] = {}
    first_category = category.setdefault
    attrs: dict[int, dict[str, Any]] = {}
    min_score = ctx.min_score
    kept_scores: list[float] = []
    keep_score = kept_scores.append
    filtered = 0
    any_score = False
    for line in lines:
        for o in line.objects:
            frame = o.frame
            if frame >= limit:
                return None
            out = o.out
            track = o.track
            cid = out.get("category_id")
            if first_category(track, cid) != cid:
                return None
            tracks = slot(frame)
            if tracks is None:
                tracks = slots[frame] = {}
            elif track in tracks:
                return None
            score = o.score
            if score is not None:
                any_score = True
                if min_score is not None and score < min_score:
                    filtered += 1
                    tracks[track] = None
                    continue
                keep_score(score)
            tracks[track] = out
        at_frame = line.image_attributes
        if at_frame is not None:
            f, ia = at_frame
            if f >= limit:
                return None
            attrs[f] = {**attrs[f], **ia} if f in attrs else {**ia}
    if frames is not None:
        count = frames
    else:
        count = max(max(slots, default=-1), max(attrs, default=-1)) + 1
    fv = _fv(rules)
    out_frames: list[dict[str, Any]] = []
    append = out_frames.append
    for f in range(count):
        by_track = slot(f)
        if by_track is None:
            annotations: list[Any] = []
        else:
            annotations = list(by_track.values())
            keys = list(by_track)
            if keys != sorted(keys):
                annotations = [by_track[t] for t in sorted(keys)]
            if filtered and None in annotations:
                annotations = [a for a in annotations if a is not None]
        if attrs and f in attrs:
            append({"format_version": fv, "annotations": annotations, "image_attributes": attrs[f]})
        else:
            append({"format_version": fv, "annotations": annotations})
    return Assembled(
        {"format_version": fv, "frames": out_frames},
        derive_score(kept_scores, ctx.options.score_from),
        filtered,
        ctx.osa is None and any_score,
        [],
        kept_scores,
    )


def _changes_category(
    lines: list[Line], n: int, o: Obj, cid: Any, first: Any, category_line: dict[int, int]
) -> RowError:
    loc = lines[n].loc
    return RowError(
        loc,
        f"{o.where}.category_id" if o.where else "category",
        R_TRACK,
        f"track {o.track} changes category: category id {cid} here, "
        f"{first} at {_name(loc, lines[category_line[o.track]].loc)}; a "
        "track keeps one category in every frame",
    )


def _assemble_checked(
    rules: FrameRules,
    lines: list[Line],
    frames: int | None,
    on_duplicate: str,
) -> Assembled | dict[int, RowError]:
    """:func:`assemble` with every rule checked and worded, and ``--on-duplicate last``.

    Also one pass over the objects: each frame's slot maps track → object, so a
    second (frame, track) is found there and, with ``--on-duplicate last``, the last
    one given is the one the slot keeps (superseded objects are rare: what they
    change is worked out again only when there are some)."""
    ctx = rules.ctx
    if frames is None:
        # The highest frame in range: one beyond is an error below, and takes no slot.
        limit = INT_MAX + 1
        top = -1
        for line in lines:
            for o in line.objects:
                if top < o.frame < limit:
                    top = o.frame
            at_frame = line.image_attributes
            if at_frame is not None and top < at_frame[0] < limit:
                top = at_frame[0]
        count = top + 1
    else:
        count = limit = frames
    # One pass over the objects does the label's rules and places each object: a
    # frame's slot maps track → object, so a second object (frame, track) is seen
    # there (no (frame, track) tuples), and the last one given is the one kept.
    slots: list[dict[int, Obj]] = [{} for _ in range(count)]
    category: dict[int, Any] = {}  # track → its category id
    category_line: dict[int, int] = {}  # track → the line that gave it first
    cat_get = category.get
    scores: list[float] = []  # of every placed object with one, in input order
    add_score = scores.append
    bad: dict[int, RowError] = {}
    owner: dict[int, int] | None = None  # id(object) → line: made at a first duplicate
    dead: set[int] = set()  # id() of objects superseded (--on-duplicate last)
    superseded_by: dict[int, int] = {}
    keep_last = on_duplicate == "last"
    for n, line in enumerate(lines):
        for o in line.objects:
            frame = o.frame
            track = o.track
            cid = o.out.get("category_id")
            first = cat_get(track, _UNSEEN)
            if first is _UNSEEN:
                category[track] = cid
                category_line[track] = n
            elif first != cid and frame < limit:  # out of range: that error comes first
                bad.setdefault(n, _changes_category(lines, n, o, cid, first, category_line))
            if frame >= limit:
                bad.setdefault(n, _out_of_range(line.loc, o.where, frame, limit))
                continue
            score = o.score
            if score is not None:
                add_score(score)
            slot = slots[frame]
            prev = slot.get(track)
            slot[track] = o
            if prev is not None:
                if owner is None:
                    owner = {id(p): m for m, ln in enumerate(lines) for p in ln.objects}
                if keep_last:
                    dead.add(id(prev))
                    superseded_by[owner[id(prev)]] = n
                else:
                    bad.setdefault(
                        n,
                        RowError(
                            line.loc,
                            f"{o.where}.track_id" if o.where else "track_id",
                            R_DUPLICATE_OBJECT,
                            f"track {track} in frame {frame} is already given at "
                            f"{_name(line.loc, lines[owner[id(prev)]].loc)}; give each object "
                            "once per frame, or pass --on-duplicate last to keep the last one",
                        ),
                    )
        at_frame = line.image_attributes
        if at_frame is not None and at_frame[0] >= limit:
            bad.setdefault(n, _out_of_range(line.loc, "", at_frame[0], limit))
    if bad:
        return bad
    attrs: list[dict[str, Any] | None] = [None] * count
    for line in lines:
        if line.image_attributes is not None:
            f, ia = line.image_attributes
            attrs[f] = {**(attrs[f] or {}), **ia}
    superseded: list[tuple[Location, Location]] = []
    if dead:
        # Superseded objects count for nothing: their scores are taken again without
        # them, and a line all of whose objects were superseded is reported.
        scores = []
        for n, line in enumerate(lines):
            live = 0
            for o in line.objects:
                if id(o) in dead:
                    continue
                live += 1
                if o.score is not None:
                    scores.append(o.score)
            if line.objects and not live and n in superseded_by:
                superseded.append((line.loc, lines[superseded_by[n]].loc))
    min_score = ctx.min_score
    # ``not s < min_score``: exactly the objects --min-score does not drop.
    kept_scores = scores if min_score is None else [s for s in scores if not s < min_score]
    fv = "0.2" if rules.frame_kind.startswith("pointcloud") else "0.1"
    out_frames: list[dict[str, Any]] = []
    for f in range(count):
        slot = slots[f]
        if min_score is None:
            anns = [slot[t].out for t in sorted(slot)]
        else:
            anns = [
                o.out
                for o in map(slot.__getitem__, sorted(slot))
                if o.score is None or not o.score < min_score
            ]
        entry: dict[str, Any] = {"format_version": fv, "annotations": anns}
        if attrs[f] is not None:
            entry["image_attributes"] = attrs[f]
        out_frames.append(entry)
    return Assembled(
        {"format_version": fv, "frames": out_frames},
        derive_score(kept_scores, ctx.options.score_from),
        len(scores) - len(kept_scores),
        ctx.osa is None and bool(scores),
        superseded,
        kept_scores,
    )


def convert_sequence(
    rules: FrameRules,
    key: str,
    items: list[tuple[Location, Record | Line]],
    frames: int | None,
    on_duplicate: str = "error",
) -> LabelJob | list[RowError]:
    """All rows and records of one (label set, sample) → one sequence label, or one
    error per line (its own, or that another line of the label failed). A
    :class:`Line` among ``items`` was checked already (when it was read)."""
    labelset, ref_kind, ref = orjson.loads(key)
    ordered = input_order(items)
    locs = tuple(loc for loc, _ in ordered)
    bad: dict[int, RowError] = {}
    lines: list[Line] = []
    index: list[int] = []  # line position → position in ``ordered``
    for n, (_, record) in enumerate(ordered):
        checked = record if isinstance(record, Line) else check_line(rules, record)
        if isinstance(checked, Line):
            lines.append(checked)
            index.append(n)
        else:
            first = checked[0]
            msg = first.message
            if len(checked) > 1:
                msg += (
                    " (also "
                    + "; ".join(
                        f"{e.field}: {e.message}" if e.field else e.message for e in checked[1:]
                    )
                    + ")"
                )
            bad[n] = dataclasses.replace(first, message=msg)
    if not bad:
        result = assemble(rules, lines, frames, on_duplicate)
        if isinstance(result, Assembled):
            job = LabelJob(
                sample_uuid=ref if ref_kind == "u" else None,
                sample_name=ref if ref_kind == "n" else None,
                labelset=labelset,
                label_status=rules.ctx.options.label_status,
                attributes=result.label,
                score=result.score,
                locs=locs,
                filtered_annotations=result.filtered,
                object_scores_dropped=result.dropped,
                score_derived=result.score is not None,
            )
            if result.superseded:
                job.extra["superseded"] = result.superseded
            if frames is None:
                job.extra["frames_guessed"] = len(result.label["frames"])
            return job
        bad = {index[n]: e for n, e in result.items()}
    return label_failed(locs, bad, labelset, ref_kind, ref)


def build(
    ctx: Context, data: dict[str, Any], anns: Any, loc: Location, errors: list[RowError]
) -> Built | None:
    """A sequence label from one row alone (the label family's ``build``): for a row
    that reaches the converter outside the grouping (the frame count is then the
    highest frame index + 1). The pipeline groups sequence rows instead."""
    from upload_preds.convert.converter import LABEL_FAMILIES  # the table that names us

    kind = ctx.kind or ""
    frame_family = LABEL_FAMILIES.get(SEQUENCE_FRAME_KINDS.get(kind, ""))
    if frame_family is None:
        errors.append(RowError(loc, "annotations", R_INVALID, f"no frame rules for {kind}"))
        return None
    rules = FrameRules(ctx, SEQUENCE_FRAME_KINDS[kind], frame_family.build)
    data = {k: v for k, v in data.items() if k not in ("sample_uuid", "sample_name", "labelset")}
    line = _json_line(rules, data, loc, errors)
    if line is None:
        return None
    result = assemble(rules, [line], None)
    if isinstance(result, dict):
        errors.extend(result.values())
        return None
    return Built(result.label, result.score, result.filtered, result.dropped)
