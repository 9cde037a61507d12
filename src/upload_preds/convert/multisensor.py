"""Multi-sensor labels: per-sensor rows of one sample → one ``multisensor-sequence`` label.

A multi-sensor dataset (camera + LiDAR rigs) declares its sensors in
``task_attributes.sensors`` as ``[{"name", "task_type", "task_attributes"}]``
(read by :class:`~.categories.Categories` into ``categories.sensors``). Each
sensor has a sequence task type of its own (the SDK's ``MultiSensor*`` models:
point cloud cuboid/vector/segmentation sequences, image vector/segmentation
sequences) and categories of its own.

How a label is made:

* Every row (JSON) or line (CSV/TSV) names its sensor in a ``sensor`` field or
  column; :meth:`Sensors.pick` checks it: a row without one, or naming a
  sensor the dataset does not have, is a row error that lists the names that
  exist.
* The rows of one sensor are converted as that sensor's task type with that
  sensor's categories (a :class:`~.context.Context` per sensor,
  :attr:`Sensor.ctx`), into that task type's sequence label, with as many
  frames as the sample's ``attributes.sensors[]`` entry of that sensor has
  (:func:`sensor_frame_counts`).
* :func:`assemble` puts the sensors' labels together as
  ``{"sensors": [{"name", "task_type", "attributes"}]}``: one entry per sensor
  the dataset declares, in the dataset's order. A sensor without rows gets
  ``[]`` as its attributes, which is the SDK's own form of "no label for this
  sensor" (its models type a sensor's attributes as the sequence label *or* a
  list, and only the empty list carries a meaning): an empty list claims
  nothing, whereas frames without annotations would say the model looked and
  found nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from upload_preds.convert.checks import R_INVALID, R_MISSING, Err, short
from upload_preds.convert.context import Context

#: The task types a sensor of a multi-sensor dataset may have (the SDK's
#: ``MultiSensorLabelAttributes`` union).
SENSOR_TASK_TYPES = (
    "pointcloud-cuboid-sequence",
    "pointcloud-vector-sequence",
    "pointcloud-segmentation-sequence",
    "image-vector-sequence",
    "image-segmentation-sequence",
)
#: The attributes of a sensor that has no rows: the SDK's "no label" form.
NO_LABEL: list[Any] = []
#: The reason of a row whose sensor the dataset does not have.
R_SENSOR = "unknown sensor"


@dataclass(frozen=True, slots=True)
class Sensor:
    """One sensor of the dataset, with the conversion context of its task type."""

    name: str
    task_type: str
    ctx: Context


class Sensors:
    """The sensors of a multi-sensor dataset, built once per run from its categories."""

    def __init__(self, ctx: Context) -> None:
        """The sensors of ``ctx.categories``; a sensor whose task type cannot be part of a
        multi-sensor label raises ``ValueError``."""
        self.by_name: dict[str, Sensor] = {}
        cats = ctx.categories
        for sc in cats.sensors if cats is not None else ():
            if sc.task_type not in SENSOR_TASK_TYPES:
                raise ValueError(
                    f"sensor {sc.name!r} has task type {sc.task_type!r}; a multi-sensor "
                    "label takes sensors of " + ", ".join(SENSOR_TASK_TYPES)
                )
            sub = Context(ctx.options, sc.categories, sc.task_type, ctx.build_attributes)
            self.by_name[sc.name] = Sensor(sc.name, sc.task_type, sub)
        #: In the dataset's order: the order of the label's entries.
        self.names = tuple(self.by_name)

    def pick(self, name: Any) -> Sensor | Err:
        """The sensor a row names, or why it cannot be used."""
        if isinstance(name, str):
            sensor = self.by_name.get(name)
            if sensor is not None:
                return sensor
        known = self.describe()
        if name is None or name == "":
            return R_MISSING, (
                f"a multi-sensor dataset needs the sensor of every row: give 'sensor' ({known})"
            )
        if not isinstance(name, str):
            return R_INVALID, f"should be a sensor name (a string; {known}), got {short(name)}"
        return R_SENSOR, f"unknown sensor {name!r} ({known})"

    def describe(self) -> str:
        if not self.names:
            return "the dataset declares no sensors in task_attributes.sensors"
        return "the dataset has: " + ", ".join(self.names)


def assemble(sensors: Sensors, labels: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
    """The sensors' sequence labels (by sensor name) → one multi-sensor label, with an
    entry for every sensor of the dataset (``[]`` for those without a label)."""
    out: list[dict[str, Any]] = []
    for name in sensors.names:
        sensor = sensors.by_name[name]
        label = labels.get(name)
        out.append(
            {
                "name": name,
                "task_type": sensor.task_type,
                "attributes": label if label is not None else list(NO_LABEL),
            }
        )
    return {"sensors": out}


def sensor_frame_counts(sample_attributes: Any) -> dict[str, int]:
    """How many frames each sensor of a multi-sensor sample has, by sensor name, from the
    sample's ``attributes.sensors[].attributes.frames``; sensors without a frames list are
    left out (the caller reports them when a row needs them)."""
    counts: dict[str, int] = {}
    sensors = sample_attributes.get("sensors") if isinstance(sample_attributes, dict) else None
    if not isinstance(sensors, list):
        return counts
    for s in sensors:
        if not isinstance(s, dict):
            continue
        name = s.get("name")
        attrs = s.get("attributes")
        frames = attrs.get("frames") if isinstance(attrs, dict) else None
        if isinstance(name, str) and isinstance(frames, list):
            counts[name] = len(frames)
    return counts
