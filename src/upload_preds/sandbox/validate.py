"""The sandbox's own check of label bodies against a dataset's task type.

This module is deliberately independent of ``upload_preds.models`` and
``upload_preds.convert``: the sandbox stands in for the platform, and a
converter bug must not be mirrored by the server that is meant to catch it.
It is hand-written (no pydantic) because it runs on every PUT of the
benchmarks and a plain walk over dicts is several times faster.

How it works: a :class:`TaskSpec` is built once per dataset from its
``task_type`` and ``task_attributes`` (categories with their object
attributes, image attributes). :func:`check_label_body` walks a PUT/PATCH body
and returns the cleaned values plus DRF-style field-keyed error lists
(``{"attributes": ["annotations[0].category_id: ..."]}``), each message
carrying the path of the offending value inside the label.

What is checked, by task type family:

* image vector (``vector``, ``bboxes``, ``keypoints``, and the frames of
  ``image-vector-sequence``): annotation ``id``/``category_id``/``type``/
  ``points``; a bbox is two points, upper-left then lower-right; a point one
  point; a polyline two or more; a polygon three or more; the annotation types
  the task allows (``bboxes`` only bbox, ``keypoints`` only point).
* image segmentation (``segmentation-bitmap``, ``segmentation-bitmap-highres``):
  annotations ``id``/``category_id`` and a ``segmentation_bitmap.url`` that is
  an http(s) URL with a host (the sandbox's own asset URLs are): a local path
  or ``file://`` URL names a file only the uploader's machine has, which the
  platform can never fetch, so it is refused rather than stored.
* point cloud cuboids (``pointcloud-cuboid`` and its sequence): ``position``,
  ``dimensions``, ``yaw``, optional ``rotation``.

Everywhere: unknown keys are refused (the SDK silently drops them, the
sandbox says so instead), category ids must exist, annotation ids are unique,
object and image attributes must be declared by the dataset and fit their
``input_type`` (checkbox, number within min/max, select, multiselect, text).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeGuard
from urllib.parse import urlsplit

LABEL_STATUSES: tuple[str, ...] = (
    "PRELABELED",
    "LABELED",
    "REVIEWED",
    "REJECTED",
    "SKIPPED",
    "LABELING_IN_PROGRESS",
    "REVIEWING_IN_PROGRESS",
    "VERIFIED",
)
# UNLABELED exists as a status in the platform's enum, but it is what a sample
# *without* a label reports; it cannot be written (delete the label instead).
PSEUDO_STATUS_UNLABELED = "UNLABELED"
ALL_STATUSES: frozenset[str] = frozenset((*LABEL_STATUSES, PSEUDO_STATUS_UNLABELED))

VECTOR_TYPES: dict[str, frozenset[str]] = {
    "vector": frozenset({"bbox", "polygon", "polyline", "point"}),
    "bboxes": frozenset({"bbox"}),
    "keypoints": frozenset({"point"}),
    "image-vector-sequence": frozenset({"bbox", "polygon", "polyline", "point"}),
}
SEGMENTATION_TASKS = frozenset({"segmentation-bitmap", "segmentation-bitmap-highres"})
CUBOID_TASKS = frozenset({"pointcloud-cuboid", "pointcloud-cuboid-sequence"})
SEQUENCE_TASKS = frozenset({"image-vector-sequence", "pointcloud-cuboid-sequence"})
SUPPORTED_TASK_TYPES: tuple[str, ...] = (*VECTOR_TYPES, *SEGMENTATION_TASKS, *CUBOID_TASKS)

# format_version values the platform documents per family; numbers are
# accepted too because the SDK's model types the field as float | str.
IMAGE_FORMAT_VERSIONS = frozenset({"0.1"})
CUBOID_FORMAT_VERSIONS = frozenset({"0.1", "0.2"})

MIN_POINTS = {"bbox": 2, "point": 1, "polyline": 2, "polygon": 3}
MAX_POINTS = {"bbox": 2, "point": 1}
INPUT_TYPES = frozenset(
    {"select", "multiselect", "text", "number", "checkbox", "vector3", "quaternion", "points"}
)
# Stop collecting after this many messages: one broken converter produces the
# same error on every annotation, and a 400 body should stay readable.
MAX_MESSAGES = 20


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


@dataclass(frozen=True, slots=True)
class TaskSpec:
    """What a label of one dataset must look like."""

    task_type: str
    categories: dict[int, CategorySpec]
    image_attributes: dict[str, AttrSpec] | None

    @classmethod
    def build(cls, task_type: Any, task_attributes: Any, where: str = "") -> TaskSpec:
        """Build from a dataset's ``task_type`` and ``task_attributes``; :class:`SpecError` if unusable."""
        if task_type not in SUPPORTED_TASK_TYPES:
            raise SpecError(
                f"{where}task_type: {task_type!r} is not supported by the sandbox; "
                f"use one of {', '.join(SUPPORTED_TASK_TYPES)}"
            )
        if not isinstance(task_attributes, dict):
            raise SpecError(f"{where}task_attributes: must be an object with 'categories'")
        cats_raw = task_attributes.get("categories")
        if not isinstance(cats_raw, list) or not cats_raw:
            raise SpecError(f"{where}task_attributes.categories: must be a non-empty list")
        categories: dict[int, CategorySpec] = {}
        for i, cat in enumerate(cats_raw):
            here = f"{where}task_attributes.categories[{i}]"
            if not isinstance(cat, dict):
                raise SpecError(f"{here}: must be an object with 'id' and 'name'")
            cid, name = cat.get("id"), cat.get("name")
            if not _is_int(cid):
                raise SpecError(f"{here}.id: must be an integer, got {cid!r}")
            if not isinstance(name, str) or not name:
                raise SpecError(f"{here}.name: must be a non-empty string")
            if cid in categories:
                raise SpecError(f"{here}.id: {cid} is used by two categories")
            attrs = _attr_specs(cat.get("attributes"), f"{here}.attributes")
            categories[cid] = CategorySpec(cid, name, attrs)
        image_attrs = _attr_specs(
            task_attributes.get("image_attributes"), f"{where}task_attributes.image_attributes"
        )
        return cls(task_type, categories, image_attrs)


