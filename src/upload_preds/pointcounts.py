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
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from upload_preds.records import Location

__all__ = ["COUNTED_TASK_TYPES", "REASON_POINT_COUNT", "check", "counts_of"]

REASON_POINT_COUNT = "wrong number of point ids"
#: Task types whose labels are held to their samples' point counts.
COUNTED_TASK_TYPES = frozenset({"pointcloud-segmentation", "pointcloud-segmentation-sequence"})

Counts = int | list[int]


def counts_of(sample: dict[str, Any]) -> Counts | None:
    """A sample's ``metadata.point_count``: a whole number, or one per frame; None when
    it has none (or not a usable one)."""
    meta = sample.get("metadata")
    counts = meta.get("point_count") if isinstance(meta, dict) else None
    if type(counts) is int and counts >= 0:
        return counts
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
    if isinstance(counts, int):
        ids = attributes.get("point_annotations")
        if isinstance(ids, list) and len(ids) != counts:
            loc, path = _row_of(rows, None)
            return loc, _message(path, len(ids), counts, "")
        return None
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
            return loc, _message(path, len(ids), count, f"frame {index}: ")
    return None


def _row_of(
    rows: Sequence[tuple[Location, dict[str, Any]]], frame: int | None
) -> tuple[Location | None, str | None]:
    for loc, row in rows:
        if frame is None or row.get("frame") == frame:
            path = row.get("point_labels_path")
            return loc, path if isinstance(path, str) else None
    return None, None


def _message(path: str | None, n: int, count: int, where: str) -> str:
    return (
        f"point_labels_path: {where}{path or 'the file'} has {n:,} ids but the point cloud "
        f"has {count:,} points (the sample's metadata.point_count); give one id per point, "
        "in the point cloud's order"
    )
