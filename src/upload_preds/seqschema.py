"""The documented form of a sequence dataset's input row, for ``--print-schema``.

Documentation models only (pydantic, for the JSON Schema): the converter checks
rows by hand (:mod:`upload_preds.convert.sequences`), and a test holds these
fields equal to the ones it accepts. A sequence row is one part of a label: the
objects of one frame (or of several, each with its own ``frame``) of one
sample; every row of a (sample, label set) becomes one sequence label.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import ConfigDict, Field

from upload_preds.labelmodels import ImageAttributes
from upload_preds.rowschema import ShorthandAnnotation, _Doc

__all__ = ["SequenceAnnotation", "SequenceRow"]

_INT64_MAX = 2**63 - 1
_FrameIndex = Annotated[int, Field(ge=0, le=_INT64_MAX)]


class SequenceAnnotation(ShorthandAnnotation):
    """One object in one frame of a sequence: a shorthand object with its track."""

    model_config = ConfigDict(title="SequenceAnnotation")

    track_id: Annotated[int, Field(ge=1, le=_INT64_MAX)] = Field(
        description=(
            "The object's track: the same positive integer in every frame. It is also the "
            "annotation's id in the label (one id per track, unique within each frame)."
        ),
        examples=[7],
    )
    frame: _FrameIndex | None = Field(
        None,
        description=(
            "The 0-based index of the frame the object is in; defaults to the row's 'frame'. "
            "Must be below the sample's frame count."
        ),
        examples=[12],
    )
    is_keyframe: bool = Field(
        True,
        description=(
            "Whether the object's position was set in this frame (default true: a per-frame "
            "prediction is observed there, not interpolated)."
        ),
    )
    id: None = Field(None, description="Not used in sequences: an object's id is its track_id.")


class SequenceRow(_Doc):
    """Sequence datasets (image-vector-sequence, pointcloud-cuboid-sequence, ...): one part
    of a sequence label; all rows of one sample and label set, from every file and in any
    order, become one label with one entry per frame of the sample."""

    model_config = ConfigDict(
        title="SequenceRow",
        json_schema_extra={
            "examples": [
                {
                    "sample_name": "drive_0001",
                    "frame": 12,
                    "annotations": [
                        {"category": "car", "bbox": [12, 34, 120, 90], "track_id": 7, "score": 0.93}
                    ],
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
        None, description="The label set to write to; overrides --labelset (default ground-truth)."
    )
    frame: _FrameIndex | None = Field(
        None, description="The 0-based frame of every annotation of the row that has none."
    )
    annotations: list[SequenceAnnotation] = Field(
        description="The objects, each with its track_id (and frame, unless the row has one)."
    )
    image_attributes: ImageAttributes | None = Field(
        None, description="Frame-level attributes of the row's 'frame': a flat map."
    )
    sensor: str | None = Field(
        None, description="Multi-sensor datasets: the name of the sensor the objects are for."
    )
