"""The pieces every label check of the sandbox shares: task-type tables, messages, primitives.

:mod:`.validate` (bodies, dispatch), :mod:`.validate_objects` (one frame or
one single label: its annotations) and :mod:`.validate_sequences` (frames,
sensors) build on these. Everything here walks plain dicts and lists (no
pydantic): the checks run on every PUT of the benchmarks.

A message is a path inside the label and what is wrong there
(``frames[3].annotations[0].track_id: required in a sequence, an integer``);
:class:`Messages` stops collecting after :data:`MAX_MESSAGES`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeGuard
from urllib.parse import urlsplit

#: 2-D shape types of image vector datasets, by task type.
VECTOR_TYPES: dict[str, frozenset[str]] = {
    "vector": frozenset({"bbox", "polygon", "polyline", "point"}),
    "bboxes": frozenset({"bbox"}),
    "keypoints": frozenset({"point"}),
    "image-vector-sequence": frozenset({"bbox", "polygon", "polyline", "point"}),
}
SEGMENTATION_TASKS = frozenset(
    {"segmentation-bitmap", "segmentation-bitmap-highres", "image-segmentation-sequence"}
)
CUBOID_TASKS = frozenset({"pointcloud-cuboid", "pointcloud-cuboid-sequence"})
#: 3-D polygons, polylines and points; cuboids are allowed beside them (the
#: platform's model is a union of both, told apart by ``type``).
POINTCLOUD_VECTOR_TASKS = frozenset({"pointcloud-vector", "pointcloud-vector-sequence"})
POINTCLOUD_VECTOR_TYPES = frozenset({"polygon", "polyline", "point"})
POINTCLOUD_SEGMENTATION_TASKS = frozenset(
    {"pointcloud-segmentation", "pointcloud-segmentation-sequence"}
)
MULTISENSOR = "multisensor-sequence"
#: Task types whose labels are ``{"frames": [...]}``, one entry per sample frame.
SEQUENCE_TASKS = frozenset(
    {
        "image-vector-sequence",
        "image-segmentation-sequence",
        "pointcloud-cuboid-sequence",
        "pointcloud-vector-sequence",
        "pointcloud-segmentation-sequence",
    }
)
#: The task types a sensor of a multi-sensor dataset may have (the SDK's
#: ``MultiSensorLabelAttributes`` union).
SENSOR_TASK_TYPES: tuple[str, ...] = (
    "pointcloud-cuboid-sequence",
    "pointcloud-vector-sequence",
    "pointcloud-segmentation-sequence",
    "image-vector-sequence",
    "image-segmentation-sequence",
)
POINTCLOUD_TASKS = CUBOID_TASKS | POINTCLOUD_VECTOR_TASKS | POINTCLOUD_SEGMENTATION_TASKS
#: Every task type of the SDK's ``TaskType`` list (but its empty value).
SUPPORTED_TASK_TYPES: tuple[str, ...] = (
    "vector",
    "bboxes",
    "keypoints",
    "segmentation-bitmap",
    "segmentation-bitmap-highres",
    "image-vector-sequence",
    "image-segmentation-sequence",
    "pointcloud-cuboid",
    "pointcloud-cuboid-sequence",
    "pointcloud-vector",
    "pointcloud-vector-sequence",
    "pointcloud-segmentation",
    "pointcloud-segmentation-sequence",
    MULTISENSOR,
)

# format_version values the platform documents per family; numbers are
# accepted too because the SDK's model types the field as float | str.
IMAGE_FORMAT_VERSIONS = frozenset({"0.1"})
POINTCLOUD_FORMAT_VERSIONS = frozenset({"0.1", "0.2"})
SEQUENCE_FORMAT_VERSIONS = frozenset({"0.1", "0.2"})

# Stop collecting after this many messages: one broken converter produces the
# same error on every annotation, and a 400 body should stay readable.
MAX_MESSAGES = 20
#: Instance ids of a segmentation bitmap are R + 256·G + 65536·B.
MAX_BITMAP_ID = (1 << 24) - 1


class SpecError(ValueError):
    """``task_attributes`` of a dataset cannot be used; the message has a path."""


@dataclass(frozen=True, slots=True)
class AttrSpec:
    """One declared object or image attribute."""

    name: str
    input_type: str
    values: frozenset[str] | None
    minimum: float | None
    maximum: float | None


@dataclass(frozen=True, slots=True)
class CategorySpec:
    """A category; ``attributes`` is None when the dataset declares none (anything goes)."""

    id: int
    name: str
    attributes: dict[str, AttrSpec] | None


class Messages(list[str]):
    """A bounded list of error messages."""

    def add(self, msg: str) -> None:
        if len(self) < MAX_MESSAGES:
            self.append(msg)
        elif len(self) == MAX_MESSAGES:
            self.append("... more errors not shown")


def is_int(v: Any) -> TypeGuard[int]:
    return type(v) is int


def is_number(v: Any) -> TypeGuard[int | float]:
    # bool is an int subclass; True is not a coordinate.
    t = type(v)
    return t is int or (t is float and math.isfinite(v))


def is_web_url(url: str) -> bool:
    """An http(s) URL with a host: what the platform can fetch a mask from."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)


