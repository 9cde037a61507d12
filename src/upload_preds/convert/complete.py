"""Complete labels: a row's ``attributes`` object, any task type, checked strictly.

The pydantic models of :mod:`upload_preds.models` validate the label format
(only here: a million shorthand rows would cost more in pydantic than in
parsing their JSON); then ids must be unique within each annotations list (top
level, frames, sensors) and category ids must be the dataset's.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from upload_preds.convert.checks import R_CATEGORY_ID, R_DUPLICATE_ID, R_LABEL_FORMAT
from upload_preds.convert.context import Context
from upload_preds.models import validate_attributes
from upload_preds.records import Location, RowError


def full_attributes(
    ctx: Context, attributes: Any, loc: Location, errors: list[RowError]
) -> dict[str, Any] | None:
    normalized, problems = validate_attributes(attributes, ctx.task_type)
    for path, msg in problems:
        field = "attributes" + ("" if not path or path.startswith("[") else ".") + path
        errors.append(RowError(loc, field, R_LABEL_FORMAT, msg))
    if normalized is None:
        return None
    for path, lst in _annotation_lists(normalized, "attributes"):
        seen: dict[int, int] = {}
        for i, ann in enumerate(lst):
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
    return normalized


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
