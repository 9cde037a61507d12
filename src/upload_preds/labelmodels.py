"""Strict pydantic models of Segments.ai label attributes, one per task type.

They mirror field by field the models of the official SDK (``segments.typing``
in ``segments-ai`` 1.33.0): the same field names, types, optionality and
literals. Ours differ on purpose in how they validate: ``extra="forbid"`` (an
unknown key is an error, where the SDK silently drops it), ``strict=True`` (no
``"1"`` → ``1`` coercion, no ``true`` as a number) and no NaN/Infinity, and
integers are kept inside the 64-bit range so that every accepted label can be
encoded as JSON.

A *kind* is a label format, named after its canonical task type:
:data:`TASK_TYPES` maps every dataset task type to its kind, :data:`KIND_MODELS`
a kind to its model, :data:`LABEL_KIND_NAMES` a kind to its name in messages.
Validation and its error wording are in :mod:`upload_preds.labelcheck`; the
documented input rows of ``--print-schema`` in :mod:`upload_preds.rowschema`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag

from upload_preds.labelstatus import LABEL_STATUSES, LabelStatus

__all__ = [
    "KIND_MODELS",
    "LABEL_KIND_NAMES",
    "LABEL_STATUSES",
    "TASK_TYPES",
    "LabelStatus",
    "label_kind",
]


# JSON numbers that orjson can encode and every consumer can read back.
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
JsonInt = Annotated[int, Field(ge=INT64_MIN, le=INT64_MAX)]


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
KIND_MODELS: dict[str, type[_Strict]] = {
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