def _attr_specs(raw: Any, where: str) -> dict[str, AttrSpec] | None:
    if raw is None:
        return None
    if not isinstance(raw, list):
        raise SpecError(f"{where}: must be a list of attribute definitions")
    out: dict[str, AttrSpec] = {}
    for i, a in enumerate(raw):
        here = f"{where}[{i}]"
        if not isinstance(a, dict) or not isinstance(a.get("name"), str):
            raise SpecError(f"{here}: must be an object with 'name' and 'input_type'")
        itype = a.get("input_type")
        if itype not in INPUT_TYPES:
            raise SpecError(
                f"{here}.input_type: {itype!r} is not one of {', '.join(sorted(INPUT_TYPES))}"
            )
        values = a.get("values")
        if itype in ("select", "multiselect") and (
            not isinstance(values, list) or not all(isinstance(v, str) for v in values)
        ):
            raise SpecError(f"{here}.values: a {itype} attribute needs a list of strings")
        lo, hi = a.get("min"), a.get("max")
        out[a["name"]] = AttrSpec(
            a["name"],
            itype,
            frozenset(values) if isinstance(values, list) else None,
            float(lo) if _is_number(lo) else None,
            float(hi) if _is_number(hi) else None,
        )
    return out


def _is_int(v: Any) -> TypeGuard[int]:
    return type(v) is int


def _is_number(v: Any) -> TypeGuard[int | float]:
    # bool is an int subclass; True is not a coordinate.
    t = type(v)
    return t is int or (t is float and math.isfinite(v))


