"""How many frames a sequence sample has (and, for multi-sensor samples, each sensor's).

A sequence label has exactly one entry in ``frames`` per frame of its sample,
so the converter needs each sample's frame count. It is in the sample's
attributes (``segments.typing``: ``ImageSequenceSampleAttributes`` and
``PointcloudSequenceSampleAttributes`` have ``frames``; ``MultiSensorSampleAttributes``
has ``sensors[].attributes.frames`` with the sensor's ``name`` and ``task_type``).

:class:`SampleShapes` collects those counts by sample uuid. It is fed by the
sample listings the preflight already pages or looks up (their samples carry
``attributes``: :meth:`SampleShapes.add` is the listing's ``on_sample``), and
for samples only known by uuid by :func:`fetch_shapes`: ``GET /samples/{uuid}/``
run by ``client.concurrency`` workers sharing one iterator
(:func:`upload_preds.fanout.each`) and paced by the client's own
:class:`~upload_preds.ratecontrol.Pacer` (``--rate``), as every preflight read
is: never one by one, never one task per sample. When that would take more round trips
than paging the dataset's listing once, the listing is paged instead.

Offline (no dataset) ``--frames N`` gives the count
(:attr:`~upload_preds.convert.ConvertOptions.frames`), and without it the
converter takes the highest frame index seen + 1 (the plan says so).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from upload_preds.errors import SetupError
from upload_preds.fanout import each
from upload_preds.pointcounts import Counts, counts_of

if TYPE_CHECKING:
    from upload_preds.client import SegmentsClient

__all__ = ["SampleShapes", "fetch_shapes", "frame_count", "sensor_shapes"]


def frame_count(attributes: Any) -> int | None:
    """The number of frames of a sequence sample's attributes, or None when they have none."""
    if isinstance(attributes, dict):
        frames = attributes.get("frames")
        if isinstance(frames, list):
            return len(frames)
    return None


def sensor_shapes(attributes: Any) -> dict[str, tuple[str, int]] | None:
    """A multi-sensor sample's sensors: name → (task type, frame count); None when the
    attributes have no ``sensors`` list."""
    if not isinstance(attributes, dict):
        return None
    sensors = attributes.get("sensors")
    if not isinstance(sensors, list):
        return None
    out: dict[str, tuple[str, int]] = {}
    for sensor in sensors:
        if not isinstance(sensor, dict):
            continue
        name = sensor.get("name")
        task_type = sensor.get("task_type")
        count = frame_count(sensor.get("attributes"))
        if isinstance(name, str) and isinstance(task_type, str) and count is not None:
            out[name] = (task_type, count)
    return out


class SampleShapes:
    """Frame counts (and multi-sensor sensors) of sequence samples, by uuid."""

    def __init__(self) -> None:
        self.frames_by_uuid: dict[str, int] = {}
        self.sensors_by_uuid: dict[str, dict[str, tuple[str, int]]] = {}
        #: Point counts of point-cloud samples that carry them (pointcounts.py).
        self.points_by_uuid: dict[str, Counts] = {}
        #: Samples read (listed or fetched), with or without frames.
        self.seen: set[str] = set()

    def __len__(self) -> int:
        # A multi-sensor sample is in both maps (its longest sensor bounds its frames).
        return len(self.frames_by_uuid.keys() | self.sensors_by_uuid.keys())

    def add(self, sample: dict[str, Any]) -> None:
        """Note one sample of a listing or ``GET /samples/{uuid}/``."""
        uuid = sample.get("uuid")
        if not isinstance(uuid, str):
            return
        self.seen.add(uuid)
        points = counts_of(sample)
        if points is not None:
            self.points_by_uuid[uuid] = points
        attributes = sample.get("attributes")
        sensors = sensor_shapes(attributes)
        if sensors is not None:
            self.sensors_by_uuid[uuid] = sensors
            # A multi-sensor label's frames are per sensor; the longest bounds them all.
            if sensors:
                self.frames_by_uuid[uuid] = max(n for _, n in sensors.values())
            return
        count = frame_count(attributes)
        if count is not None:
            self.frames_by_uuid[uuid] = count

    def frames(self, uuid: str | None) -> int | None:
        """The frame count of the sample ``uuid``; None when unknown."""
        return self.frames_by_uuid.get(uuid) if uuid is not None else None

    def points(self, uuid: str | None) -> Counts | None:
        """The point count (one per frame, or per sensor and frame) of the sample ``uuid``;
        None when unknown."""
        return self.points_by_uuid.get(uuid) if uuid is not None else None

    def sensors(self, uuid: str | None) -> dict[str, tuple[str, int]] | None:
        """The sensors of the multi-sensor sample ``uuid``; None when unknown."""
        return self.sensors_by_uuid.get(uuid) if uuid is not None else None

    def sensor_frames(self, uuid: str | None) -> dict[str, int] | None:
        """Each sensor's frame count (by name) of the multi-sensor sample ``uuid``: a
        multi-sensor label has each sensor's own count of frames; None when unknown."""
        sensors = self.sensors(uuid)
        return {name: n for name, (_, n) in sensors.items()} if sensors is not None else None


async def fetch_shapes(
    client: SegmentsClient,
    dataset: str,
    uuids: Iterable[str],
    shapes: SampleShapes,
    *,
    samples_count: int | None = None,
    everything: bool = False,
) -> str:
    """Read the samples ``uuids`` that ``shapes`` has not seen into it; returns how
    (for the plan). ``everything``: the uuids are too many to list (the scan stopped
    collecting them), so the dataset's listing is paged. A uuid no sample has (404)
    stays unknown: its labels fail as unknown samples when they are sent.
    """
    from upload_preds.client import ApiError, ClientError
    from upload_preds.preflight import lookup_pays

    todo = sorted({u for u in uuids if u not in shapes.seen})
    if not todo and not everything:
        return "from the sample list" if shapes.seen else "no sample named by uuid"
    if everything or not lookup_pays(len(todo), samples_count, client.concurrency):
        try:
            async for sample in client.iter_samples(dataset):
                shapes.add(sample)
        except ClientError as exc:
            raise SetupError(
                f"listing the samples of {dataset} for their frame counts failed: {exc}",
                hint="check --api-url and the dataset, then rerun",
            ) from None
        return f"paged the sample list of {dataset}"

    async def read(uuid: str) -> None:
        # Paced by the client's pacer (--rate, shared with the engine's PUTs).
        try:
            sample = await client.get_sample(uuid)
        except ApiError as exc:
            if exc.status == 404:
                return
            raise
        if isinstance(sample, dict):
            shapes.add({**sample, "uuid": sample.get("uuid", uuid)})

    try:
        await each(todo, read, workers=min(client.concurrency, len(todo)))
    except ClientError as exc:
        raise SetupError(
            f"reading sample frame counts from {dataset} failed: {exc}",
            hint="check --api-url and the dataset, then rerun",
        ) from None
    return f"read {len(todo):,} samples by uuid ({min(client.concurrency, len(todo))} at a time)"
