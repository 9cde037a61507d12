"""Complete labels: a row's ``attributes`` object, any task type, checked strictly.

The pydantic models of :mod:`upload_preds.labelmodels` validate the label format
(only here: a million shorthand rows would cost more in pydantic than in
parsing their JSON); then ids must be unique within each annotations list (top
level, frames, sensors) and category ids must be the dataset's.

Boxes are sent as ``[[min x, min y], [max x, max y]]`` whatever corner order
they came in, as in the shorthand: the platform wants upper-left then
lower-right, and its own prediction example gives ``[[12.34, 56.78], [90.12,
34.56]]``. Every annotations list is walked (image vector, the ``frames`` of a
sequence, each sensor's ``attributes`` of a multi-sensor label, where only
image-vector sensors have boxes); :func:`full_attributes` returns how many
boxes it reordered, so the plan can count them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from upload_preds.convert.checks import R_CATEGORY_ID, R_DUPLICATE_ID, R_LABEL_FORMAT
from upload_preds.convert.context import Context
from upload_preds.labelcheck import validate_attributes
from upload_preds.records import Location, RowError


def full_attributes(
    ctx: Context, attributes: Any, loc: Location, errors: list[RowError]
) -> tuple[dict[str, Any] | None, int]:
    """The validated label and the number of boxes whose corners were reordered; ``None``
    (and the problems appended to ``errors``) when the label is not valid."""
    normalized, problems = validate_attributes(attributes, ctx.task_type)
    for path, msg in problems:
        field = "attributes" + ("" if not path or path.startswith("[") else ".") + path
        errors.append(RowError(loc, field, R_LABEL_FORMAT, msg))
    if normalized is None:
        return None, 0
    reordered = 0
    for path, lst in _annotation_lists(normalized, "attributes"):
        seen: dict[int, int] = {}
        for i, ann in enumerate(lst):
            if ann.get("type") == "bbox" and _order_corners(ann):
                reordered += 1
            ann_id = ann["id"]
            if ann_id in seen:
                errors.append(
                    RowError(
                        loc,
                        f"{path}[{i}].id",
                        R_DUPLICATE_ID,
                        f"id {ann_id} is already used by {path}[{seen[ann_id]}]; ids must "
                        "be unique within a label",
                    )
                )
            else:
                seen[ann_id] = i
            if ctx.ids is not None and ann["category_id"] not in ctx.ids:
                errors.append(
                    RowError(
                        loc,
                        f"{path}[{i}].category_id",
                        R_CATEGORY_ID,
                        ctx.unknown_id_message(ann["category_id"]),
                    )
                )
    return normalized, reordered


def _order_corners(ann: dict[str, Any]) -> bool:
    """Put a bbox's two corners in the order ``[[min x, min y], [max x, max y]]``; true
    when they were not. A bbox without exactly two ``[x, y]`` points is left as it is
    (the server says what is wrong with it)."""
    points = ann["points"]
    if len(points) != 2 or len(points[0]) != 2 or len(points[1]) != 2:
        return False
    (x0, y0), (x1, y1) = points
    if x0 <= x1 and y0 <= y1:
        return False
    ann["points"] = [[min(x0, x1), min(y0, y1)], [max(x0, x1), max(y0, y1)]]
    return True


def _annotation_lists(
    label: dict[str, Any], base: str
) -> Iterable[tuple[str, list[dict[str, Any]]]]:
    """Every annotations list in a (validated) label: top level, frames, sensors."""
    if isinstance(label.get("annotations"), list):
        yield f"{base}.annotations", label["annotations"]
    for f, frame in enumerate(label.get("frames") or ()):
        if isinstance(frame, dict) and isinstance(frame.get("annotations"), list):
            yield f"{base}.frames[{f}].annotations", frame["annotations"]
    for s, sensor in enumerate(label.get("sensors") or ()):
        attrs = sensor.get("attributes") if isinstance(sensor, dict) else None
        if isinstance(attrs, dict):
            yield from _annotation_lists(attrs, f"{base}.sensors[{s}].attributes")
