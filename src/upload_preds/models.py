"""Strict pydantic models of Segments.ai label attributes, and of our input rows.

Two families of models live here:

* **Label attributes** for every dataset task type, mirroring field by field the
  models of the official SDK (``segments.typing`` in ``segments-ai`` 1.33.0):
  the same field names, types, optionality and literals. Ours differ on
  purpose in how they validate: ``extra="forbid"`` (an unknown key is an error,
  where the SDK silently drops it), ``strict=True`` (no ``"1"`` → ``1``
  coercion, no ``true`` as a number) and no NaN/Infinity, and integers are kept
  inside the 64-bit range so that every accepted label can be encoded as JSON.
  :func:`validate_attributes` validates one attributes object, for a known task
  type or by detecting the kind from its shape, and turns pydantic's errors into
  short ``(field path, message)`` pairs.
* **Input rows** (:class:`ShorthandRow`, :class:`ShorthandAnnotation`,
  :class:`AttributesRow`): documentation models. They produce the JSON Schema
  printed by ``upload-preds --print-schema`` (:func:`row_json_schema`). The
  converter does *not* run them per row; it has a hand-written fast path with
  the same rules (see ``convert.py``), because pydantic per row would cost more
  than parsing the JSON.

The TypeAdapters are built once, at import time, and reused.
"""

from __future__ import annotations

import functools
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    TypeAdapter,
    ValidationError,
)
from pydantic_core import ErrorDetails

__all__ = [
    "LABEL_KIND_NAMES",
    "LABEL_STATUSES",
    "TASK_TYPES",
    "AttributesRow",
    "LabelStatus",
    "ShorthandAnnotation",
    "ShorthandRow",
    "label_kind",
    "row_json_schema",
    "validate_attributes",
]

LabelStatus = Literal[
    "PRELABELED",
    "LABELED",
    "REVIEWED",
    "REJECTED",
    "SKIPPED",
    "LABELING_IN_PROGRESS",
    "REVIEWING_IN_PROGRESS",
    "VERIFIED",
    "UNLABELED",
]
#: Every label status the platform knows (``segments.typing.LabelStatus``).
LABEL_STATUSES: tuple[str, ...] = get_args(LabelStatus)

# JSON numbers that orjson can encode and every consumer can read back.
_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1
JsonInt = Annotated[int, Field(ge=_INT64_MIN, le=_INT64_MAX)]


