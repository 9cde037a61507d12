"""Segmentation sequences: one row per frame → one ``pointcloud-segmentation-sequence`` or
``image-segmentation-sequence`` label.

In these datasets a row is one *frame* of a label: ``{"sample_name", "frame",
"point_labels_path"}`` (a per-point label file, as for single point clouds,
:mod:`.pcseg`) or ``{"sample_name", "frame", "mask_path", "mask_kind",
"annotations"}`` (an id image, as for single images, :mod:`.bitmaps`); a
CSV/TSV line has the same fields as columns (:func:`csv_row`; ``annotations``
a JSON cell). The pipeline groups the rows of one (sample, label set) as it
groups every sequence dataset's rows (:mod:`upload_preds.seqgroups`, bounded
memory) and hands each group to :func:`convert_sequence` with the sample's
frame count. :func:`assemble` is the label without its job: a segmentation
sensor of a multi-sensor label (:mod:`.multisensor`, rows with ``sensor``) is
made by it too, with that sensor's categories and frame count.

Each row is checked on its own by the single-frame family, with a context
whose task type is the frame's (every single-label rule and message applies,
and each frame's ids are checked against that frame alone: ``--points``, the
file's length, its categories). Then the label's rules: ``frame`` is a whole
number below the sample's frame count (unknown: the highest index + 1), and a
frame is given once (a second row is an error naming both lines, or with
``--on-duplicate last`` the later row wins).

Annotations are the platform's tracked objects: ``track_id`` is the object's
id and is the same in every frame, so ids are stable values, not 1, 2, 3: a
SemanticKITTI (class, instance) pair's packed value, a class id, an instance
id (point labels); the mask's instance or class id (masks). ``is_keyframe`` is
true (a prediction of a frame is observed there). Frames without a row are
empty (no annotations; a point cloud frame's ``point_annotations`` are
``--points`` zeros, or empty when that is not given). Each frame's bitmap is
an asset of the label (``LabelJob.extra["assets"]``): the engine uploads every
one before the label, with its retries, and the journal's hash of the label
names the bitmaps' contents, so a rerun with unchanged masks sends nothing.

If any row fails, the whole label fails and every row gets one error (its
own, or that another row of the label failed).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import orjson

from upload_preds import masks
from upload_preds.convert import bitmaps, pcseg
from upload_preds.convert.checks import (
    INT_MAX,
    R_INVALID,
    R_MISSING,
    R_UNKNOWN_FIELD,
    checked_image_attributes,
    short,
    unknown_field,
)
from upload_preds.convert.context import Built, Context, Family
from upload_preds.convert.csvcells import json_cell, parse_int
from upload_preds.convert.csvrows import input_order, label_failed
from upload_preds.convert.seqlines import R_FRAME, FrameRules
from upload_preds.records import LabelJob, Location, Record, RowError

#: Segmentation sequence task type (label kind) → the label kind of one frame.
FRAME_KINDS: dict[str, str] = {
    "pointcloud-segmentation-sequence": "pointcloud-segmentation",
    "image-segmentation-sequence": "segmentation-bitmap",
}
_COMMON = frozenset({"sample_uuid", "sample_name", "labelset", "frame", "image_attributes"})
#: The fields of a frame row, by frame kind.
ROW_KEYS: dict[str, frozenset[str]] = {
    "pointcloud-segmentation": _COMMON | {"point_labels_path", "annotations"},
    "segmentation-bitmap": _COMMON | {"mask_path", "mask_kind", "annotations"},
}
#: The field a frame row adds in a multi-sensor dataset: its sensor (convert/multisensor.py).
SENSOR_FIELD = "sensor"
R_DUPLICATE_FRAME = "duplicate frame"
_NAMES = {
    "pointcloud-segmentation-sequence": "point cloud segmentation sequence",
    "image-segmentation-sequence": "image segmentation sequence",
}


def family(kind: str) -> Family:
    """The converter's table entry of a segmentation sequence kind."""
    return Family(_NAMES[kind], build, frame_kind=FRAME_KINDS[kind])


def build(
    ctx: Context, data: dict[str, Any], anns: Any, loc: Location, errors: list[RowError]
) -> Built | None:
    """A sequence label from one row alone, for a row that reaches the converter outside
    the grouping (the pipeline groups the rows of sequence datasets): its frames up to
    the row's."""
    kind = FRAME_KINDS[ctx.kind or ""]
    frame_build = pcseg.build if kind == "pointcloud-segmentation" else bitmaps.build
    rules = FrameRules(ctx, kind, frame_build)
    frame = _frame_row(rules, Record(loc, "json", data), errors)
    if frame is None:
        return None
    frames = [_empty(rules) for _ in range(frame.index)] + [frame.label]
    label = {"format_version": _version(kind), "frames": frames}
    return Built(label, None, 0, False, frame.bitmap)


