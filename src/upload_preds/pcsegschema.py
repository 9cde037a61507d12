"""The documented forms of segmentation rows with files, for ``--print-schema``.

Documentation models only (pydantic, for the JSON Schema): the converter checks
rows by hand (:mod:`upload_preds.convert.pcseg`,
:mod:`upload_preds.convert.segsequences`), and a test holds these fields equal
to the ones it accepts. :class:`PointLabelsRow` is a point-cloud segmentation
prediction (a per-point label file; with ``frame``, one frame of a point-cloud
segmentation sequence); :class:`MaskFrameRow` is one frame of an image
segmentation sequence (a single image's mask row is ``MaskRow``). In a
multi-sensor dataset either one, with ``sensor``, is a frame of that
segmentation sensor. As CSV/TSV lines the same fields are columns
(``annotations`` a JSON cell).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import ConfigDict, Field

from upload_preds.labelmodels import ImageAttributes, ObjectAttributes
from upload_preds.rowschema import _Doc, _RowBase

__all__ = ["MaskFrameRow", "PointLabelsAnnotation", "PointLabelsRow"]

_Frame = Annotated[int, Field(ge=0, le=2**63 - 1)]


class PointLabelsAnnotation(_Doc):
    """One instance of an instance point label file: its id in the file and its category."""

    model_config = ConfigDict(title="PointLabelsAnnotation")

    id: Annotated[int, Field(ge=1, le=2**31 - 1)] = Field(
        description="The points' id in the file (every id of the file must be listed)."
    )
    category_id: int | None = Field(None, description="The dataset's category id.")
    category: str | None = Field(None, description="A category name, mapped to its id.")
    attributes: ObjectAttributes | None = Field(
        None, description="Object attributes: a flat map of name to value."
    )


class PointLabelsRow(_RowBase):
    """A point-cloud segmentation prediction: a file with one label per point."""

    model_config = ConfigDict(
        title="PointLabelsRow",
        json_schema_extra={
            "examples": [
                {"sample_name": "000000.bin", "point_labels_path": "labels/000000.label"},
                {"sample_name": "drive_03", "frame": 1, "point_labels_path": "d3/000001.label"},
            ]
        },
    )

    point_labels_path: str = Field(
        description=(
            "A file relative to the rows file's folder: .label/.bin (little-endian uint32 "
            "per point; SemanticKITTI: lower 16 bits class, upper 16 instance), .npy (a 1-D "
            "integer array) or .txt (one integer per line); see --point-labels-kind and "
            "--category-map."
        )
    )
    annotations: list[PointLabelsAnnotation] | None = Field(
        None,
        description="Instance point labels only: each id's category. Leave out for class ids.",
    )
    image_attributes: ImageAttributes | None = Field(
        None, description="Attributes of the whole point cloud (or frame)."
    )
    frame: _Frame | None = Field(
        None,
        description=(
            "Point-cloud segmentation sequences: the 0-based frame this file labels (one row "
            "per frame; no score or label_status of its own)."
        ),
    )
    sensor: str | None = Field(
        None,
        description=(
            "Multi-sensor datasets: the point-cloud segmentation sensor this frame is of "
            "(with 'frame'); the label's other sensors come from their own rows."
        ),
    )


class MaskFrameRow(_Doc):
    """One frame of an image segmentation sequence: the frame's id image."""

    model_config = ConfigDict(
        title="MaskFrameRow",
        json_schema_extra={
            "examples": [
                {
                    "sample_name": "clip_07",
                    "frame": 0,
                    "mask_path": "masks/clip_07/0.png",
                    "annotations": [{"id": 1, "category": "car"}],
                }
            ]
        },
    )

    sample_uuid: str | None = Field(
        None, description="The sample's uuid. Give exactly one of sample_uuid / sample_name."
    )
    sample_name: str | None = Field(
        None, description="The sample's name, resolved to its uuid before uploading."
    )
    labelset: str | None = Field(
        None, description="The label set to write to; overrides --labelset."
    )
    frame: _Frame = Field(description="The 0-based frame this mask is of (one row per frame).")
    mask_path: str = Field(
        description="The frame's id image, relative to the rows file's folder (as MaskRow's)."
    )
    mask_kind: Literal["instance", "class"] | None = Field(
        None, description="How mask_path's pixel values are meant (default instance)."
    )
    annotations: list[PointLabelsAnnotation] | None = Field(
        None, description="With an instance mask: each pixel value's category."
    )
    image_attributes: ImageAttributes | None = Field(None, description="Attributes of the frame.")
    sensor: str | None = Field(
        None,
        description=(
            "Multi-sensor datasets: the image segmentation sensor this frame is of; the "
            "label's other sensors come from their own rows."
        ),
    )
