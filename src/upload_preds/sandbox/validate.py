"""The sandbox's own check of label bodies against a dataset's task type and the sample.

This module is deliberately independent of ``upload_preds.labelmodels`` and
``upload_preds.convert``: the sandbox stands in for the platform, and a
converter bug must not be mirrored by the server that is meant to catch it.
It is hand-written (no pydantic) because it runs on every PUT of the
benchmarks and a plain walk over dicts is several times faster.

How it works: a :class:`TaskSpec` is built once per dataset from its
``task_type`` and ``task_attributes`` (categories with their object
attributes, image attributes, and for multi-sensor datasets the sensors it
may declare). :func:`check_label_body` walks a PUT/PATCH body and returns the
cleaned values plus DRF-style field-keyed error lists
(``{"attributes": ["frames[2].annotations[0].category_id: ..."]}``), each
message carrying the path of the offending value inside the label. What the
label must match of its sample (frame count, sensors, point counts) comes in
a :class:`~.sample_shape.SampleShape`.

Every task type of the SDK's ``TaskType`` list is served. The checks live in
three modules: :mod:`.validate_objects` (a single label or one frame, per
family: image vectors, image segmentation, point-cloud cuboids, vectors and
segmentation), :mod:`.validate_sequences` (``frames`` and multi-sensor
``sensors``) and :mod:`.validate_base` (tables and shared primitives).
Everywhere: unknown keys are refused (the SDK silently drops them, the
sandbox says so instead), category ids must exist, annotation ids are unique,
object and image attributes must be declared by the dataset and fit their
``input_type`` (checkbox, number within min/max, select, multiselect, text).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from upload_preds.sandbox.sample_shape import UNKNOWN, SampleShape
from upload_preds.sandbox.validate_base import (
    MULTISENSOR,
    SENSOR_TASK_TYPES,
    SEQUENCE_TASKS,
    SUPPORTED_TASK_TYPES,
    AttrSpec,
    CategorySpec,
    Messages,
    SpecError,
    is_int,
    is_number,
)
from upload_preds.sandbox.validate_objects import check_frame
from upload_preds.sandbox.validate_sequences import check_multisensor, check_sequence

__all__ = [
    "ALL_STATUSES",
    "LABEL_STATUSES",
    "PSEUDO_STATUS_UNLABELED",
    "SUPPORTED_TASK_TYPES",
    "SpecError",
    "TaskSpec",
    "check_attributes",
    "check_label_body",
]

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

INPUT_TYPES = frozenset(
    {"select", "multiselect", "text", "number", "checkbox", "vector3", "quaternion", "points"}
)


@dataclass(frozen=True, slots=True)
class TaskSpec:
    """What a label of one dataset must look like."""

    task_type: str
    categories: dict[int, CategorySpec]
    image_attributes: dict[str, AttrSpec] | None
    #: name → task type, when a multi-sensor dataset declares its sensors
    sensors: dict[str, str] | None = None

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
            if not is_int(cid):
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
        sensors = _sensor_specs(
            task_type, task_attributes.get("sensors"), f"{where}task_attributes.sensors"
        )
        return cls(task_type, categories, image_attrs, sensors)


def _sensor_specs(task_type: str, raw: Any, where: str) -> dict[str, str] | None:
    if raw is None:
        return None
    if task_type != MULTISENSOR:
        raise SpecError(f"{where}: only a {MULTISENSOR} dataset declares sensors")
    if not isinstance(raw, list) or not raw:
        raise SpecError(f'{where}: a non-empty list of {{"name", "task_type"}}')
    out: dict[str, str] = {}
    for i, s in enumerate(raw):
        here = f"{where}[{i}]"
        if not isinstance(s, dict) or not isinstance(s.get("name"), str) or not s["name"]:
            raise SpecError(f"{here}: must be an object with a 'name' and a 'task_type'")
        if s["name"] in out:
            raise SpecError(f"{here}.name: sensor {s['name']!r} is declared twice")
        if s.get("task_type") not in SENSOR_TASK_TYPES:
            raise SpecError(
                f"{here}.task_type: {s.get('task_type')!r} is not one of "
                f"{', '.join(SENSOR_TASK_TYPES)}"
            )
        out[s["name"]] = s["task_type"]
    return out


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
            float(lo) if is_number(lo) else None,
            float(hi) if is_number(hi) else None,
        )
    return out


def check_label_body(
    spec: TaskSpec, body: Any, *, partial: bool, shape: SampleShape = UNKNOWN
) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """Check a PUT (``partial=False``) or PATCH (``partial=True``) body.

    Returns ``(clean, errors)``: ``clean`` holds ``attributes``, ``label_status``
    and ``score`` as given (only the keys present, except that a PUT without
    ``label_status`` gets ``PRELABELED``, the SDK's default); ``errors`` maps a
    field to its messages and is empty when the body is acceptable. ``shape``
    is what the label's sample says (frames, sensors, point counts); unknown
    counts are not checked.
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
        msgs = check_attributes(spec, body["attributes"], shape)
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
        if score is None or is_number(score):
            clean["score"] = score
        else:
            errors["score"] = [f"A valid number is required, got {score!r}."]
    return clean, errors


def check_attributes(spec: TaskSpec, attrs: Any, shape: SampleShape = UNKNOWN) -> list[str]:
    """Messages for everything wrong in label ``attributes`` for a sample of ``shape`` (empty: fine)."""
    msgs = Messages()
    if not isinstance(attrs, dict):
        msgs.add(f"must be an object, got {type(attrs).__name__}")
        return msgs
    tt = spec.task_type
    if tt == MULTISENSOR:
        check_multisensor(spec, attrs, msgs, shape)
    elif tt in SEQUENCE_TASKS:
        check_sequence(spec, tt, attrs, "", msgs, shape)
    else:
        check_frame(spec, tt, attrs, "", msgs, sequence=False, points=shape.points_of(0))
    return msgs
