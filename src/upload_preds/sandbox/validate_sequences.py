"""The checks of sequence labels (``{"frames": [...]}``) and multi-sensor labels (``{"sensors": [...]}``).

A sequence label has exactly one entry in ``frames`` per frame of its
sample (the sample's ``attributes.frames``; see :mod:`.sample_shape`), each
checked by :func:`.validate_objects.check_frame` as a frame of its task type
(so every annotation needs a ``track_id``), with that frame's point count
for point-cloud segmentation. Beside ``frames`` it may carry
``format_version`` and, for the point-cloud cuboid and vector sequences,
``links`` (as the SDK's models have them); nothing else.

In the object sequences (image vectors, point-cloud cuboids and vectors, and
those sensors of a multi-sensor label) a track keeps one category: an object
whose ``track_id`` was met earlier with another ``category_id`` is refused,
naming both frames and both categories. That is the platform's rule (its
editor gives a track one category, and a track that changes it would split in
its views and exports), not the SDK models': ``segments.typing`` accepts such
a label. One pass over the objects, a dict of the tracks met.

A multi-sensor label is ``{"sensors": [{"name", "task_type", "attributes"}],
"links"?}``: each name is a sensor of the sample (or, when the sample lists
none, of the dataset's ``task_attributes.sensors``), given once, with the
task type the sample gives it; its ``attributes`` are a sequence label of
that task type checked against that sensor's frames, or ``[]`` for a sensor
left unlabeled (the SDK's models take both). Sensors the label leaves out
are unlabeled.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from upload_preds.sandbox.sample_shape import SampleShape
from upload_preds.sandbox.validate_base import (
    CUBOID_TASKS,
    POINTCLOUD_VECTOR_TASKS,
    SENSOR_TASK_TYPES,
    Messages,
    check_format_version,
    check_keys,
)
from upload_preds.sandbox.validate_objects import check_frame

if TYPE_CHECKING:
    from upload_preds.sandbox.validate import TaskSpec


def check_sequence(
    spec: TaskSpec,
    task_type: str,
    attrs: dict[str, Any],
    where: str,
    msgs: Messages,
    shape: SampleShape,
) -> None:
    """Messages for a ``{"frames": [...]}`` label of ``task_type`` for a sample of ``shape``."""
    allowed: tuple[str, ...] = ("frames", "format_version")
    if task_type in CUBOID_TASKS or task_type in POINTCLOUD_VECTOR_TASKS:
        allowed = (*allowed, "links")
    check_keys(attrs, allowed, where, msgs)
    check_format_version(task_type, attrs, where, msgs, outer=True)
    frames = attrs.get("frames")
    if not isinstance(frames, list):
        msgs.add(f"{where}frames: required, a list with one object per frame")
        return
    if shape.frames is not None and len(frames) != shape.frames:
        msgs.add(
            f"{where}frames: {len(frames)} frames for a sample of {shape.frames}; "
            "give one entry per frame of the sample (an empty frame has no annotations)"
        )
    for i, frame in enumerate(frames):
        if not isinstance(frame, dict):
            msgs.add(f"{where}frames[{i}]: must be an object")
            continue
        check_frame(
            spec,
            task_type,
            frame,
            f"{where}frames[{i}].",
            msgs,
            sequence=True,
            points=shape.points_of(i),
        )
    if task_type in _TRACKED_OBJECTS:
        check_track_categories(frames, where, msgs)


#: The sequences whose annotations are objects a track follows (one category each).
_TRACKED_OBJECTS = frozenset(
    {"image-vector-sequence", "pointcloud-cuboid-sequence", "pointcloud-vector-sequence"}
)


def check_track_categories(frames: list[Any], where: str, msgs: Messages) -> None:
    """A message for each object whose track was met with another category first."""
    first: dict[int, tuple[Any, int]] = {}  # track → (category, frame index)
    for i, frame in enumerate(frames):
        anns = frame.get("annotations") if isinstance(frame, dict) else None
        if not isinstance(anns, list):
            continue
        for k, ann in enumerate(anns):
            if not isinstance(ann, dict):
                continue
            track = ann.get("track_id")
            category = ann.get("category_id")
            if type(track) is not int or type(category) is not int:
                continue  # (check_frame words those)
            seen = first.setdefault(track, (category, i))
            if seen[0] != category:
                msgs.add(
                    f"{where}frames[{i}].annotations[{k}].category_id: track {track} is "
                    f"category {category} here but {seen[0]} in frames[{seen[1]}]; "
                    "a track keeps one category in every frame"
                )


def check_multisensor(
    spec: TaskSpec, attrs: dict[str, Any], msgs: Messages, shape: SampleShape
) -> None:
    """Messages for a ``{"sensors": [...]}`` label for a sample of ``shape``."""
    check_keys(attrs, ("sensors", "links"), "", msgs)
    sensors = attrs.get("sensors")
    if not isinstance(sensors, list):
        msgs.add('sensors: required, a list of {"name", "task_type", "attributes"}')
        return
    known: dict[str, tuple[str, SampleShape]] | None = shape.sensors
    if not known and spec.sensors is not None:
        known = {name: (tt, SampleShape()) for name, tt in spec.sensors.items()}
    names = ", ".join(f"{n} ({t})" for n, (t, _) in (known or {}).items()) or "none"
    seen: set[str] = set()
    for i, sensor in enumerate(sensors):
        here = f"sensors[{i}]"
        if not isinstance(sensor, dict):
            msgs.add(f"{here}: must be an object")
            continue
        check_keys(sensor, ("name", "task_type", "attributes"), f"{here}.", msgs)
        name, tt = sensor.get("name"), sensor.get("task_type")
        if not isinstance(name, str):
            msgs.add(f"{here}.name: required, the name of a sensor of the sample ({names})")
            continue
        if name in seen:
            msgs.add(f"{here}.name: sensor {name!r} is given twice")
            continue
        seen.add(name)
        if tt not in SENSOR_TASK_TYPES:
            msgs.add(f"{here}.task_type: {tt!r} is not one of {', '.join(SENSOR_TASK_TYPES)}")
            continue
        if known is not None and name not in known:
            msgs.add(f"{here}.name: {name!r} is not a sensor of this sample ({names})")
            continue
        expected, sub_shape = known[name] if known is not None else (tt, SampleShape())
        if tt != expected:
            msgs.add(f"{here}.task_type: sensor {name!r} is {expected}, got {tt!r}")
            continue
        sub = sensor.get("attributes")
        if sub == []:
            continue  # the SDK's models take an empty list for an unlabeled sensor
        if not isinstance(sub, dict):
            msgs.add(f'{here}.attributes: required, {{"frames": [...]}} (or [] for no label)')
            continue
        check_sequence(spec, str(tt), sub, f"{here}.attributes.", msgs, sub_shape)
