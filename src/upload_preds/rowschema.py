"""The documented forms of input rows, and the JSON Schema of ``--print-schema``.

Documentation models only (pydantic, for the JSON Schema):
:class:`ShorthandRow` (with :class:`ShorthandAnnotation`), :class:`AttributesRow`
(complete label attributes, :mod:`upload_preds.labelmodels`) and
:class:`MaskRow`; the sequence and segmentation-file rows build on them in
:mod:`upload_preds.seqschema` and :mod:`upload_preds.pcsegschema`.
:func:`row_json_schema` joins them all. The converter does *not* run these
models per row; it checks rows by hand with the same rules (``convert/``),
because pydantic per row would cost more than parsing the JSON.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from upload_preds.labelmodels import (
    INT64_MAX,
    ImageAttributes,
    ImageSegmentationLabelAttributes,
    ImageSequenceSegmentationLabelAttributes,
    ImageSequenceVectorLabelAttributes,
    ImageVectorLabelAttributes,
    JsonInt,
    LabelStatus,
    MultiSensorLabelAttributes,
    ObjectAttributes,
    PointcloudCuboidLabelAttributes,
    PointcloudSegmentationLabelAttributes,
    PointcloudSequenceCuboidLabelAttributes,
    PointcloudSequenceSegmentationLabelAttributes,
    PointcloudSequenceVectorLabelAttributes,
    PointcloudVectorLabelAttributes,
)

__all__ = ["AttributesRow", "MaskRow", "ShorthandAnnotation", "ShorthandRow", "row_json_schema"]

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
    id: Annotated[int, Field(ge=1, le=INT64_MAX)] | None = Field(
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
