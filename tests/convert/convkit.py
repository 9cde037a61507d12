"""Helpers of the conversion tests (imported by the test modules as ``convkit``).

The official ``segments-ai`` SDK is the independent referee: :func:`sdk_check`
validates an emitted label with the SDK's own pydantic model for its task type
and asserts that the SDK's dump equals what we emitted (nothing dropped,
nothing added).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import segments.typing as st

from upload_preds.records import LabelJob, Location, Record, RowError

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).resolve().parent / "data"
DATASET = ROOT / "sample_data" / "dataset.json"

#: Label kind (canonical task type) → the SDK's model of its attributes.
SDK_MODELS: dict[str, type[Any]] = {
    "vector": st.ImageVectorLabelAttributes,
    "segmentation-bitmap": st.ImageSegmentationLabelAttributes,
    "image-vector-sequence": st.ImageSequenceVectorLabelAttributes,
    "image-segmentation-sequence": st.ImageSequenceSegmentationLabelAttributes,
    "pointcloud-cuboid": st.PointcloudCuboidLabelAttributes,
    "pointcloud-cuboid-sequence": st.PointcloudSequenceCuboidLabelAttributes,
    "pointcloud-vector": st.PointcloudVectorLabelAttributes,
    "pointcloud-vector-sequence": st.PointcloudSequenceVectorLabelAttributes,
    "pointcloud-segmentation": st.PointcloudSegmentationLabelAttributes,
    "pointcloud-segmentation-sequence": st.PointcloudSequenceSegmentationLabelAttributes,
    "multisensor-sequence": st.MultiSensorLabelAttributes,
}


def sdk_check(kind: str, attributes: dict[str, Any]) -> None:
    """The SDK accepts the label and its dump equals ours: validating dropped nothing."""
    model = SDK_MODELS[kind].model_validate(attributes)
    assert model.model_dump(mode="json", exclude_unset=True) == attributes


def sdk_check_job(job: LabelJob) -> None:
    """A shorthand label validates under the SDK model of its kind, and so does its status."""
    kind = "pointcloud-cuboid" if job.attributes["format_version"] == "0.2" else "vector"
    sdk_check(kind, job.attributes)
    assert st.LabelStatus(job.label_status).value == job.label_status


def record(data: Any, line: int = 1, fmt: str = "jsonl", file: str = "preds.jsonl") -> Record:
    return Record(Location(file, line), fmt, data)  # type: ignore[arg-type]


def ok(result: Any) -> LabelJob:
    assert isinstance(result, LabelJob), f"expected a label, got {result}"
    return result


def errs(result: Any) -> list[RowError]:
    assert isinstance(result, list), f"expected errors, got {result}"
    assert result, "an empty error list"
    assert all(isinstance(e, RowError) for e in result)
    return result
