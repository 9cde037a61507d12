"""What a label must fit that only the sample knows: its frames, sensors and point counts.

A sequence label has one entry in ``frames`` per frame of its sample; a
multi-sensor label's ``sensors`` are the sample's sensors, each in its own
task type; a point-cloud segmentation label has one id per point of its
cloud. :func:`shape_of` reads this :class:`SampleShape` from a sample's
attributes and metadata (leniently: what it cannot read is unknown, and an
unknown count is not checked); :func:`check_sample` is the strict check of
the same fields, run on manifest samples and on samples added through the
API, so a sample the sandbox holds always has a readable shape.

Where each fact comes from (the platform's sample attribute models, as the
SDK's ``segments.typing`` has them):

* frames: ``attributes.frames``, a list (image frames ``{"image": {"url"}}``,
  point-cloud frames ``{"pcd": {"url", "type"}}``, each with an optional
  ``timestamp`` and ``name``);
* sensors: ``attributes.sensors``, ``[{"name", "task_type", "attributes":
  {"frames": [...]}}]``; a multi-sensor dataset may also declare its sensors
  in ``task_attributes.sensors`` (``[{"name", "task_type"}]``), and then its
  samples' sensors must be among them;
* point counts: the platform's point-cloud attributes (``pcd: {url, type}``)
  have no field for them and the SDK drops unknown keys, so they live in the
  sample's free-form ``metadata.point_count``: a whole number for a
  ``pointcloud-segmentation`` sample, a list with one number per frame for a
  ``pointcloud-segmentation-sequence`` sample, and for a multi-sensor sample
  an object ``{sensor name: [one number per frame]}``. Optional: without it
  the length of ``point_annotations`` is not checked.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from upload_preds.sandbox.validate_base import (
    MULTISENSOR,
    POINTCLOUD_SEGMENTATION_TASKS,
    POINTCLOUD_TASKS,
    SENSOR_TASK_TYPES,
    SEQUENCE_TASKS,
    is_int,
)

#: The SDK's ``PCDType`` values: a sample with another ``pcd.type`` fails its model.
PCD_TYPES = frozenset(
    {"pcd", "binary-xyzi", "kitti", "binary-xyzir", "nuscenes", "ply", "las", "splat"}
)


@dataclass(frozen=True, slots=True)
class SampleShape:
    """Counts a label of one sample must match; None: unknown, not checked."""

    #: number of frames of a sequence sample
    frames: int | None = None
    #: points of the single cloud (one entry) or of each frame
    points: tuple[int, ...] | None = None
    #: sensor name → (task type, that sensor's shape), for multi-sensor samples
    sensors: dict[str, tuple[str, SampleShape]] | None = None

    def points_of(self, frame: int) -> int | None:
        if self.points is None or frame >= len(self.points):
            return None
        return self.points[frame]


UNKNOWN = SampleShape()
#: Task types whose labels depend on the sample's shape; others skip reading it.
NEEDS_SHAPE = SEQUENCE_TASKS | POINTCLOUD_SEGMENTATION_TASKS | {MULTISENSOR}


def shape_of(task_type: str, attributes: Any, metadata: Any) -> SampleShape:
    """The shape of a sample of a ``task_type`` dataset (lenient; see the module docstring)."""
    if not isinstance(attributes, dict):
        return UNKNOWN
    counts = metadata.get("point_count") if isinstance(metadata, dict) else None
    if task_type == MULTISENSOR:
        sensors: dict[str, tuple[str, SampleShape]] = {}
        raw = attributes.get("sensors")
        for s in raw if isinstance(raw, list) else ():
            if isinstance(s, dict) and isinstance(s.get("name"), str):
                sub = counts.get(s["name"]) if isinstance(counts, dict) else None
                sensors[s["name"]] = (
                    str(s.get("task_type")),
                    _frames_shape(s.get("attributes"), sub),
                )
        return SampleShape(sensors=sensors)
    if task_type in SEQUENCE_TASKS:
        return _frames_shape(attributes, counts)
    if is_int(counts) and counts >= 0:
        return SampleShape(points=(counts,))
    return UNKNOWN


def _frames_shape(attributes: Any, counts: Any) -> SampleShape:
    frames = attributes.get("frames") if isinstance(attributes, dict) else None
    if not isinstance(frames, list):
        return UNKNOWN
    points = None
    if isinstance(counts, list) and all(is_int(c) and c >= 0 for c in counts):
        points = tuple(counts)
    return SampleShape(frames=len(frames), points=points)


def check_sample(
    task_type: str, declared_sensors: dict[str, str] | None, attributes: Any, metadata: Any
) -> list[str]:
    """Problems of a sample's attributes and metadata for a ``task_type`` dataset (paths inside)."""
    msgs: list[str] = []
    if not isinstance(attributes, dict):
        return ["attributes: must be an object"]
    counts = metadata.get("point_count") if isinstance(metadata, dict) else None
    if task_type == MULTISENSOR:
        _check_sensors(attributes, declared_sensors, counts, msgs)
    elif task_type in SEQUENCE_TASKS:
        _check_frames(task_type, attributes, "attributes.", msgs)
        if task_type in POINTCLOUD_SEGMENTATION_TASKS and counts is not None:
            _check_counts(counts, attributes, "metadata.point_count", msgs)
    elif task_type in POINTCLOUD_TASKS:
        if "pcd" in attributes:
            _check_pcd(attributes["pcd"], "attributes.pcd", msgs)
        if (
            task_type in POINTCLOUD_SEGMENTATION_TASKS
            and counts is not None
            and not (is_int(counts) and counts >= 0)
        ):
            msgs.append(f"metadata.point_count: the number of points of the cloud, got {counts!r}")
    return msgs