@dataclasses.dataclass(slots=True)
class _Frame:
    """One checked row: its frame and the frame's label (and bitmap)."""

    index: int
    label: dict[str, Any]
    bitmap: masks.Bitmap | None


@dataclasses.dataclass(slots=True)
class SegLabel:
    """One segmentation sequence label made from its rows (for :func:`convert_sequence`
    and for a segmentation sensor of a multi-sensor label, :mod:`.multisensor`)."""

    label: dict[str, Any]
    #: Each frame's bitmap (image segmentation), uploaded before the label.
    bitmaps: list[masks.Bitmap]
    #: (earlier, later) rows of a frame given twice, with ``--on-duplicate last``.
    superseded: list[tuple[Location, Location]]
    #: The frame count was not known: the highest frame index + 1 was taken.
    guessed: bool


def assemble(
    rules: FrameRules,
    ordered: Sequence[tuple[Location, Record]],
    frames: int | None,
    on_duplicate: str = "error",
) -> SegLabel | dict[int, RowError]:
    """The frame rows of one label (in input order) → the label, or each failed row's
    one error by its position in ``ordered``."""
    bad: dict[int, RowError] = {}
    checked: dict[int, _Frame] = {}  # position in ``ordered`` → its frame
    limit = frames if frames is not None else INT_MAX + 1
    for n, (loc, record) in enumerate(ordered):
        errors: list[RowError] = []
        frame = _frame_row(rules, record, errors)
        if errors or frame is None:
            bad[n] = one_error(errors or [RowError(loc, None, R_INVALID, "not converted")])
        elif frame.index >= limit:
            bad[n] = RowError(
                loc,
                "frame",
                R_FRAME,
                f"frame {frame.index} is out of range: the sample has {limit} frame(s), "
                f"0 to {limit - 1}",
            )
        else:
            checked[n] = frame
    # A frame given twice: an error naming both rows, or the later one wins.
    by_frame: dict[int, int] = {}
    superseded: list[tuple[Location, Location]] = []
    for n, frame in checked.items():
        earlier = by_frame.get(frame.index)
        if earlier is not None:
            here, other = ordered[n][0], ordered[earlier][0]
            if on_duplicate == "last":
                superseded.append((other, here))
            else:
                where = f"line {other.line}" if other.file == here.file else str(other)
                bad[n] = RowError(
                    here,
                    "frame",
                    R_DUPLICATE_FRAME,
                    f"frame {frame.index} is already given at {where}; give each frame once, "
                    "or pass --on-duplicate last to keep the last one",
                )
                continue
        by_frame[frame.index] = n
    if bad:
        return bad
    count = frames if frames is not None else max(by_frame, default=-1) + 1
    frame_labels = [_empty(rules) for _ in range(count)]
    bitmaps_out: list[masks.Bitmap] = []
    for index, n in sorted(by_frame.items()):
        frame = checked[n]
        frame_labels[index] = frame.label
        if frame.bitmap is not None:
            bitmaps_out.append(frame.bitmap)
    label = {"format_version": _version(rules.frame_kind), "frames": frame_labels}
    return SegLabel(label, bitmaps_out, superseded, frames is None)


def convert_sequence(
    rules: FrameRules,
    key: str,
    items: list[tuple[Location, Record]],
    frames: int | None,
    on_duplicate: str = "error",
) -> LabelJob | list[RowError]:
    """All frame rows of one (label set, sample) → one sequence label, or one error per
    row (its own, or that another row of the label failed)."""
    labelset, ref_kind, ref = orjson.loads(key)
    ordered = input_order(items)
    locs = tuple(loc for loc, _ in ordered)
    made = assemble(rules, ordered, frames, on_duplicate)
    if isinstance(made, dict):
        return label_failed(locs, made, labelset, ref_kind, ref)
    job = LabelJob(
        sample_uuid=ref if ref_kind == "u" else None,
        sample_name=ref if ref_kind == "n" else None,
        labelset=labelset,
        label_status=rules.ctx.options.label_status,
        attributes=made.label,
        score=None,
        locs=locs,
    )
    if made.bitmaps:
        job.extra["assets"] = tuple(made.bitmaps)
    if made.superseded:
        job.extra["superseded"] = made.superseded
    if made.guessed:
        job.extra["frames_guessed"] = len(made.label["frames"])
    return job


