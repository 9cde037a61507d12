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
  :attr:`Sensor.ctx`) by the sequence rules of :mod:`.sequences` (a
  :class:`~.seqlines.FrameRules` per sensor, :class:`SensorRules`), into that
  task type's sequence label, with as many frames as the sample's
  ``attributes.sensors[]`` entry of that sensor has
  (:meth:`~upload_preds.sampleshape.SampleShapes.sensor_frames`; else ``--frames N``,
  else the sensor's highest frame index + 1). Track ids are per sensor: the same
  track id in two sensors is two objects.
* A segmentation sensor (point-cloud or image segmentation sequence) takes one
  row per frame, as its single-dataset form does: ``point_labels_path`` or
  ``mask_path`` with ``frame`` (:func:`.segsequences.assemble`, so
  ``--category-map``, ``--point-labels-kind`` and ``--points`` apply to it as
  to that form). Its frames' bitmaps become the label's assets (uploaded,
  with retries, before the label; the journal's hash names their contents);
  its point counts are checked per frame against the sample's
  ``metadata.point_count`` of that sensor (:mod:`upload_preds.pointcounts`).
* The label's score is ``--score-from`` over the kept objects of all sensors;
  if any line fails, the whole label fails and every line gets one error (its
  own, or "line N of the same label failed"), as for any sequence label.
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

import orjson

from upload_preds.convert import segsequences, sequences
from upload_preds.convert.checks import (
    R_INVALID,
    R_LABEL_FAILED,
    R_MISSING,
    R_TASK_TYPE,
    Err,
    derive_score,
    short,
)
from upload_preds.convert.context import Built, Context, Family
from upload_preds.convert.csvrows import input_order, label_failed
from upload_preds.convert.segsequences import SegLabel, one_error
from upload_preds.convert.seqlines import FrameRules, Line, check_line
from upload_preds.convert.sequences import SEQUENCE_FRAME_KINDS, Assembled
from upload_preds.errors import UsageError
from upload_preds.records import LabelJob, Location, Record, RowError

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
        multi-sensor label is a :class:`~upload_preds.errors.UsageError` (nothing is sent)."""
        self.by_name: dict[str, Sensor] = {}
        cats = ctx.categories
        for sc in cats.sensors if cats is not None else ():
            if sc.task_type not in SENSOR_TASK_TYPES:
                raise UsageError(
                    f"the dataset's sensor {sc.name!r} has task type {sc.task_type!r}, which "
                    "a multi-sensor label cannot hold",
                    hint="a sensor's task type is one of " + ", ".join(SENSOR_TASK_TYPES),
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


class SensorRules:
    """How the rows of a multi-sensor dataset are checked: the sensors and, for each one
    whose frames have a label family, its sequence rules. Built once per run."""

    def __init__(self, ctx: Context, families: Mapping[str, Family]) -> None:
        """``families`` is the converter's ``LABEL_FAMILIES`` (passed in: it names us)."""
        self.ctx = ctx
        self.sensors = Sensors(ctx)
        self.rules: dict[str, FrameRules] = {}
        for name, sensor in self.sensors.by_name.items():
            kind = sensor.ctx.kind or ""
            # Segmentation sensors take one row per frame (segsequences.py).
            frame_kind = SEQUENCE_FRAME_KINDS.get(kind) or segsequences.FRAME_KINDS.get(kind)
            family = families.get(frame_kind) if frame_kind is not None else None
            if frame_kind is not None and family is not None:
                rules = FrameRules(sensor.ctx, frame_kind, family.build)
                rules.sensor = name
                self.rules[name] = rules

    def of_line(self, record: Record) -> FrameRules | RowError:
        """The sequence rules of the sensor a row or record names, or the row's error."""
        data = record.data
        if record.fmt in ("csv", "tsv"):
            name: Any = (data.get("sensor") or "").strip()
        else:
            name = data.get("sensor") if type(data) is dict else None
        picked = self.sensors.pick(name)
        if isinstance(picked, tuple):
            return RowError(record.loc, "sensor", picked[0], picked[1])
        rules = self.rules.get(picked.name)
        if rules is None:
            return RowError(
                record.loc,
                "sensor",
                R_TASK_TYPE,
                f"sensor {picked.name!r} is a {picked.task_type} sensor, which per-frame rows "
                "cannot express; give the whole label as 'attributes' instead",
            )
        return rules


def convert(
    rules: SensorRules,
    key: str,
    items: list[tuple[Location, Record]],
    frames: int | Mapping[str, int] | None,
    on_duplicate: str = "error",
) -> LabelJob | list[RowError]:
    """All rows and records of one (label set, sample) of a multi-sensor dataset → one
    label, or one error per line.

    ``frames`` is each sensor's frame count (by name), or one count for every sensor
    (``--frames N``); a sensor without a count takes its highest frame index + 1.
    """
    labelset, ref_kind, ref = orjson.loads(key)
    ordered = input_order(items)
    locs = tuple(loc for loc, _ in ordered)
    bad: dict[int, RowError] = {}
    lines: dict[str, list[Line]] = {}
    seg_rows: dict[str, list[tuple[Location, Record]]] = {}  # segmentation sensors' rows
    index: dict[str, list[int]] = {}  # a sensor's line position → position in ``ordered``
    # The sample's own sensors, when known: a row for a sensor it lacks has no frames.
    has = frames if isinstance(frames, Mapping) and frames else None
    for n, (loc, record) in enumerate(ordered):
        sensor_rules = rules.of_line(record)
        if isinstance(sensor_rules, RowError):
            bad[n] = sensor_rules
            continue
        name = sensor_rules.sensor
        assert name is not None
        if has is not None and name not in has:
            bad[n] = RowError(
                loc,
                "sensor",
                R_SENSOR,
                f"the sample has no sensor {name!r} (it has: {', '.join(has)})",
            )
            continue
        if sensor_rules.frame_kind in segsequences.ROW_KEYS:
            # A frame of a segmentation sensor: checked with its label (below).
            seg_rows.setdefault(name, []).append((loc, record))
            index.setdefault(name, []).append(n)
            continue
        checked = check_line(sensor_rules, record)
        if isinstance(checked, Line):
            lines.setdefault(name, []).append(checked)
            index.setdefault(name, []).append(n)
        else:
            bad[n] = one_error(checked)
    done: dict[str, Assembled | SegLabel] = {}
    guessed = False
    for name in (*lines, *seg_rows):
        count = frames.get(name) if isinstance(frames, Mapping) else frames
        if count is None:
            count = rules.ctx.options.frames  # --frames N
            guessed = guessed or count is None
        result: Assembled | SegLabel | dict[int, RowError]
        if name in seg_rows:
            result = segsequences.assemble(rules.rules[name], seg_rows[name], count, on_duplicate)
        else:
            result = sequences.assemble(rules.rules[name], lines[name], count, on_duplicate)
        if isinstance(result, dict):
            bad.update({index[name][k]: e for k, e in result.items()})
        else:
            done[name] = result
    if bad:
        return label_failed(locs, bad, labelset, ref_kind, ref)
    tracked = [a for a in done.values() if isinstance(a, Assembled)]
    scores = [
        s
        for name in rules.sensors.names
        if isinstance(a := done.get(name), Assembled)
        for s in a.kept_scores
    ]
    score = derive_score(scores, rules.ctx.options.score_from)
    job = LabelJob(
        sample_uuid=ref if ref_kind == "u" else None,
        sample_name=ref if ref_kind == "n" else None,
        labelset=labelset,
        label_status=rules.ctx.options.label_status,
        attributes=assemble(rules.sensors, {k: v.label for k, v in done.items()}),
        score=score,
        locs=locs,
        filtered_annotations=sum(a.filtered for a in tracked),
        object_scores_dropped=any(a.dropped for a in tracked),
        score_derived=score is not None,
    )
    superseded = [s for a in done.values() for s in a.superseded]
    if superseded:
        job.extra["superseded"] = superseded
    # The segmentation sensors' frame bitmaps: uploaded (with retries, journalled)
    # before the label, as for a single segmentation sequence.
    assets = tuple(b for a in done.values() if isinstance(a, SegLabel) for b in a.bitmaps)
    if assets:
        job.extra["assets"] = assets
    if guessed:  # counted by the pipeline for the plan, as for any sequence label
        job.extra["frames_guessed"] = True
    return job


def build(
    ctx: Context, data: dict[str, Any], anns: Any, loc: Location, errors: list[RowError]
) -> Built | None:
    """A multi-sensor label from one row alone (the label family's ``build``), for a row
    that reaches the converter outside the grouping; each sensor's frame count is then
    its highest frame index + 1. The pipeline groups multi-sensor rows instead."""
    from upload_preds.convert.converter import LABEL_FAMILIES  # the table that names us

    rules = SensorRules(ctx, LABEL_FAMILIES)
    key = orjson.dumps([ctx.options.default_labelset, "n", "row"]).decode()
    res = convert(rules, key, [(loc, Record(loc, "jsonl", data))], None)
    if isinstance(res, list):
        errors.extend(e for e in res if e.reason != R_LABEL_FAILED)
        return None
    return Built(res.attributes, res.score, res.filtered_annotations, res.object_scores_dropped)