def _check_pcd(pcd: Any, where: str, msgs: list[str]) -> None:
    if not isinstance(pcd, dict) or not isinstance(pcd.get("url"), str) or not pcd["url"]:
        msgs.append(f'{where}: required, {{"url": "...", "type": "pcd"}}')
    elif pcd.get("type") not in PCD_TYPES:
        msgs.append(
            f"{where}.type: {pcd.get('type')!r} is not one of {', '.join(sorted(PCD_TYPES))}"
        )


def _check_frames(task_type: str, attributes: dict[str, Any], where: str, msgs: list[str]) -> None:
    frames = attributes.get("frames")
    if not isinstance(frames, list):
        msgs.append(f"{where}frames: required in a {task_type} dataset, a list of frames")
        return
    pointcloud = task_type.startswith("pointcloud-")
    for i, frame in enumerate(frames):
        here = f"{where}frames[{i}]"
        if not isinstance(frame, dict):
            msgs.append(f"{here}: must be an object")
        elif pointcloud:
            _check_pcd(frame.get("pcd"), f"{here}.pcd", msgs)
        else:
            image = frame.get("image")
            if not isinstance(image, dict) or not isinstance(image.get("url"), str):
                msgs.append(f'{here}.image: required, {{"url": "..."}}')


def _check_counts(counts: Any, attributes: Any, where: str, msgs: list[str]) -> None:
    frames = attributes.get("frames") if isinstance(attributes, dict) else None
    if not (isinstance(counts, list) and all(is_int(c) and c >= 0 for c in counts)):
        msgs.append(f"{where}: a list with the number of points of each frame, got {counts!r}")
    elif isinstance(frames, list) and len(counts) != len(frames):
        msgs.append(f"{where}: {len(counts)} numbers for {len(frames)} frames")


def _check_sensors(
    attributes: dict[str, Any],
    declared: dict[str, str] | None,
    counts: Any,
    msgs: list[str],
) -> None:
    sensors = attributes.get("sensors")
    if not isinstance(sensors, list) or not sensors:
        msgs.append('attributes.sensors: required, [{"name", "task_type", "attributes"}, ...]')
        return
    if counts is not None and not isinstance(counts, dict):
        msgs.append("metadata.point_count: an object {sensor name: [points of each frame]}")
        counts = None
    seen: set[str] = set()
    for i, s in enumerate(sensors):
        here = f"attributes.sensors[{i}]"
        if not isinstance(s, dict) or not isinstance(s.get("name"), str) or not s["name"]:
            msgs.append(f"{here}: must be an object with a 'name'")
            continue
        name, tt = s["name"], s.get("task_type")
        if name in seen:
            msgs.append(f"{here}.name: sensor {name!r} appears twice")
        seen.add(name)
        if tt not in SENSOR_TASK_TYPES:
            msgs.append(f"{here}.task_type: {tt!r} is not one of {', '.join(SENSOR_TASK_TYPES)}")
            continue
        if declared is not None and declared.get(name) != tt:
            known = ", ".join(f"{n} ({t})" for n, t in declared.items())
            msgs.append(f"{here}: sensor {name!r} ({tt}) is not one the dataset declares: {known}")
        sub_attrs = s.get("attributes")
        if not isinstance(sub_attrs, dict):
            msgs.append(f'{here}.attributes: required, {{"frames": [...]}}')
            continue
        _check_frames(tt, sub_attrs, f"{here}.attributes.", msgs)
        sub_counts = counts.get(name) if isinstance(counts, dict) else None
        if sub_counts is not None:
            _check_counts(sub_counts, sub_attrs, f"metadata.point_count.{name}", msgs)
