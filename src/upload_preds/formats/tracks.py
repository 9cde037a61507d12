"""A tracker's file → one sequence label, each detection a part of it.

On a sequence dataset (:attr:`~upload_preds.convert.Converter.sequence` is
set) a :class:`~upload_preds.formats.FormatRow` holds a whole sequence: its
annotations carry ``frame`` (0-based) and ``track_id``. Rather than one row of
all of them, each annotation is handed to
:meth:`~upload_preds.convert.Converter.convert_sequence` as a part of its own
at its detection's location, as per-frame JSON rows are: so every line's
errors are reported at that line (a track that changes category, an object
given twice in a frame, a frame beyond the sample's count name both lines),
and the label has exactly as many frames as the sample.

Errors come back in the input's terms: the ``annotations[0].`` prefix of a
part's field is dropped and the field renamed through ``row.columns`` (MOT's
``id`` for ``track_id``), a frame error reminds that the input counts frames
from ``row.frame_base``, and the "another line of the label failed" errors of
the fine lines are left out: the failures file says that of every line
without an error of its own (:func:`upload_preds.failuremessages.detection_error`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import orjson

from upload_preds.convert import R_LABEL_FAILED, Converter
from upload_preds.convert.seqlines import R_FRAME
from upload_preds.formats import FormatRow
from upload_preds.records import LabelJob, RowError

__all__ = ["sequence_label"]

_PREFIX = "annotations[0]"


def sequence_label(
    conv: Converter,
    row: FormatRow,
    frames: int | Mapping[str, int] | None,
    on_duplicate: str = "error",
) -> LabelJob | list[RowError]:
    """The sequence label of ``row`` (``frames``: the sample's count, or its sensors'
    counts for a multi-sensor sample, as the converter takes them; None if unknown),
    or the located errors of its detections."""
    labelset = conv.options.default_labelset
    key = orjson.dumps([labelset, "n", row.key]).decode()
    items = [
        (loc, {"r": {"annotations": [ann]}})
        for loc, ann in zip(row.ann_locs, row.annotations, strict=True)
    ]
    result = conv.convert_sequence(key, items, frames, on_duplicate)
    if isinstance(result, LabelJob):
        return result
    return [_in_input_terms(e, row) for e in result if e.reason != R_LABEL_FAILED]


def _in_input_terms(err: RowError, row: FormatRow) -> RowError:
    field = err.field
    if field is not None and field.startswith(_PREFIX):
        field = field[len(_PREFIX) :].lstrip(".") or None
    if field is not None and row.columns:
        head, dot, rest = field.partition(".")
        field = row.columns.get(head, head) + dot + rest
    message = err.message
    if err.reason == R_FRAME and row.frame_base:
        message += (
            f" (frames are counted from 0 here; this file counts from {row.frame_base}, "
            f"so its frame numbers are {row.frame_base} more)"
        )
    return dataclasses.replace(err, field=field, message=message)