def one_error(errors: list[RowError]) -> RowError:
    """A row's errors as one (a label's rows get one error each): the first, with the
    others in its message."""
    first = errors[0]
    if len(errors) == 1:
        return first
    more = "; ".join(f"{e.field}: {e.message}" if e.field else e.message for e in errors[1:])
    return dataclasses.replace(first, message=f"{first.message} (also {more})")


def _version(frame_kind: str) -> str:
    return pcseg.FORMAT_VERSION if frame_kind == "pointcloud-segmentation" else "0.1"


def _empty(rules: FrameRules) -> dict[str, Any]:
    """A frame without a row: no annotations (and no labelled point)."""
    if rules.frame_kind == "pointcloud-segmentation":
        points = rules.ctx.options.points
        return {
            "format_version": pcseg.FORMAT_VERSION,
            "annotations": [],
            "point_annotations": [0] * points if points else [],
        }
    return {"format_version": "0.1", "annotations": []}


def _frame_row(rules: FrameRules, record: Record, errors: list[RowError]) -> _Frame | None:
    """One row, checked by the frame's own family; ``None`` with ``errors`` appended."""
    loc = record.loc
    data = record.data
    what = "point_labels_path" if rules.frame_kind == "pointcloud-segmentation" else "mask_path"
    csv = record.fmt in ("csv", "tsv")
    if csv:
        data = csv_row(data)
    elif type(data) is not dict:
        errors.append(
            RowError(loc, None, R_INVALID, f"a row should be a JSON object, got {short(data)}")
        )
        return None
    allowed = ROW_KEYS[rules.frame_kind]
    if rules.sensor is not None:  # a sensor of a multi-sensor label: rows name it
        allowed = allowed | {SENSOR_FIELD}
    for k in data:
        if k not in allowed:
            what_k = "unknown column of a frame line" if csv else "unknown field of a frame row"
            errors.append(
                RowError(
                    loc,
                    str(k),
                    R_UNKNOWN_FIELD,
                    unknown_field(k, allowed, what_k),
                )
            )
    index = data.get("frame")
    if index is None:
        errors.append(
            RowError(
                loc,
                "frame",
                R_MISSING,
                f"in a sequence dataset every row is one frame: give 'frame' (0-based) and "
                f"'{what}'",
            )
        )
    elif type(index) is not int or index < 0:
        errors.append(
            RowError(loc, "frame", R_FRAME, f"should be a whole number from 0, got {short(index)}")
        )
    if what not in data:
        errors.append(RowError(loc, what, R_MISSING, f"a frame row needs '{what}'"))
    if errors:
        return None
    assert type(index) is int
    image_attributes = checked_image_attributes(data, loc, errors)
    ctx = rules.frame_ctx
    anns = data.get("annotations")
    if rules.frame_kind == "pointcloud-segmentation":
        made = pcseg.point_label(ctx, data[what], anns, loc, errors, stable=True)
        if made is None or errors:
            return None
        objects, point_ids = made
        label: dict[str, Any] = {
            "format_version": pcseg.FORMAT_VERSION,
            "annotations": [_tracked(o) for o in objects],
            "point_annotations": point_ids,
        }
        bitmap = None
    else:
        built = bitmaps.build(ctx, data, anns, loc, errors)
        if built is None or errors:
            return None
        label = {
            "format_version": "0.1",
            "annotations": [_tracked(o) for o in built.label["annotations"]],
            "segmentation_bitmap": built.label["segmentation_bitmap"],
        }
        bitmap = built.asset
    if image_attributes is not None:
        label["image_attributes"] = image_attributes
    return _Frame(index, label, bitmap)


def csv_row(cells: dict[str, Any]) -> dict[str, Any]:
    """A CSV/TSV line of a segmentation frame as the JSON row it stands for: empty cells
    are absent, ``frame`` a whole number (else the text, which the frame check reports),
    ``annotations`` JSON (instance masks and point labels list their ids there)."""
    row: dict[str, Any] = {}
    for col, text in cells.items():
        value = text.strip() if isinstance(text, str) else text
        if not value:
            continue
        if col == "frame":
            number = parse_int(value)
            row[col] = number if number is not None and number >= 0 else value
        elif col == "annotations":
            row[col] = json_cell(value)
        else:
            row[col] = value
    return row


def _tracked(annotation: dict[str, Any]) -> dict[str, Any]:
    """A frame's annotation as a tracked object: its id is its track, in every frame."""
    return {**annotation, "track_id": annotation["id"], "is_keyframe": True}
