"""Per-frame rows → one sequence label (image vector, point cloud cuboid and vector sequences).

In a sequence dataset a JSON/JSONL row or a CSV/TSV record is a *part* of a
label, as a CSV record is for single images: every row and record of one
(sample, label set), from every input file and in any order, becomes one
``{"format_version": ..., "frames": [...]}`` label. The pipeline groups them
(:class:`~upload_preds.grouping.Grouper`) by :func:`part_key`, with the row
itself as the payload, and hands each group to :func:`convert_sequence` with
the sample's frame count.

How a group becomes a label:

1. Each line is checked on its own (:func:`_line_objects`): the sequence fields
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
   objects were all superseded is reported as superseded.
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
from typing import Any, Final

import orjson

from upload_preds.convert.checks import (
    INT_MAX,
    R_INVALID,
    R_MISSING,
    R_SAMPLE,
    R_UNKNOWN_FIELD,
    checked_image_attributes,
    derive_score,
    short,
    suggest_key,
    valid_labelset,
    valid_ref,
)
from upload_preds.convert.context import BuildLabel, Built, Context
from upload_preds.convert.csvrows import csv_part, label_failed
from upload_preds.records import LabelJob, Location, Record, RowError

#: Sequence task type (label kind) → the label kind of one of its frames. A frame kind
#: needs a label family in ``LABEL_FAMILIES``; adding a sequence type is one line here.
SEQUENCE_FRAME_KINDS: dict[str, str] = {
    "image-vector-sequence": "vector",
    "pointcloud-cuboid-sequence": "pointcloud-cuboid",
    "pointcloud-vector-sequence": "pointcloud-vector",
}

R_FRAME = "invalid frame"
R_TRACK = "invalid track"
R_DUPLICATE_OBJECT = "duplicate object"

#: The fields of a sequence row (a part of a label).
ROW_KEYS: Final = frozenset(
    {"sample_uuid", "sample_name", "labelset", "frame", "annotations", "image_attributes", "sensor"}
)
#: The fields an annotation of a sequence row has beyond its frame type's.
ANN_KEYS: Final = frozenset({"frame", "track_id", "is_keyframe"})

_TRUE = frozenset({"true", "1", "yes"})
_FALSE = frozenset({"false", "0", "no"})


@dataclass(slots=True)
class Obj:
    """One checked object of a line: where it goes and its annotation (without ids)."""

    frame: int
    track: int
    keyframe: bool
    score: float | None
    out: dict[str, Any]
    #: How the input names it: ``annotations[2]`` in a JSON row, "" for a CSV record.
    where: str


@dataclass(slots=True)
class Line:
    """One input line of a sequence label, checked: its objects and frame attributes."""

    loc: Location
    objects: list[Obj]
    image_attributes: tuple[int, dict[str, Any]] | None = None


class FrameRules:
    """How the lines of one sequence label are checked: the frame kind's context and family.

    Built once per run (and per sensor task type of a multi-sensor dataset).
    """

    def __init__(self, ctx: Context, frame_kind: str, build: BuildLabel) -> None:
        # Objects below --min-score are dropped across the whole sequence (here), not
        # by the frame family, so every object comes back from it with its score.
        options = dataclasses.replace(ctx.options, min_score=None)
        self.ctx = ctx
        self.frame_ctx = Context(options, ctx.categories, frame_kind, ctx.build_attributes)
        self.frame_ctx.sequence_frames = True
        self.frame_kind = frame_kind
        self.build = build
        #: The sensor these lines are for (multi-sensor datasets), or None.
        self.sensor: str | None = None


def part_key(ctx: Context, record: Record) -> str | RowError | None:
    """The group key (``[labelset, "u" | "n", ref]`` as JSON, the key CSV records get
    from :func:`~.csvrows.csv_part`) of a sequence row or record; an error when it names
    no usable sample; ``None`` for a JSON row that is a complete label (``attributes``)."""
    data = record.data
    loc = record.loc
    if record.fmt in ("csv", "tsv"):
        uuid = (data.get("sample_uuid") or "").strip()
        name = data.get("sample_name") or ""
        labelset: Any = (data.get("labelset") or "").strip() or ctx.options.default_labelset
        if uuid and name.strip():
            return RowError(
                loc, "sample_name", R_SAMPLE, "give either sample_uuid or sample_name, not both"
            )
        ref: Any = uuid or name.strip()
        if not ref:
            col = "sample_name" if "sample_name" in data else "sample_uuid"
            return RowError(
                loc, col, R_SAMPLE, "empty: every line needs a sample_uuid or sample_name"
            )
        kind = "u" if uuid else "n"
        field = "sample_uuid" if uuid else "sample_name"
    else:
        if type(data) is not dict:
            return RowError(
                loc, None, R_INVALID, f"a row should be a JSON object, got {type(data).__name__}"
            )
        if "attributes" in data:
            return None
        uuid = data.get("sample_uuid")
        name = data.get("sample_name")
        if uuid is not None and name is not None:
            return RowError(
                loc, "sample_name", R_SAMPLE, "give either sample_uuid or sample_name, not both"
            )
        if uuid is None and name is None:
            return RowError(
                loc, "sample_uuid", R_SAMPLE, "missing: give sample_uuid or sample_name"
            )
        kind, ref, field = (
            ("u", uuid, "sample_uuid") if uuid is not None else ("n", name, "sample_name")
        )
        if kind == "n" and isinstance(ref, str):
            ref = ref.strip()
        labelset = data.get("labelset")
        if labelset is None:
            labelset = ctx.options.default_labelset
    if not valid_ref(ref):
        return RowError(
            loc, field, R_SAMPLE, f"should be a non-empty string without '/', got {short(ref)}"
        )
    if not valid_labelset(labelset):
        return RowError(
            loc,
            "labelset",
            R_INVALID,
            f"should be a non-empty label set name without '/', got {short(labelset)}",
        )
    return orjson.dumps([labelset, kind, ref]).decode()


def looks_like_part(record: Record) -> bool:
    """Whether a row or record carries per-frame fields (``frame``, ``track_id``): a part
    of a sequence label, for the duplicate look-ahead that runs before the dataset's task
    type is known (such a row fails in any other dataset, so nothing is lost by not
    counting it there)."""
    data = record.data
    if record.fmt in ("csv", "tsv"):
        return "frame" in data or "track_id" in data
    if type(data) is not dict or "attributes" in data:
        return False
    if "frame" in data:
        return True
    anns = data.get("annotations")
    return type(anns) is list and any(
        type(a) is dict and ("track_id" in a or "frame" in a) for a in anns
    )


def _index(value: Any) -> int | None:
    """A frame index or track id given as a JSON integer (``true`` is not one)."""
    return value if type(value) is int and 0 <= value <= INT_MAX else None


def _cell_int(text: str) -> int | None:
    text = text.strip()
    if text.isdigit():
        v = int(text)
        return v if v <= INT_MAX else None
    return None


def _json_line(
    rules: FrameRules, data: dict[str, Any], loc: Location, errors: list[RowError]
) -> Line | None:
    """A JSON row of a sequence label, checked; ``None`` with its errors appended."""
    n_err = len(errors)
    for k in data:
        if k not in ROW_KEYS:
            hint = (
                "; a sequence label's score comes from its objects' scores (--score-from)"
                if k == "score"
                else suggest_key(k, ROW_KEYS)
            )
            errors.append(
                RowError(
                    loc,
                    str(k),
                    R_UNKNOWN_FIELD,
                    "unknown field in a sequence row (known: "
                    + ", ".join(sorted(ROW_KEYS))
                    + ")"
                    + hint,
                )
            )
    row_frame: int | None = None
    if "frame" in data:
        row_frame = _index(data["frame"])
        if row_frame is None:
            errors.append(
                RowError(
                    loc,
                    "frame",
                    R_FRAME,
                    f"should be a frame index (an integer from 0), got {short(data['frame'])}",
                )
            )
    ia = checked_image_attributes(data, loc, errors)
    if ia is not None and "frame" not in data:
        errors.append(
            RowError(
                loc,
                "image_attributes",
                R_MISSING,
                "a sequence row's image_attributes belong to a frame: give the row's 'frame'",
            )
        )
    anns = data.get("annotations")
    if anns is None:
        anns = [] if ia is not None else None
    if type(anns) is not list:
        errors.append(
            RowError(
                loc,
                "annotations",
                R_MISSING if anns is None else R_INVALID,
                "a sequence row needs 'annotations' (a list of objects, each with a track_id)"
                if anns is None
                else f"should be a list of objects, got {short(anns)}",
            )
        )
        return None
    stripped: list[Any] = []
    seq: list[tuple[int, int, bool]] = []
    for i, a in enumerate(anns):
        if type(a) is not dict:
            stripped.append(a)  # the frame family reports it
            seq.append((0, 0, True))
            continue
        frame: Any = a.get("frame", row_frame)
        if "frame" in a:
            frame = _index(a["frame"])
            if frame is None:
                errors.append(
                    RowError(
                        loc,
                        f"annotations[{i}].frame",
                        R_FRAME,
                        f"should be a frame index (an integer from 0), got {short(a['frame'])}",
                    )
                )
            elif row_frame is not None and frame != row_frame:
                errors.append(
                    RowError(
                        loc,
                        f"annotations[{i}].frame",
                        R_FRAME,
                        f"frame {frame} differs from the row's frame {row_frame}; give one",
                    )
                )
        elif row_frame is None and "frame" not in data:
            errors.append(
                RowError(
                    loc,
                    f"annotations[{i}].frame",
                    R_MISSING,
                    "missing: in a sequence dataset every object needs its frame (0-based), "
                    "in the annotation or as the row's 'frame'",
                )
            )
        track = a.get("track_id")
        tid = _index(track) if track is not None else None
        if track is None:
            errors.append(
                RowError(
                    loc,
                    f"annotations[{i}].track_id",
                    R_MISSING,
                    "missing: in a sequence dataset every object needs a track_id "
                    "(a positive integer, the same for the object in every frame)",
                )
            )
        elif not tid:
            errors.append(
                RowError(
                    loc,
                    f"annotations[{i}].track_id",
                    R_TRACK,
                    f"should be a positive integer, got {short(track)}",
                )
            )
        kf = a.get("is_keyframe", True)
        if type(kf) is not bool:
            errors.append(
                RowError(
                    loc,
                    f"annotations[{i}].is_keyframe",
                    R_INVALID,
                    f"should be true or false, got {short(kf)}",
                )
            )
        if "id" in a:
            errors.append(
                RowError(
                    loc,
                    f"annotations[{i}].id",
                    R_UNKNOWN_FIELD,
                    "in a sequence an object's id is its track_id: drop 'id'",
                )
            )
        stripped.append({k: v for k, v in a.items() if k not in ANN_KEYS and k != "id"})
        seq.append((frame if type(frame) is int else 0, tid or 0, kf is not False))
    sensor = data.get("sensor")
    if sensor is not None and rules.sensor is None:
        errors.append(
            RowError(
                loc,
                "sensor",
                R_INVALID,
                f"'sensor' is for multi-sensor datasets; this one is {rules.ctx.task_type}",
            )
        )
    built = rules.build(rules.frame_ctx, {"annotations": stripped}, stripped, loc, errors)
    if built is None or len(errors) > n_err:
        return None
    objs = [
        Obj(f, t, kf, s.get("score"), _without_id(o), f"annotations[{i}]")
        for i, ((f, t, kf), s, o) in enumerate(
            zip(seq, stripped, built.label["annotations"], strict=True)
        )
    ]
    return Line(loc, objs, (row_frame, ia) if ia is not None and row_frame is not None else None)


def _without_id(o: dict[str, Any]) -> dict[str, Any]:
    o.pop("id", None)
    return o


def _csv_line(rules: FrameRules, record: Record, errors: list[RowError]) -> Line | None:
    """A CSV/TSV record of a sequence label (one object), checked."""
    loc = record.loc
    cells = record.data
    part = csv_part(rules.frame_ctx, record)
    bad = False
    if isinstance(part, RowError):
        errors.append(part)
        return None
    payload = part[1]
    for field, reason, msg in payload.get("e", ()):
        errors.append(RowError(loc, field or None, reason, msg))
        bad = True
    if (cells.get("sensor") or "").strip() and rules.sensor is None:
        bad = True
        errors.append(
            RowError(
                loc,
                "sensor",
                R_INVALID,
                f"column sensor is for multi-sensor datasets; this one is {rules.ctx.task_type}",
            )
        )
    frame_text = cells.get("frame")
    frame = _cell_int(frame_text or "")
    if frame is None:
        bad = True
        errors.append(
            RowError(
                loc,
                "frame",
                R_MISSING if not (frame_text or "").strip() else R_FRAME,
                "missing: in a sequence dataset every line needs its frame (0-based)"
                if not (frame_text or "").strip()
                else f"should be a frame index (an integer from 0), got {frame_text!r}",
            )
        )
    track_text = cells.get("track_id") or ""
    track = _cell_int(track_text)
    if not track:
        bad = True
        errors.append(
            RowError(
                loc,
                "track_id",
                R_MISSING if not track_text.strip() else R_TRACK,
                "missing: in a sequence dataset every line needs a track_id (a positive "
                "integer, the same for the object in every frame)"
                if not track_text.strip()
                else f"should be a positive integer, got {track_text!r}",
            )
        )
    kf_text = (cells.get("is_keyframe") or "").strip().lower()
    keyframe = True
    if kf_text in _FALSE:
        keyframe = False
    elif kf_text and kf_text not in _TRUE:
        bad = True
        errors.append(
            RowError(
                loc,
                "is_keyframe",
                R_INVALID,
                f"should be true or false, got {cells.get('is_keyframe')!r}",
            )
        )
    if "i" in payload:
        bad = True
        errors.append(
            RowError(
                loc,
                "id",
                R_UNKNOWN_FIELD,
                "in a sequence an object's id is its track_id: drop 'id'",
            )
        )
    if bad:
        return None
    assert frame is not None
    assert track is not None
    return Line(loc, [Obj(frame, track, keyframe, payload.get("s"), payload["a"], "")])


def check_line(rules: FrameRules, record: Record) -> Line | list[RowError]:
    """One row or record of a sequence label, checked on its own."""
    errors: list[RowError] = []
    if record.fmt in ("csv", "tsv"):
        line = _csv_line(rules, record, errors)
    else:
        line = _json_line(rules, record.data, record.loc, errors)
    if line is None:
        return errors or [RowError(record.loc, None, R_INVALID, "row could not be converted")]
    return line


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
    bad: dict[int, RowError] = {}
    ctx = rules.ctx
    # Frame range.
    if frames is not None:
        for n, line in enumerate(lines):
            for o in line.objects:
                if o.frame >= frames:
                    field = f"{o.where}.frame" if o.where else "frame"
                    bad.setdefault(
                        n,
                        RowError(
                            line.loc,
                            field,
                            R_FRAME,
                            f"frame {o.frame} is out of range: the sample has {frames} "
                            f"frame(s), 0 to {frames - 1}",
                        ),
                    )
            if line.image_attributes is not None and line.image_attributes[0] >= frames:
                bad.setdefault(
                    n,
                    RowError(
                        line.loc,
                        "frame",
                        R_FRAME,
                        f"frame {line.image_attributes[0]} is out of range: the sample has "
                        f"{frames} frame(s), 0 to {frames - 1}",
                    ),
                )
    # Tracks keep their category; an object (frame, track) is given once.
    category: dict[int, tuple[Any, int]] = {}
    seen: dict[tuple[int, int], tuple[int, int]] = {}
    superseded_by: dict[int, int] = {}
    dead: set[tuple[int, int]] = set()  # (line, object) positions superseded
    for n, line in enumerate(lines):
        for k, o in enumerate(line.objects):
            field = o.where + "." if o.where else ""
            cid = o.out.get("category_id")
            first = category.get(o.track)
            if first is None:
                category[o.track] = (cid, n)
            elif first[0] != cid:
                bad.setdefault(
                    n,
                    RowError(
                        line.loc,
                        field + ("category_id" if o.where else "category"),
                        R_TRACK,
                        f"track {o.track} changes category: category id {cid} here, "
                        f"{first[0]} at {_name(line.loc, lines[first[1]].loc)}; a track keeps "
                        "one category in every frame",
                    ),
                )
            at = (o.frame, o.track)
            prev = seen.get(at)
            if prev is not None:
                if on_duplicate == "last":
                    dead.add(prev)
                    superseded_by[prev[0]] = n
                else:
                    bad.setdefault(
                        n,
                        RowError(
                            line.loc,
                            (field + "track_id") if o.where else "track_id",
                            R_DUPLICATE_OBJECT,
                            f"track {o.track} in frame {o.frame} is already given at "
                            f"{_name(line.loc, lines[prev[0]].loc)}; give each object once "
                            "per frame, or pass --on-duplicate last to keep the last one",
                        ),
                    )
            seen[at] = (n, k)
    if bad:
        return bad
    count = frames
    if count is None:
        top = -1
        for line in lines:
            for o in line.objects:
                top = max(top, o.frame)
            if line.image_attributes is not None:
                top = max(top, line.image_attributes[0])
        count = top + 1
    per_frame: list[list[Obj]] = [[] for _ in range(count)]
    attrs: list[dict[str, Any] | None] = [None] * count
    min_score = ctx.min_score
    kept_scores: list[float] = []
    filtered = 0
    any_score = False
    superseded: list[tuple[Location, Location]] = []
    for n, line in enumerate(lines):
        live = 0
        for k, o in enumerate(line.objects):
            if (n, k) in dead:
                continue
            live += 1
            if o.score is not None:
                any_score = True
                if min_score is not None and o.score < min_score:
                    filtered += 1
                    continue
                kept_scores.append(o.score)
            per_frame[o.frame].append(o)
        if line.image_attributes is not None:
            f, ia = line.image_attributes
            attrs[f] = {**(attrs[f] or {}), **ia}
        if line.objects and not live and n in superseded_by:
            superseded.append((line.loc, lines[superseded_by[n]].loc))
    fv = "0.2" if rules.frame_kind.startswith("pointcloud") else "0.1"
    out_frames: list[dict[str, Any]] = []
    for f in range(count):
        objs = sorted(per_frame[f], key=lambda o: o.track)
        frame: dict[str, Any] = {
            "format_version": fv,
            "annotations": [
                {"id": o.track, **o.out, "track_id": o.track, "is_keyframe": o.keyframe}
                for o in objs
            ],
        }
        if attrs[f] is not None:
            frame["image_attributes"] = attrs[f]
        out_frames.append(frame)
    return Assembled(
        {"format_version": fv, "frames": out_frames},
        derive_score(kept_scores, ctx.options.score_from),
        filtered,
        ctx.osa is None and any_score,
        superseded,
    )


def convert_sequence(
    rules: FrameRules,
    key: str,
    items: list[tuple[Location, Record]],
    frames: int | None,
    on_duplicate: str = "error",
) -> LabelJob | list[RowError]:
    """All rows and records of one (label set, sample) → one sequence label, or one
    error per line (its own, or that another line of the label failed)."""
    labelset, ref_kind, ref = orjson.loads(key)
    rank: dict[str, int] = {}
    for loc, _ in items:
        rank.setdefault(loc.file, len(rank))
    ordered = sorted(items, key=lambda it: (rank[it[0].file], it[0].line))
    locs = tuple(loc for loc, _ in ordered)
    bad: dict[int, RowError] = {}
    lines: list[Line] = []
    index: list[int] = []  # line position → position in ``ordered``
    for n, (_, record) in enumerate(ordered):
        checked = check_line(rules, record)
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