class _Messages(list[str]):
    """A bounded list of error messages."""

    def add(self, msg: str) -> None:
        if len(self) < MAX_MESSAGES:
            self.append(msg)
        elif len(self) == MAX_MESSAGES:
            self.append("... more errors not shown")


def _is_web_url(url: str) -> bool:
    """An http(s) URL with a host: what the platform can fetch a mask from."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)


def check_label_body(
    spec: TaskSpec, body: Any, *, partial: bool
) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """Check a PUT (``partial=False``) or PATCH (``partial=True``) body.

    Returns ``(clean, errors)``: ``clean`` holds ``attributes``, ``label_status``
    and ``score`` as given (only the keys present, except that a PUT without
    ``label_status`` gets ``PRELABELED``, the SDK's default); ``errors`` maps a
    field to its messages and is empty when the body is acceptable.
    """
    if not isinstance(body, dict):
        return {}, {"non_field_errors": ["Invalid data. Expected a dictionary."]}
    errors: dict[str, list[str]] = {}
    clean: dict[str, Any] = {}
    for key in body:
        if key not in ("attributes", "label_status", "score"):
            errors[key] = [
                "Unknown field; a label body has only attributes, label_status and score."
            ]
    if "attributes" in body:
        msgs = check_attributes(spec, body["attributes"])
        if msgs:
            errors["attributes"] = msgs
        else:
            clean["attributes"] = body["attributes"]
    elif not partial:
        errors["attributes"] = ["This field is required."]
    if "label_status" in body:
        status = body["label_status"]
        if status in LABEL_STATUSES:
            clean["label_status"] = status
        elif status == PSEUDO_STATUS_UNLABELED:
            errors["label_status"] = [
                "UNLABELED cannot be written: it is what a sample without a label reports; "
                "delete the label instead."
            ]
        else:
            errors["label_status"] = [
                f'"{status}" is not a valid choice; use one of {", ".join(LABEL_STATUSES)}.'
            ]
    elif not partial:
        clean["label_status"] = "PRELABELED"
    if "score" in body:
        score = body["score"]
        if score is None or _is_number(score):
            clean["score"] = score
        else:
            errors["score"] = [f"A valid number is required, got {score!r}."]
    return clean, errors


def check_attributes(spec: TaskSpec, attrs: Any) -> list[str]:
    """Messages for everything wrong in label ``attributes`` (empty list: fine)."""
    msgs = _Messages()
    if not isinstance(attrs, dict):
        msgs.add(f"must be an object, got {type(attrs).__name__}")
        return msgs
    tt = spec.task_type
    if tt in SEQUENCE_TASKS:
        _check_keys(attrs, ("frames", "format_version", "links"), "", msgs)
        _check_format_version(spec, attrs, "", msgs)
        frames = attrs.get("frames")
        if not isinstance(frames, list):
            msgs.add("frames: required, a list with one object per frame")
            return msgs
        for i, frame in enumerate(frames):
            if not isinstance(frame, dict):
                msgs.add(f"frames[{i}]: must be an object")
                continue
            _check_single(spec, frame, f"frames[{i}].", msgs, sequence=True)
    else:
        _check_single(spec, attrs, "", msgs, sequence=False)
    return msgs


def _check_single(
    spec: TaskSpec, attrs: dict[str, Any], where: str, msgs: _Messages, *, sequence: bool
) -> None:
    tt = spec.task_type
    if tt in SEGMENTATION_TASKS:
        allowed: tuple[str, ...] = (
            "annotations",
            "segmentation_bitmap",
            "image_attributes",
            "format_version",
        )
    elif tt in CUBOID_TASKS:
        allowed = ("annotations", "image_attributes", "format_version", "links")
        if sequence:
            allowed = (*allowed, "timestamp")
    else:
        allowed = ("annotations", "image_attributes", "format_version")
        if sequence:
            allowed = (*allowed, "timestamp")
    _check_keys(attrs, allowed, where, msgs)
    _check_format_version(spec, attrs, where, msgs)
    if "image_attributes" in attrs:
        _check_attr_values(
            attrs["image_attributes"], spec.image_attributes, f"{where}image_attributes", msgs
        )
    if tt in SEGMENTATION_TASKS:
        bitmap = attrs.get("segmentation_bitmap")
        if not isinstance(bitmap, dict) or not isinstance(bitmap.get("url"), str):
            msgs.add(f"{where}segmentation_bitmap: required, an object with a 'url' string")
        elif not bitmap["url"]:
            msgs.add(f"{where}segmentation_bitmap.url: must not be empty")
        elif not _is_web_url(bitmap["url"]):
            msgs.add(
                f"{where}segmentation_bitmap.url: {bitmap['url']!r} is not an asset URL; "
                "upload the PNG first (POST /assets/, as the SDK's upload_asset does) "
                "and use the http(s) url it returns"
            )
    anns = attrs.get("annotations")
    if not isinstance(anns, list):
        msgs.add(f"{where}annotations: required, a list (it may be empty)")
        return
    seen: set[int] = set()
    for i, ann in enumerate(anns):
        here = f"{where}annotations[{i}]"
        if not isinstance(ann, dict):
            msgs.add(f"{here}: must be an object")
            continue
        aid = ann.get("id")
        if not _is_int(aid):
            msgs.add(f"{here}.id: required, an integer, got {aid!r}")
        elif aid in seen:
            msgs.add(f"{here}.id: {aid} is used by another annotation of this label")
        else:
            seen.add(aid)
            if tt in SEGMENTATION_TASKS and not 0 < aid < 1 << 24:
                msgs.add(f"{here}.id: an instance id must be between 1 and 16777215, got {aid}")
        cid = ann.get("category_id")
        cat = spec.categories.get(cid) if _is_int(cid) else None
        if cat is None:
            known = ", ".join(str(c) for c in spec.categories)
            msgs.add(f"{here}.category_id: {cid!r} is not a category of this dataset ({known})")
        if "attributes" in ann:
            _check_attr_values(
                ann["attributes"],
                cat.attributes if cat is not None else None,
                f"{here}.attributes",
                msgs,
            )
        if tt in SEGMENTATION_TASKS:
            _check_keys(ann, ("id", "category_id", "attributes"), f"{here}.", msgs)
        elif tt in CUBOID_TASKS:
            _check_cuboid(ann, here, msgs, sequence=sequence)
        else:
            _check_vector(ann, VECTOR_TYPES[tt], tt, here, msgs, sequence=sequence)


def _check_keys(obj: dict[str, Any], allowed: tuple[str, ...], where: str, msgs: _Messages) -> None:
    for key in obj:
        if key not in allowed:
            hint = ""
            if key in ("score", "confidence"):
                hint = " (a per-object confidence belongs in the annotation's 'attributes')"
            msgs.add(f"{where}{key}: unknown key; expected only {', '.join(allowed)}{hint}")


def _check_format_version(
    spec: TaskSpec, attrs: dict[str, Any], where: str, msgs: _Messages
) -> None:
    if "format_version" not in attrs:
        return
    fv = attrs["format_version"]
    expected = CUBOID_FORMAT_VERSIONS if spec.task_type in CUBOID_TASKS else IMAGE_FORMAT_VERSIONS
    as_text = str(fv) if _is_number(fv) or isinstance(fv, str) else None
    if as_text not in expected:
        msgs.add(
            f"{where}format_version: {fv!r} is not a format version of "
            f"{spec.task_type} labels (use {' or '.join(sorted(expected))})"
        )


def _check_vector(
    ann: dict[str, Any],
    types: frozenset[str],
    task_type: str,
    here: str,
    msgs: _Messages,
    *,
    sequence: bool,
) -> None:
    allowed: tuple[str, ...] = ("id", "category_id", "type", "points", "attributes")
    if sequence:
        allowed = (*allowed, "track_id", "is_keyframe")
        _check_track(ann, here, msgs)
    _check_keys(ann, allowed, f"{here}.", msgs)
    kind = ann.get("type")
    if kind not in types:
        msgs.add(
            f"{here}.type: {kind!r} is not an annotation type of {task_type} datasets "
            f"({', '.join(sorted(types))})"
        )
        return
    points = ann.get("points")
    if not isinstance(points, list):
        msgs.add(f"{here}.points: required, a list of [x, y] pairs")
        return
    for j, p in enumerate(points):
        # Inlined _is_number (this loop is the hot spot of a PUT): x - x == 0
        # is False exactly for inf and nan.
        if type(p) is list and len(p) == 2:
            x, y = p
            tx, ty = type(x), type(y)
            if (tx is int or (tx is float and x - x == 0)) and (
                ty is int or (ty is float and y - y == 0)
            ):
                continue
        msgs.add(f"{here}.points[{j}]: must be [x, y] with two finite numbers, got {p!r}")
        return
    n = len(points)
    lo, hi = MIN_POINTS[kind], MAX_POINTS.get(kind)
    if n < lo or (hi is not None and n > hi):
        need = f"exactly {lo}" if hi == lo else f"at least {lo}"
        msgs.add(f"{here}.points: a {kind} has {need} point(s), got {n}")
        return
    if kind == "bbox":
        (x0, y0), (x1, y1) = points
        if x1 < x0 or y1 < y0:
            msgs.add(
                f"{here}.points: a bbox is [[x0, y0], [x1, y1]], upper-left then lower-right; "
                f"got {points!r}"
            )


def _check_track(ann: dict[str, Any], here: str, msgs: _Messages) -> None:
    if not _is_int(ann.get("track_id")):
        msgs.add(f"{here}.track_id: required in a sequence, an integer")
    if "is_keyframe" in ann and not isinstance(ann["is_keyframe"], bool):
        msgs.add(f"{here}.is_keyframe: must be true or false")


def _check_cuboid(ann: dict[str, Any], here: str, msgs: _Messages, *, sequence: bool) -> None:
    allowed: tuple[str, ...] = (
        "id",
        "category_id",
        "type",
        "position",
        "dimensions",
        "yaw",
        "rotation",
        "attributes",
    )
    if sequence:
        allowed = (*allowed, "track_id", "is_keyframe")
        _check_track(ann, here, msgs)
    _check_keys(ann, allowed, f"{here}.", msgs)
    if ann.get("type") not in ("cuboid", "cuboid-sync"):
        msgs.add(f"{here}.type: must be 'cuboid' or 'cuboid-sync', got {ann.get('type')!r}")
    for key in ("position", "dimensions"):
        _check_vec(ann.get(key), ("x", "y", "z"), f"{here}.{key}", msgs)
    dims = ann.get("dimensions")
    if isinstance(dims, dict) and any(_is_number(v) and v < 0 for v in dims.values()):
        msgs.add(f"{here}.dimensions: must not be negative, got {dims!r}")
    if not _is_number(ann.get("yaw")):
        msgs.add(f"{here}.yaw: required, a number (radians)")
    if "rotation" in ann and ann["rotation"] is not None:
        _check_vec(ann["rotation"], ("qx", "qy", "qz", "qw"), f"{here}.rotation", msgs)


def _check_vec(v: Any, keys: tuple[str, ...], here: str, msgs: _Messages) -> None:
    if not isinstance(v, dict) or set(v) != set(keys) or not all(_is_number(v[k]) for k in keys):
        msgs.add(f"{here}: required, an object of numbers {{{', '.join(keys)}}}, got {v!r}")


def _check_attr_values(
    values: Any, specs: Mapping[str, AttrSpec] | None, here: str, msgs: _Messages
) -> None:
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
                or _is_number(value)
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
        if not _is_number(value):
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
