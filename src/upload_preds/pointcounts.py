"""A point-cloud segmentation label against its sample's point counts, before it is sent.

The platform's point-cloud sample attributes (``pcd: {url, type}``) carry no
point count, so the uploader cannot know it in general; ``--points N`` gives
one for every cloud. Where a dataset keeps the counts in the sample's
free-form ``metadata.point_count`` (the sandbox's manifest does: a whole number
for a ``pointcloud-segmentation`` sample, one per frame for a sequence), the
preflight's sample listings note them (:func:`counts_of`, kept by
:class:`~upload_preds.sampleshape.SampleShapes`), and :func:`check` holds each
label to them once its sample is known: a label whose ``point_annotations``
are not one per point fails its rows with both numbers, the row's file and
line, instead of being sent and refused. A sequence frame without a row
(no ids) gets that frame's count of zeros, so the label fits its sample.
Samples named only by uuid in single-cloud rows are not listed; for them the
server's check is the one that applies.

A multi-sensor sample keeps them per sensor, ``metadata.point_count: {sensor
name: [points of each frame]}`` (the sandbox's form): each point-cloud
segmentation sensor of a ``multisensor-sequence`` label is held to its own
frames' counts, and a mismatch blames that sensor's row of that frame.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from upload_preds.records import Location

__all__ = ["COUNTED_TASK_TYPES", "REASON_POINT_COUNT", "Counts", "check", "counts_of"]

REASON_POINT_COUNT = "wrong number of point ids"
#: Task types whose labels are held to their samples' point counts.
COUNTED_TASK_TYPES = frozenset(
    {"pointcloud-segmentation", "pointcloud-segmentation-sequence", "multisensor-sequence"}
)

#: A cloud's count, one per frame, or (multi-sensor samples) one list per sensor.
Counts = int | list[int] | dict[str, list[int]]


def counts_of(sample: dict[str, Any]) -> Counts | None:
    """A sample's ``metadata.point_count``: a whole number, one per frame, or one list per
    sensor; None when it has none (or not a usable one)."""
    meta = sample.get("metadata")
    counts = meta.get("point_count") if isinstance(meta, dict) else None
    if type(counts) is int and counts >= 0:
        return counts
    if isinstance(counts, dict):
        sensors = {k: _per_frame(v) for k, v in counts.items()}
        return {k: v for k, v in sensors.items() if v is not None} or None
    return _per_frame(counts)


def _per_frame(counts: Any) -> list[int] | None:
    if isinstance(counts, list) and all(type(c) is int and c >= 0 for c in counts):
        return list(counts)
    return None


def check(
    attributes: dict[str, Any],
    counts: Counts | None,
    rows: Sequence[tuple[Location, dict[str, Any]]],
) -> tuple[Location | None, str] | None:
    """Why the label does not fit ``counts`` (the row to blame, if known, and the
    message); None when it fits or nothing is known. Fills the empty frames of a
    sequence with zeros (``attributes`` is changed in place)."""
    if counts is None:
        return None
    if isinstance(counts, dict):
        return _check_sensors(attributes, counts, rows)
    if isinstance(counts, int):
        ids = attributes.get("point_annotations")
        if isinstance(ids, list) and len(ids) != counts:
            loc, path = _row_of(rows, None)
            return loc, _message(path, len(ids), counts, "")
        return None
    return _check_frames(attributes, counts, rows)


def _check_sensors(
    attributes: dict[str, Any],
    counts: dict[str, list[int]],
    rows: Sequence[tuple[Location, dict[str, Any]]],
) -> tuple[Location | None, str] | None:
    """Each sensor's sequence label of a multi-sensor label against its own counts."""
    sensors = attributes.get("sensors")
    for sensor in sensors if isinstance(sensors, list) else ():
        name = sensor.get("name") if isinstance(sensor, dict) else None
        sub = sensor.get("attributes") if isinstance(sensor, dict) else None
        if not isinstance(name, str) or name not in counts or not isinstance(sub, dict):
            continue
        # CSV cells are text, JSON rows may lack nothing: compare the sensor as text.
        own = [(loc, row) for loc, row in rows if str(row.get("sensor", "")).strip() == name]
        problem = _check_frames(sub, counts[name], own, f"sensor {name!r}, ")
        if problem is not None:
            return problem
    return None


def _check_frames(
    attributes: dict[str, Any],
    counts: list[int],
    rows: Sequence[tuple[Location, dict[str, Any]]],
    where: str = "",
) -> tuple[Location | None, str] | None:
    frames = attributes.get("frames")
    if not isinstance(frames, list):
        return None
    for index, (frame, count) in enumerate(zip(frames, counts, strict=False)):
        ids = frame.get("point_annotations") if isinstance(frame, dict) else None
        if not isinstance(ids, list):
            continue
        if not ids and not frame.get("annotations"):
            frame["point_annotations"] = [0] * count  # a frame no row gave
        elif len(ids) != count:
            loc, path = _row_of(rows, index)
            return loc, _message(path, len(ids), count, f"{where}frame {index}: ")
    return None


def _row_of(
    rows: Sequence[tuple[Location, dict[str, Any]]], frame: int | None
) -> tuple[Location | None, str | None]:
    for loc, row in rows:
        # A JSON row's frame is a number, a CSV line's the cell's text.
        if frame is None or str(row.get("frame", "")).strip() == str(frame):
            path = row.get("point_labels_path")
            return loc, path if isinstance(path, str) else None
    return None, None


def _message(path: str | None, n: int, count: int, where: str) -> str:
    return (
        f"point_labels_path: {where}{path or 'the file'} has {n:,} ids but the point cloud "
        f"has {count:,} points (the sample's metadata.point_count); give one id per point, "
        "in the point cloud's order"
    )