def check_keys(obj: dict[str, Any], allowed: tuple[str, ...], where: str, msgs: Messages) -> None:
    for key in obj:
        if key not in allowed:
            hint = ""
            if key in ("score", "confidence"):
                hint = " (a per-object confidence belongs in the annotation's 'attributes')"
            msgs.add(f"{where}{key}: unknown key; expected only {', '.join(allowed)}{hint}")


def check_format_version(
    task_type: str, attrs: dict[str, Any], where: str, msgs: Messages, *, outer: bool = False
) -> None:
    """``format_version`` of a label (``outer``: of a sequence's top level) or of one frame."""
    if "format_version" not in attrs:
        return
    fv = attrs["format_version"]
    if outer or task_type in SEQUENCE_TASKS:
        expected = SEQUENCE_FORMAT_VERSIONS
    elif task_type in POINTCLOUD_TASKS:
        expected = POINTCLOUD_FORMAT_VERSIONS
    else:
        expected = IMAGE_FORMAT_VERSIONS
    as_text = str(fv) if is_number(fv) or isinstance(fv, str) else None
    if as_text not in expected:
        msgs.add(
            f"{where}format_version: {fv!r} is not a format version of "
            f"{task_type} labels (use {' or '.join(sorted(expected))})"
        )


def check_track(ann: dict[str, Any], here: str, msgs: Messages) -> None:
    """``track_id`` (required) and ``is_keyframe`` of an annotation in a sequence."""
    if not is_int(ann.get("track_id")):
        msgs.add(f"{here}.track_id: required in a sequence, an integer")
    if "is_keyframe" in ann and not isinstance(ann["is_keyframe"], bool):
        msgs.add(f"{here}.is_keyframe: must be true or false")


def check_attr_values(
    values: Any, specs: Mapping[str, AttrSpec] | None, here: str, msgs: Messages
) -> None:
    """Object or image attribute values against what the dataset declares."""
    if values is None:
        return
    if not isinstance(values, dict):
        msgs.add(f"{here}: must be an object of name → value")
        return
    for name, value in values.items():
        where = f"{here}.{name}"
        if specs is None:
            # Nothing declared: any flat value, as in the SDK's ObjectAttributes.
            if not (
                value is None
                or isinstance(value, (str, bool))
                or is_number(value)
                or (isinstance(value, list) and all(isinstance(x, str) for x in value))
            ):
                msgs.add(f"{where}: must be a string, number, true/false or list of strings")
            continue
        a = specs.get(name)
        if a is None:
            declared = ", ".join(specs) or "none"
            msgs.add(f"{where}: not an attribute the dataset declares here (declared: {declared})")
            continue
        if value is None:
            continue
        msg = _attr_value_problem(a, value)
        if msg:
            msgs.add(f"{where}: {msg}")


def _attr_value_problem(a: AttrSpec, value: Any) -> str | None:
    t = a.input_type
    if t == "checkbox":
        return None if isinstance(value, bool) else f"a checkbox takes true or false, got {value!r}"
    if t == "number":
        if not is_number(value):
            return f"must be a number, got {value!r}"
        if (a.minimum is not None and value < a.minimum) or (
            a.maximum is not None and value > a.maximum
        ):
            return f"{value!r} is outside [{a.minimum}, {a.maximum}]"
        return None
    if t == "text":
        return None if isinstance(value, str) else f"must be a string, got {value!r}"
    if t == "select":
        if not isinstance(value, str) or (a.values is not None and value not in a.values):
            return f"{value!r} is not one of {', '.join(sorted(a.values or ()))}"
        return None
    if t == "multiselect":
        if not isinstance(value, list) or not all(
            isinstance(v, str) and (a.values is None or v in a.values) for v in value
        ):
            return f"must be a list of {', '.join(sorted(a.values or ()))}, got {value!r}"
        return None
    # vector3, quaternion, points: structured values the uploader does not produce.
    return None