class _Strict(BaseModel):
    """Base of every label model: unknown keys, coercions and NaN are errors."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


# --- shared pieces ----------------------------------------------------------------

FormatVersion = float | str
AttributeValue = str | bool | JsonInt | float | list[str] | None
#: ``annotations[].attributes``: a flat map, as in the SDK's ``ObjectAttributes``.
ObjectAttributes = dict[str, AttributeValue]
#: ``image_attributes``: a flat map, as in the SDK's ``ImageAttributes``.
ImageAttributes = dict[str, AttributeValue]
LinkAttributes = dict[str, AttributeValue]
Timestamp = str | JsonInt | float


class URL(_Strict):
    url: str | None = None
    signed_url: str | None = None


class Annotation(_Strict):
    id: JsonInt
    category_id: JsonInt
    attributes: ObjectAttributes | None = None


class LinkFrameAttributes(_Strict):
    attributes: LinkAttributes


class Link(_Strict):
    from_id: JsonInt
    to_id: JsonInt
    attributes: LinkAttributes | None = None
    frames: list[LinkFrameAttributes] | None = None


class XYZ(_Strict):
    x: float
    y: float
    z: float


class XYZW(_Strict):
    qx: float
    qy: float
    qz: float
    qw: float


class Velocity(_Strict):
    # Required but nullable, as in the SDK.
    relative: float | None
    absolute: float


class Acceleration(_Strict):
    relative: float | None
    absolute: float


# --- image segmentation -------------------------------------------------------------


class ImageSegmentationLabelAttributes(_Strict):
    annotations: list[Annotation]
    segmentation_bitmap: URL
    image_attributes: ImageAttributes | None = None
    format_version: FormatVersion | None = None


class ImageSequenceSegmentationAnnotation(Annotation):
    track_id: JsonInt
    is_keyframe: bool = False


class ImageSequenceSegmentationFrame(_Strict):
    annotations: list[ImageSequenceSegmentationAnnotation]
    segmentation_bitmap: URL | None = None
    image_attributes: ImageAttributes | None = None
    timestamp: Timestamp | None = None
    format_version: FormatVersion | None = None


class ImageSequenceSegmentationLabelAttributes(_Strict):
    frames: list[ImageSequenceSegmentationFrame]
    format_version: FormatVersion | None = None


# --- image vector -------------------------------------------------------------------

ImageVectorType = Literal["bbox", "polygon", "polyline", "point"]


class ImageVectorAnnotation(_Strict):
    id: JsonInt
    category_id: JsonInt
    points: list[list[float]]
    type: ImageVectorType
    attributes: ObjectAttributes | None = None


class ImageVectorLabelAttributes(_Strict):
    annotations: list[ImageVectorAnnotation]
    format_version: FormatVersion | None = None
    image_attributes: ImageAttributes | None = None


class ImageSequenceVectorAnnotation(ImageVectorAnnotation):
    track_id: JsonInt
    is_keyframe: bool = False


class ImageVectorFrame(_Strict):
    annotations: list[ImageSequenceVectorAnnotation]
    timestamp: Timestamp | None = None
    format_version: FormatVersion | None = None
    image_attributes: ImageAttributes | None = None


class ImageSequenceVectorLabelAttributes(_Strict):
    frames: list[ImageVectorFrame]
    format_version: FormatVersion | None = None


# --- point cloud segmentation ---------------------------------------------------------


class PointcloudSegmentationLabelAttributes(_Strict):
    annotations: list[Annotation]
    image_attributes: ImageAttributes | None = None
    point_annotations: list[JsonInt]
    format_version: FormatVersion | None = None


class PointcloudSequenceSegmentationAnnotation(Annotation):
    track_id: JsonInt
    is_keyframe: bool = False


class PointcloudSegmentationFrame(_Strict):
    annotations: list[PointcloudSequenceSegmentationAnnotation]
    image_attributes: ImageAttributes | None = None
    point_annotations: list[JsonInt]
    format_version: FormatVersion | None = None
    timestamp: Timestamp | None = None


class PointcloudSequenceSegmentationLabelAttributes(_Strict):
    frames: list[PointcloudSegmentationFrame]
    format_version: FormatVersion | None = None


# --- point cloud cuboid ----------------------------------------------------------------

CuboidType = Literal["cuboid", "cuboid-sync"]


class PointcloudCuboidAnnotation(_Strict):
    id: JsonInt
    category_id: JsonInt
    position: XYZ
    dimensions: XYZ
    yaw: float
    rotation: XYZW | None = None
    type: CuboidType
    attributes: ObjectAttributes | None = None
    velocity: Velocity | None = None
    acceleration: Acceleration | None = None


class PointcloudCuboidLabelAttributes(_Strict):
    annotations: list[PointcloudCuboidAnnotation]
    image_attributes: ImageAttributes | None = None
    format_version: FormatVersion | None = None
    links: list[Link] | None = None


class PointcloudSequenceCuboidAnnotation(PointcloudCuboidAnnotation):
    track_id: JsonInt
    is_keyframe: bool = False


class PointcloudSequenceCuboidFrame(_Strict):
    annotations: list[PointcloudSequenceCuboidAnnotation]
    image_attributes: ImageAttributes | None = None
    timestamp: Timestamp | None = None
    format_version: FormatVersion | None = None


class BasePointcloudSequenceCuboidLabelAttributes(_Strict):
    """The cuboid sequence without links: the form used inside multi-sensor labels."""

    frames: list[PointcloudSequenceCuboidFrame]
    format_version: FormatVersion | None = None


class PointcloudSequenceCuboidLabelAttributes(BasePointcloudSequenceCuboidLabelAttributes):
    links: list[Link] | None = None


# --- point cloud vector ------------------------------------------------------------------

PointcloudVectorType = Literal["polygon", "polyline", "point"]


class PointcloudVectorAnnotation(_Strict):
    id: JsonInt
    category_id: JsonInt
    points: list[list[float]]
    type: PointcloudVectorType
    attributes: ObjectAttributes | None = None


class PointcloudVectorLabelAttributes(_Strict):
    annotations: list[
        Annotated[
            PointcloudVectorAnnotation | PointcloudCuboidAnnotation,
            Field(discriminator="type"),
        ]
    ]
    image_attributes: ImageAttributes | None = None
    format_version: FormatVersion | None = None
    links: list[Link] | None = None


class PointcloudSequenceVectorAnnotation(PointcloudVectorAnnotation):
    track_id: JsonInt
    is_keyframe: bool = False


class PointcloudSequenceVectorFrame(_Strict):
    annotations: list[
        Annotated[
            PointcloudSequenceVectorAnnotation | PointcloudSequenceCuboidAnnotation,
            Field(discriminator="type"),
        ]
    ]
    image_attributes: ImageAttributes | None = None
    format_version: FormatVersion | None = None
    links: list[Link] | None = None
    timestamp: Timestamp | None = None


class BasePointcloudSequenceVectorLabelAttributes(_Strict):
    frames: list[PointcloudSequenceVectorFrame]
    format_version: FormatVersion | None = None


class PointcloudSequenceVectorLabelAttributes(BasePointcloudSequenceVectorLabelAttributes):
    links: list[Link] | None = None


# --- multi-sensor ---------------------------------------------------------------------------

# The SDK also accepts a list in place of a sensor's attributes (a sensor with no
# label yet). Only the empty list carries that meaning, so only it is accepted:
# a non-empty list would be content the platform cannot read. The union is
# discriminated by the input's JSON type so that an object gets the errors of
# the object model only, not also "should be a list".
_NoLabel = Annotated[list[Any], Field(max_length=0)]


def _json_kind(value: Any) -> str:
    return "empty" if isinstance(value, list) else "label"


_SensorCuboidSequence = Annotated[
    Annotated[BasePointcloudSequenceCuboidLabelAttributes, Tag("label")]
    | Annotated[_NoLabel, Tag("empty")],
    Discriminator(_json_kind),
]
_SensorImageVectorSequence = Annotated[
    Annotated[ImageSequenceVectorLabelAttributes, Tag("label")] | Annotated[_NoLabel, Tag("empty")],
    Discriminator(_json_kind),
]
_SensorImageSegmentationSequence = Annotated[
    Annotated[ImageSequenceSegmentationLabelAttributes, Tag("label")]
    | Annotated[_NoLabel, Tag("empty")],
    Discriminator(_json_kind),
]
_SensorPointcloudVectorSequence = Annotated[
    Annotated[BasePointcloudSequenceVectorLabelAttributes, Tag("label")]
    | Annotated[_NoLabel, Tag("empty")],
    Discriminator(_json_kind),
]
_SensorPointcloudSegmentationSequence = Annotated[
    Annotated[PointcloudSequenceSegmentationLabelAttributes, Tag("label")]
    | Annotated[_NoLabel, Tag("empty")],
    Discriminator(_json_kind),
]


class MultiSensorPointcloudSequenceCuboidLabelAttributes(_Strict):
    name: str
    task_type: Literal["pointcloud-cuboid-sequence"]
    attributes: _SensorCuboidSequence


class MultiSensorImageSequenceVectorLabelAttributes(_Strict):
    name: str
    task_type: Literal["image-vector-sequence"]
    attributes: _SensorImageVectorSequence


class MultiSensorImageSequenceSegmentationLabelAttributes(_Strict):
    name: str
    task_type: Literal["image-segmentation-sequence"]
    attributes: _SensorImageSegmentationSequence


class MultiSensorPointcloudSequenceVectorLabelAttributes(_Strict):
    name: str
    task_type: Literal["pointcloud-vector-sequence"]
    attributes: _SensorPointcloudVectorSequence


class MultiSensorPointcloudSequenceSegmentationLabelAttributes(_Strict):
    name: str
    task_type: Literal["pointcloud-segmentation-sequence"]
    attributes: _SensorPointcloudSegmentationSequence


class MultiSensorLabelAttributes(_Strict):
    sensors: list[
        Annotated[
            MultiSensorPointcloudSequenceCuboidLabelAttributes
            | MultiSensorPointcloudSequenceVectorLabelAttributes
            | MultiSensorPointcloudSequenceSegmentationLabelAttributes
            | MultiSensorImageSequenceVectorLabelAttributes
            | MultiSensorImageSequenceSegmentationLabelAttributes,
            Field(discriminator="task_type"),
        ]
    ]
    links: list[Link] | None = None


# --- kinds and task types -------------------------------------------------------------------

#: Label kind → model. A kind is named after its canonical task type.
_KIND_MODELS: dict[str, type[_Strict]] = {
    "vector": ImageVectorLabelAttributes,
    "segmentation-bitmap": ImageSegmentationLabelAttributes,
    "image-vector-sequence": ImageSequenceVectorLabelAttributes,
    "image-segmentation-sequence": ImageSequenceSegmentationLabelAttributes,
    "pointcloud-cuboid": PointcloudCuboidLabelAttributes,
    "pointcloud-vector": PointcloudVectorLabelAttributes,
    "pointcloud-segmentation": PointcloudSegmentationLabelAttributes,
    "pointcloud-cuboid-sequence": PointcloudSequenceCuboidLabelAttributes,
    "pointcloud-vector-sequence": PointcloudSequenceVectorLabelAttributes,
    "pointcloud-segmentation-sequence": PointcloudSequenceSegmentationLabelAttributes,
    "multisensor-sequence": MultiSensorLabelAttributes,
}

#: Readable names of the kinds, for messages.
LABEL_KIND_NAMES: dict[str, str] = {
    "vector": "image vector",
    "segmentation-bitmap": "image segmentation bitmap",
    "image-vector-sequence": "image vector sequence",
    "image-segmentation-sequence": "image segmentation sequence",
    "pointcloud-cuboid": "point cloud cuboid",
    "pointcloud-vector": "point cloud vector",
    "pointcloud-segmentation": "point cloud segmentation",
    "pointcloud-cuboid-sequence": "point cloud cuboid sequence",
    "pointcloud-vector-sequence": "point cloud vector sequence",
    "pointcloud-segmentation-sequence": "point cloud segmentation sequence",
    "multisensor-sequence": "multi-sensor",
}

#: Dataset task type → label kind. Several task types share one label format.
TASK_TYPES: dict[str, str] = {
    "vector": "vector",
    "bboxes": "vector",
    "keypoints": "vector",
    "segmentation-bitmap": "segmentation-bitmap",
    "segmentation-bitmap-highres": "segmentation-bitmap",
    "image-vector-sequence": "image-vector-sequence",
    "image-segmentation-sequence": "image-segmentation-sequence",
    "pointcloud-cuboid": "pointcloud-cuboid",
    "pointcloud-cuboid-sequence": "pointcloud-cuboid-sequence",
    "pointcloud-vector": "pointcloud-vector",
    "pointcloud-vector-sequence": "pointcloud-vector-sequence",
    "pointcloud-segmentation": "pointcloud-segmentation",
    "pointcloud-segmentation-sequence": "pointcloud-segmentation-sequence",
    "multisensor-sequence": "multisensor-sequence",
    # The SDK comments this one out, but the platform names multi-sensor datasets so.
    "multisensor": "multisensor-sequence",
}


def label_kind(task_type: str) -> str | None:
    """The label kind of a dataset task type, or ``None`` for an unknown task type."""
    return TASK_TYPES.get(task_type)


@functools.cache
def _adapter(kind: str) -> TypeAdapter[Any]:
    # Built lazily once per kind, then reused for every row.
    return TypeAdapter(_KIND_MODELS[kind])


def _guess_kinds(attributes: dict[str, Any]) -> list[str]:
    """The kinds an attributes object could be, most likely first, from its keys alone."""
    if "sensors" in attributes:
        return ["multisensor-sequence"]
    if "frames" in attributes:
        frames = attributes["frames"]
        first: Any = frames[0] if isinstance(frames, list) and frames else {}
        sample_ann: Any = {}
        if isinstance(first, dict):
            anns = first.get("annotations")
            if isinstance(anns, list) and anns:
                sample_ann = anns[0]
        if isinstance(first, dict) and "point_annotations" in first:
            return ["pointcloud-segmentation-sequence"]
        if isinstance(first, dict) and "segmentation_bitmap" in first:
            return ["image-segmentation-sequence"]
        if isinstance(sample_ann, dict) and "position" in sample_ann:
            return ["pointcloud-cuboid-sequence", "pointcloud-vector-sequence"]
        return [
            "image-vector-sequence",
            "pointcloud-vector-sequence",
            "image-segmentation-sequence",
            "pointcloud-cuboid-sequence",
            "pointcloud-segmentation-sequence",
        ]
    if "segmentation_bitmap" in attributes:
        return ["segmentation-bitmap"]
    if "point_annotations" in attributes:
        return ["pointcloud-segmentation"]
    anns = attributes.get("annotations")
    if isinstance(anns, list) and any(isinstance(a, dict) and "position" in a for a in anns):
        return ["pointcloud-cuboid", "pointcloud-vector"]
    return ["vector", "pointcloud-vector", "pointcloud-cuboid"]


def _path(loc: tuple[int | str, ...], data: Any, missing: bool) -> str:
    """``('annotations', 2, 'points')`` → ``annotations[2].points``.

    pydantic puts union member names and discriminator tags into ``loc``; they
    are not keys of the data, so they are recognised by walking the data along
    the location and skipped. The last element of a ``missing`` error is kept:
    it names the key that is absent.
    """
    out: list[str] = []
    cur: Any = data
    last = len(loc) - 1
    for i, part in enumerate(loc):
        if isinstance(part, int) and isinstance(cur, list):
            out.append(f"[{part}]")
            cur = cur[part] if 0 <= part < len(cur) else None
        elif isinstance(cur, dict) and part in cur:
            out.append(f".{part}" if out else str(part))
            cur = cur[part]
        elif i == last and missing:
            out.append(f".{part}" if out else str(part))
    return "".join(out)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _message(err: ErrorDetails) -> str:
    kind = err["type"]
    ctx = err.get("ctx") or {}
    if kind in {"missing", "union_tag_not_found"}:
        return "required field is missing"
    if kind == "extra_forbidden":
        return (
            "unknown field: it is not part of the Segments label format (the SDK would drop "
            "it silently); per-object values belong in the annotation's 'attributes' map"
        )
    if kind == "union_tag_invalid":
        return f"should be one of {ctx.get('expected_tags')}, got {_short(ctx.get('tag'))}"
    if kind == "too_long" and ctx.get("max_length") == 0:
        return "should be a label attributes object, or [] for a sensor without a label"
    msg = err["msg"]
    if msg.startswith("Input should be "):
        msg = "should be " + msg[len("Input should be ") :]
    if kind.endswith("_type") or kind == "literal_error":
        return f"{msg}, got {_short(err.get('input'))}"
    return msg


def _readable_errors(exc: ValidationError, data: Any) -> list[tuple[str, str]]:
    """Collapse pydantic's errors into one short message per field path."""
    by_path: dict[str, list[ErrorDetails]] = {}
    for err in exc.errors(include_url=False):
        path = _path(err["loc"], data, err["type"] == "missing")
        if err["type"] in {"union_tag_invalid", "union_tag_not_found"}:
            # Point at the discriminating key itself (``sensors[1].task_type``).
            key = str((err.get("ctx") or {}).get("discriminator", "")).strip("'")
            if key.isidentifier():
                path = f"{path}.{key}" if path else key
        by_path.setdefault(path, []).append(err)
    out: list[tuple[str, str]] = []
    for path, errs in by_path.items():
        if len(errs) == 1:
            out.append((path, _message(errs[0])))
            continue
        # Several errors at one place come from a union: one per member.
        special = [e for e in errs if e["type"] in {"finite_number", "missing", "extra_forbidden"}]
        if special:
            out.append((path, _message(special[0])))
            continue
        wanted: list[str] = []
        for e in errs:
            m = e["msg"].removeprefix("Input should be ").removeprefix("a valid ")
            if m not in wanted:
                wanted.append(m)
        expected = ", ".join(wanted[:-1]) + f" or {wanted[-1]}" if len(wanted) > 1 else wanted[0]
        out.append((path, f"should be a {expected}, got {_short(errs[0].get('input'))}"))
    return out


