"""The lines of a sequence label, each checked on its own (see :mod:`.sequences`).

A JSON row or CSV record of a sequence dataset is one *line* of a label: the
objects of one or more frames of one sample. :func:`part_key` gives its group
key (label set, sample) when it is read; :func:`check_line` checks it once its
group is complete and returns a :class:`Line` (its :class:`Obj` objects: frame,
track, keyframe flag, score and the frame family's annotation) or its errors.

The sequence fields (``frame`` of the row or of an annotation, ``track_id``,
``is_keyframe``; the CSV columns of those names) are checked here; everything
else of an annotation by the frame kind's own label family, run with a context
whose task type is the single-frame one (:class:`FrameRules`), so every
single-image rule and message applies unchanged. The fast path of
:mod:`.seqfast` (which also holds :class:`Obj` and :class:`Line`) takes the
common tracker row (boxes in pixels) first and gives up at anything else;
:mod:`.cuboidfast` does the same for the common LiDAR row (cuboids).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Final

import orjson

from upload_preds.convert.checks import (
    INT_MAX,
    R_INVALID,
    R_MISSING,
    R_SAMPLE,
    R_UNKNOWN_FIELD,
    checked_image_attributes,
    short,
    unknown_field,
    valid_labelset,
    valid_ref,
)
from upload_preds.convert.context import BuildLabel, Context
from upload_preds.convert.csvrows import csv_part
from upload_preds.convert.cuboidfast import cuboid_line

# Line and Obj are imported from here by the other sequence modules (re-exported).
from upload_preds.convert.seqfast import Line as Line
from upload_preds.convert.seqfast import Obj as Obj
from upload_preds.convert.seqfast import _fast_line
from upload_preds.records import Location, Record, RowError

R_FRAME = "invalid frame"
R_TRACK = "invalid track"

#: The fields of a sequence row (a part of a label).
ROW_KEYS: Final = frozenset(
    {"sample_uuid", "sample_name", "labelset", "frame", "annotations", "image_attributes", "sensor"}
)
#: The fields an annotation of a sequence row has beyond its frame type's.
ANN_KEYS: Final = frozenset({"frame", "track_id", "is_keyframe"})

#: What an annotation loses before its frame family checks it: the sequence fields
#: and ``id`` (reported above when given: an object's id is its track_id).
_NOT_FRAME_KEYS: Final = ANN_KEYS | {"id"}
_ABSENT: Any = object()  # a field not given (None may be given)
_TRUE = frozenset({"true", "1", "yes"})
_FALSE = frozenset({"false", "0", "no"})


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
        # Messages name the dataset's task type (the frame kind decides the rules).
        self.frame_ctx.task_type = ctx.task_type
        self.frame_kind = frame_kind
        self.build = build
        #: The sensor these lines are for (multi-sensor datasets), or None.
        self.sensor: str | None = None
        # Image boxes in pixels without a score attribute take _fast_line first.
        self.fast = (
            frame_kind == "vector" and not ctx.norm and ctx.osa is None and ctx.ids is not None
        )
        # Cuboids without a score attribute take .cuboidfast.cuboid_line first.
        self.fast_cuboid = (
            frame_kind == "pointcloud-cuboid"
            and not ctx.norm
            and ctx.osa is None
            and ctx.ids is not None
        )


def part_key(
    ctx: Context, record: Record, cache: dict[tuple[Any, str, Any], str] | None = None
) -> str | RowError | None:
    """The group key (``[labelset, "u" | "n", ref]`` as JSON, the key CSV records get
    from :func:`~.csvrows.csv_part`) of a sequence row or record, or an error when it
    names no usable sample. A complete label row (``attributes``) is grouped too (a
    second label of its sample is a duplicate); ``None`` when its sample reference is
    unusable, for the converter to report with the row's other errors. ``cache`` maps
    (label set, kind, ref) to keys made before: rows of one sample share one key."""
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
    else:
        if type(data) is not dict:
            return RowError(
                loc, None, R_INVALID, f"a row should be a JSON object, got {type(data).__name__}"
            )
        uuid = data.get("sample_uuid")
        name = data.get("sample_name")
        if uuid is not None and name is not None:
            problem: RowError | None = RowError(
                loc, "sample_name", R_SAMPLE, "give either sample_uuid or sample_name, not both"
            )
        elif uuid is None and name is None:
            problem = RowError(
                loc, "sample_uuid", R_SAMPLE, "missing: give sample_uuid or sample_name"
            )
        else:
            problem = None
        if problem is not None:
            return None if "attributes" in data else problem
        kind, ref = ("u", uuid) if uuid is not None else ("n", name)
        if kind == "n" and isinstance(ref, str):
            ref = ref.strip()
        labelset = data.get("labelset")
        if labelset is None:
            labelset = ctx.options.default_labelset
    if cache is not None:
        try:
            key = cache.get((labelset, kind, ref))
        except TypeError:  # an unhashable value where a name should be: checked below
            key = None
        if key is not None:
            return key
    if not valid_ref(ref):
        if "attributes" in data:
            return None
        field = "sample_uuid" if kind == "u" else "sample_name"
        return RowError(
            loc, field, R_SAMPLE, f"should be a non-empty string without '/', got {short(ref)}"
        )
    if not valid_labelset(labelset):
        if "attributes" in data:
            return None
        return RowError(
            loc,
            "labelset",
            R_INVALID,
            f"should be a non-empty label set name without '/', got {short(labelset)}",
        )
    key = orjson.dumps([labelset, kind, ref]).decode()
    if cache is not None:
        if len(cache) >= 4096:  # bounded: a file of many samples keeps the latest ones
            cache.clear()
        cache[(labelset, kind, ref)] = key
    return key


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
                else None
            )
            errors.append(
                RowError(
                    loc,
                    str(k),
                    R_UNKNOWN_FIELD,
                    unknown_field(k, ROW_KEYS, "unknown field in a sequence row", hint),
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
        frame: Any = a.get("frame", _ABSENT)
        if frame is _ABSENT:
            frame = row_frame
            if row_frame is None and "frame" not in data:
                errors.append(
                    RowError(
                        loc,
                        f"annotations[{i}].frame",
                        R_MISSING,
                        "missing: in a sequence dataset every object needs its frame "
                        "(0-based), in the annotation or as the row's 'frame'",
                    )
                )
        else:
            frame = _index(frame)
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
        if a.get("id") is not None:
            errors.append(
                RowError(
                    loc,
                    f"annotations[{i}].id",
                    R_UNKNOWN_FIELD,
                    "in a sequence an object's id is its track_id: drop 'id'",
                )
            )
        stripped.append({k: v for k, v in a.items() if k not in _NOT_FRAME_KEYS})
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
        Obj(f, t, kf, s.get("score"), _annotation(t, o, kf), i)
        for i, ((f, t, kf), s, o) in enumerate(
            zip(seq, stripped, built.label["annotations"], strict=True)
        )
    ]
    return Line(loc, objs, (row_frame, ia) if ia is not None and row_frame is not None else None)


def _annotation(track: int, out: dict[str, Any], keyframe: bool) -> dict[str, Any]:
    """The frame family's annotation as a sequence annotation: ``id`` = ``track_id``
    (one id per track, as the platform numbers tracked objects), ``is_keyframe``."""
    out.pop("id", None)
    return {"id": track, **out, "track_id": track, "is_keyframe": keyframe}


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
    out = _annotation(track, payload["a"], keyframe)
    return Line(loc, [Obj(frame, track, keyframe, payload.get("s"), out, -1)])


def check_line(rules: FrameRules, record: Record) -> Line | list[RowError]:
    """One row or record of a sequence label, checked on its own."""
    errors: list[RowError] = []
    if record.fmt in ("csv", "tsv"):
        line = _csv_line(rules, record, errors)
    else:
        if rules.fast:
            line = _fast_line(rules, record.data, record.loc)
            if line is not None:
                return line
        elif rules.fast_cuboid:
            line = cuboid_line(rules, record.data, record.loc)
            if line is not None:
                return line
        line = _json_line(rules, record.data, record.loc, errors)
    if line is None:
        return errors or [RowError(record.loc, None, R_INVALID, "row could not be converted")]
    return line