def validate_attributes(
    attributes: Any, task_type: str | None
) -> tuple[dict[str, Any] | None, list[tuple[str, str]]]:
    """Validate one label attributes object strictly.

    Returns ``(normalized, [])`` on success, where ``normalized`` is the JSON-ready
    dump (only the keys that were given), or ``(None, errors)`` with one
    ``(field path, message)`` per problem; paths are relative to the attributes
    object (``annotations[2].points``, ``""`` for the object itself).

    With a ``task_type`` the attributes must have that task type's format. With
    ``None`` the kind is detected from the shape: the plausible kinds are tried,
    most likely first; when none fits, the errors are those against the closest
    (fewest errors), and the first of them also says which kinds were tried.
    """
    if not isinstance(attributes, dict):
        return None, [("", f"should be a JSON object (label attributes), got {_short(attributes)}")]
    if task_type is not None:
        kind = TASK_TYPES.get(task_type)
        if kind is None:
            known = ", ".join(sorted(TASK_TYPES))
            return None, [("", f"unknown task type {task_type!r}; known task types: {known}")]
        kinds = [kind]
    else:
        kinds = _guess_kinds(attributes)
    failures: list[tuple[str, list[tuple[str, str]]]] = []
    for kind in kinds:
        try:
            value = _adapter(kind).validate_python(attributes)
        except ValidationError as exc:
            failures.append((kind, _readable_errors(exc, attributes)))
            continue
        return value.model_dump(mode="json", exclude_unset=True), []
    if len(failures) == 1:
        return None, failures[0][1]
    best_kind, best = min(failures, key=lambda f: len(f[1]))
    tried = ", ".join(LABEL_KIND_NAMES[k] for k, _ in failures)
    # One message per problem; the first also says how the kind was chosen.
    path, msg = best[0]
    note = (
        f" (checked as {LABEL_KIND_NAMES[best_kind]}, the closest of the label formats tried: "
        f"{tried}; --dataset, or --categories with a dataset file, sets the task type)"
    )
    return None, [(path, msg + note), *best[1:]]


# --- input rows (documentation models for the JSON Schema) ------------------------------------

_Number = Annotated[float, Field(allow_inf_nan=False)]
# [x, y] in pixels; [x, y, z] in point-cloud vector datasets (convert/shapes3d.py).
_Point = Annotated[list[_Number], Field(min_length=2, max_length=3)]


class _Doc(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


class XYZIn(_Doc):
    """A 3-D vector as an object; a list ``[x, y, z]`` is accepted too."""

    x: _Number
    y: _Number
    z: _Number


class QuaternionIn(_Doc):
    """A rotation quaternion as an object; a list ``[qx, qy, qz, qw]`` is accepted too."""

    qx: _Number
    qy: _Number
    qz: _Number
    qw: _Number


class ShorthandAnnotation(_Doc):
    """One object in the shorthand form. Give exactly one of ``category_id`` / ``category``.

    2-D shapes (``bbox``, ``polygon``, ``polyline``, ``point``) take ``points`` (or,
    for a bbox, ``bbox``); a ``cuboid`` takes ``position``, ``dimensions`` and
    ``yaw`` (and optionally ``rotation``).
    """

    category_id: JsonInt | None = Field(
        None, description="The category id in the dataset's task_attributes.", examples=[1]
    )
    category: str | None = Field(
        None,
        description=(
            "The category name, mapped to its id through --categories FILE or --dataset. "
            "Matched exactly, else case-insensitively (with a warning)."
        ),
        examples=["car"],
    )
    type: Literal["bbox", "polygon", "polyline", "point", "cuboid"] = Field(
        "bbox", description="The shape. Default: bbox."
    )
    bbox: Annotated[list[_Number], Field(min_length=4, max_length=4)] | None = Field(
        None,
        description=(
            "Only for type bbox: four numbers in the --bbox-format convention "
            "(xyxy: x0, y0, x1, y1 in any corner order; xywh: left, top, width, height; "
            "cxcywh: centre x, centre y, width, height). Sent as [[min x, min y], [max x, max y]]."
        ),
        examples=[[10, 20, 110, 220]],
    )
    points: list[_Point] | None = Field(
        None,
        description=(
            "Pixel coordinates [[x, y], ...]: a bbox takes two opposite corners (any order), "
            "a polygon at least 3 points, a polyline at least 2, a point exactly 1. In "
            "pointcloud-vector datasets: [[x, y, z], ...] (and no bbox)."
        ),
        examples=[[[0, 479], [250, 260], [390, 260]]],
    )
    position: XYZIn | Annotated[list[_Number], Field(min_length=3, max_length=3)] | None = Field(
        None, description="Only for type cuboid: the centre."
    )
    dimensions: XYZIn | Annotated[list[_Number], Field(min_length=3, max_length=3)] | None = Field(
        None, description="Only for type cuboid: the size along x, y, z (all > 0)."
    )
    yaw: _Number | None = Field(None, description="Only for type cuboid: heading in radians.")
    rotation: QuaternionIn | Annotated[list[_Number], Field(min_length=4, max_length=4)] | None = (
        Field(None, description="Only for type cuboid, optional: a rotation quaternion.")
    )
    score: _Number | None = Field(
        None,
        description=(
            "The object's confidence. Used by --min-score and --score-from; stored in the "
            "annotation's attributes only with --object-score-attribute NAME."
        ),
        examples=[0.87],
    )
    attributes: ObjectAttributes | None = Field(
        None,
        description="Object attributes: a flat map of name to value, as in the dataset.",
        examples=[{"occluded": False}],
    )
    id: Annotated[int, Field(ge=1, le=_INT64_MAX)] | None = Field(
        None,
        description=(
            "Annotation id, unique within the label. Missing ids are numbered 1, 2, ... in "
            "input order, skipping the ids given explicitly."
        ),
    )


class _RowBase(_Doc):
    sample_uuid: str | None = Field(
        None, description="The sample's uuid. Give exactly one of sample_uuid / sample_name."
    )
    sample_name: str | None = Field(
        None, description="The sample's name, resolved to its uuid before uploading."
    )
    labelset: str | None = Field(
        None,
        description="The label set to write to; overrides --labelset (default ground-truth).",
        examples=["predictions"],
    )
    score: _Number | None = Field(
        None,
        description=(
            "The label's prediction score (any finite number; the platform sorts and "
            "filters by it). Without it, the label takes the mean of its kept annotation "
            "scores (--score-from max|mean|min|none)."
        ),
        examples=[0.91],
    )
    label_status: LabelStatus | None = Field(
        None,
        description=(
            "The label status for this row; overrides --label-status (default PRELABELED). "
            "Lets a file written by --output-labels be read back in."
        ),
    )


class ShorthandRow(_RowBase):
    """A prediction written compactly: a list of objects, converted to the dataset's format."""

    model_config = ConfigDict(
        title="ShorthandRow",
        json_schema_extra={
            "examples": [
                {
                    "sample_name": "img_0001.jpg",
                    "score": 0.8,
                    "annotations": [
                        {"category": "car", "bbox": [12, 34, 120, 90], "score": 0.93},
                        {"category_id": 8, "type": "polygon", "points": [[0, 0], [5, 0], [5, 5]]},
                    ],
                    "image_attributes": {"weather": "sunny"},
                }
            ]
        },
    )

    annotations: list[ShorthandAnnotation] = Field(description="The predicted objects.")
    image_attributes: ImageAttributes | None = Field(
        None, description="Image-level attributes: a flat map of name to value."
    )
    width: Annotated[int, Field(ge=1)] | None = Field(
        None, description="Image width in pixels: scales 0..1 coordinates with --normalized."
    )
    height: Annotated[int, Field(ge=1)] | None = Field(
        None, description="Image height in pixels: scales 0..1 coordinates with --normalized."
    )


class MaskAnnotation(_Doc):
    """One object of a segmentation-bitmap prediction."""

    model_config = ConfigDict(title="MaskAnnotation")

    id: Annotated[int, Field(ge=1, lt=2**24)] | None = Field(
        None,
        description=(
            "With mask_path: the pixel value of this object in the instance image. Ids must "
            "stay below 2^24 (the bitmap stores them in R, G and B)."
        ),
    )
    category_id: int | None = Field(None, description="The dataset's category id.")
    category: str | None = Field(None, description="A category name, mapped to its id.")
    attributes: ObjectAttributes | None = Field(
        None, description="Object attributes: a flat map of name to value."
    )
    score: _Number | None = Field(
        None, description="Only with 'segmentation': the object's confidence (overlaps go to it)."
    )
    segmentation: dict[str, Any] | list[list[_Number]] | None = Field(
        None,
        description=(
            "Instead of mask_path: a COCO RLE {size: [h, w], counts: string or list} or "
            "COCO polygons [[x1, y1, x2, y2, ...], ...] (polygons need width and height)."
        ),
    )


class MaskRow(_RowBase):
    """A segmentation-bitmap prediction: an instance/class image, or RLE/polygon masks."""

    model_config = ConfigDict(
        title="MaskRow",
        json_schema_extra={
            "examples": [
                {
                    "sample_name": "a.png",
                    "mask_path": "masks/a.png",
                    "annotations": [{"id": 1, "category": "car"}, {"id": 2, "category": "road"}],
                },
                {"sample_name": "b.png", "mask_path": "masks/b.png", "mask_kind": "class"},
            ]
        },
    )

    mask_path: str | None = Field(
        None,
        description=(
            "An image of ids, relative to the rows file's folder: each pixel is an annotation "
            "id (mask_kind instance) or a dataset category id (mask_kind class)."
        ),
    )
    mask_kind: Literal["instance", "class"] | None = Field(
        None, description="How mask_path's pixel values are meant (default instance)."
    )
    width: Annotated[int, Field(ge=1)] | None = Field(
        None, description="Image width in pixels (needed by polygon segmentations)."
    )
    height: Annotated[int, Field(ge=1)] | None = Field(
        None, description="Image height in pixels (needed by polygon segmentations)."
    )
    annotations: list[MaskAnnotation] | None = Field(
        None,
        description=(
            "With an instance mask_path: each id's category. Without mask_path: the objects, "
            "each with its 'segmentation'. Leave out with mask_kind class."
        ),
    )


LabelAttributes = (
    ImageVectorLabelAttributes
    | ImageSegmentationLabelAttributes
    | ImageSequenceVectorLabelAttributes
    | ImageSequenceSegmentationLabelAttributes
    | PointcloudCuboidLabelAttributes
    | PointcloudVectorLabelAttributes
    | PointcloudSegmentationLabelAttributes
    | PointcloudSequenceCuboidLabelAttributes
    | PointcloudSequenceVectorLabelAttributes
    | PointcloudSequenceSegmentationLabelAttributes
    | MultiSensorLabelAttributes
)


class AttributesRow(_RowBase):
    """A prediction given as a complete Segments label attributes object, sent as is."""

    model_config = ConfigDict(
        title="AttributesRow",
        json_schema_extra={
            "examples": [
                {
                    "sample_uuid": "77db0d1f-7fd6-501c-add0-3efa2b6f5006",
                    "labelset": "predictions",
                    "attributes": {
                        "format_version": "0.1",
                        "annotations": [
                            {
                                "id": 1,
                                "category_id": 1,
                                "type": "bbox",
                                "points": [[12.3, 34.5], [56.7, 78.9]],
                                "attributes": {"confidence": 0.93},
                            }
                        ],
                    },
                }
            ]
        },
    )

    attributes: LabelAttributes = Field(
        description=(
            "Label attributes in the format of the dataset's task type, validated strictly: "
            "an unknown key anywhere is an error."
        )
    )


def row_json_schema() -> dict[str, Any]:
    """The JSON Schema of one input row (JSON array element or JSONL line)."""
    from upload_preds.pcsegschema import MaskFrameRow, PointLabelsRow
    from upload_preds.seqschema import SequenceRow  # defined on top of this module's models

    schema = TypeAdapter(
        ShorthandRow | AttributesRow | MaskRow | SequenceRow | PointLabelsRow | MaskFrameRow
    ).json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "upload-preds input row"
    schema["description"] = (
        "One prediction for one sample: a JSON object per JSONL line or JSON array element. "
        "Exactly one of sample_uuid / sample_name, and either 'annotations' (shorthand), "
        "'attributes' (complete Segments label attributes) or, for segmentation-bitmap "
        "datasets, masks ('mask_path', or annotations with 'segmentation'). Unknown keys are "
        "errors. In sequence datasets a row is one part of a label (SequenceRow): objects "
        "with their frame and track_id. Point-cloud segmentation rows name a per-point "
        "label file (PointLabelsRow); segmentation sequences take one file per frame "
        "(PointLabelsRow or MaskFrameRow with 'frame'). "
        "CSV/TSV input has one annotation per record instead; see the README."
    )
    return schema
