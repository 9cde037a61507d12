"""The concurrent upload loop: bounded queue, N workers, retries, rate control, outcomes.

How it works
------------
::

    jobs (sync or async iterable, read lazily)
      │  feeder: precheck hook → protected? → encode body → journal says identical? → queue
      ▼
    bounded asyncio.Queue (2 x concurrency)
      │
      ▼  N workers, each: [asset upload →] limiter slot → pacer slot → PUT → outcome
    SegmentsClient (one aiohttp session, pool limited to N connections)

* The feeder pulls one job at a time, so memory stays flat however long the
  input is; no ``gather`` over rows anywhere.
* Skips happen in the feeder, in this order (:func:`skip_reason`, which the
  dry run uses too): the caller's ``precheck`` hook (returns a reason
  string, e.g. for shards or duplicates), then the journal ("already
  uploaded": the identical payload succeeded before *and* the
  :class:`~upload_preds.preflight.Guard` confirms the server still holds
  that label unchanged; ``resume=False`` turns the lookup off but still
  records), then the guard ("protected": a person worked on the label; the
  static ``protected`` set does the same for callers without a guard). The
  body is encoded once, with sorted keys: the same bytes are hashed for the
  journal and sent.
* The guard stays fresh (its reads paced by the engine's pacer, lent to the
  client for the run): a task calls :meth:`Guard.refresh` every
  ``refresh_interval`` seconds, and when the input is exhausted a last
  refresh runs while workers hold the remaining jobs (at most the queue, "the
  last batch") until it is done. Right before its PUT a worker asks the guard
  again (a set look-up), so a label a person started mid-run is skipped as
  protected. With ``verify`` the worker also GETs the label's current status
  (one request per label) and skips a protected one.
* A success is recorded with the ``updated_at`` the PUT's answer carried, so
  a rerun can check the label is still ours.
* Each worker takes a slot from :class:`~upload_preds.ratecontrol.AdaptiveLimiter`
  (AIMD in-flight limit) and a start time from the shared
  :class:`~upload_preds.ratecontrol.Pacer` (``--rate`` token bucket, the
  adaptive rate learned from 429s, the global ``Retry-After`` pause while
  that rate is not known yet), then sends. So a 429 slows every worker.
* Retried (up to ``retries`` times, capped exponential backoff with full
  jitter, or ``Retry-After`` when given): connection errors, timeouts, 408,
  425, 429, 500, 502, 503, 504. Failed at once with the server's message:
  every other status (400, 404, 409, 422, 3xx, ...). 401/403 abort the run
  (:class:`~upload_preds.errors.AuthError`) on the first occurrence;
  ``max_consecutive_failures`` jobs in a row failing for server-side reasons
  (retries exhausted, 3xx, other 5xx) abort with
  :class:`~upload_preds.errors.ServerFailingError`. An abort is *returned* in
  :attr:`EngineResult.abort`, with the partial counts; it is not raised.
* Assets: a job whose ``extra["asset"]`` holds an :class:`Asset` (a
  segmentation bitmap; ``extra["assets"]`` several, the frames of a
  segmentation sequence) first has its files uploaded, by the same worker and
  under the same limiter, pacer and retry rules: ``POST /assets/``, then the
  presigned storage POST (no API key; a 401/403 there fails the job, it does
  not abort the run). Only then is the label, now naming the asset's url,
  encoded and PUT. The journal hash is the one taken in the feeder, from the
  label as converted, whose bitmap url is the PNG's SHA-256: a rerun skips an
  unchanged mask without uploading it again, and a changed one is sent.
* Stopping: :meth:`UploadEngine.request_stop` stops feeding, marks queued jobs
  "not sent", lets requests in flight finish for ``grace_period`` seconds and
  cancels the rest (marked "interrupted"); :meth:`UploadEngine.cancel` does
  the same with no grace. Either way :meth:`UploadEngine.run` returns.
* Every job taken from the input ends in exactly one outcome (uploaded,
  failed with a reason, skipped with a reason), reported through the
  ``on_event`` callback and counted in :class:`EngineResult`. Each success is
  recorded in the journal (committed in batches of ``concurrency``; see
  :mod:`upload_preds.journal` for the loss bound after a ``kill -9``).
"""

from __future__ import annotations

import asyncio
import enum
import random
import time
from collections.abc import AsyncIterable, Awaitable, Callable, Container, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from upload_preds.client import ApiError, SegmentsClient, TransportError
from upload_preds.errors import AbortError, AuthError, ServerFailingError
from upload_preds.journal import Journal, encode_body, payload_hash
from upload_preds.preflight import Guard, is_protected
from upload_preds.ratecontrol import AdaptiveLimiter, Pacer
from upload_preds.records import LabelJob

__all__ = [
    "RETRYABLE_STATUSES",
    "SKIP_ALREADY_UPLOADED",
    "SKIP_INTERRUPTED",
    "SKIP_NOT_SENT",
    "SKIP_PROTECTED",
    "Asset",
    "EngineConfig",
    "EngineEvent",
    "EngineResult",
    "EngineStats",
    "EventKind",
    "UploadEngine",
    "skip_reason",
]

RETRYABLE_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
AUTH_STATUSES = frozenset({401, 403})

# Skip reasons (stable keys for the summary and the JSON report).
SKIP_ALREADY_UPLOADED = "already uploaded"
SKIP_PROTECTED = "protected"
SKIP_NOT_SENT = "not sent (run stopped)"
SKIP_INTERRUPTED = "interrupted (outcome unknown, a rerun resends it)"
#: Skips after which this run sends no label of the sample (the guard stops reading it).
_SETTLED = frozenset({SKIP_ALREADY_UPLOADED, SKIP_PROTECTED})

# Failure reasons by status; others read "HTTP <status>".
_FAIL_REASONS = {
    400: "rejected by the server (400)",
    401: "API key rejected (401)",
    403: "API key not allowed (403)",
    404: "not found (404)",
    409: "conflict (409)",
    422: "rejected by the server (422)",
    429: "throttled (429)",
}


class EventKind(enum.Enum):
    UPLOADED = "uploaded"
    FAILED = "failed"
    SKIPPED = "skipped"
    RETRYING = "retrying"


@dataclass(frozen=True, slots=True)
class EngineEvent:
    """One thing that happened to one job. ``attempt`` counts from 1 for RETRYING."""

    kind: EventKind
    job: LabelJob
    reason: str | None = None
    message: str | None = None
    status: int | None = None
    attempt: int = 0
    delay: float = 0.0


EventCallback = Callable[[EngineEvent], None]
PreCheck = Callable[[LabelJob], "str | None"]


@dataclass(slots=True)
class EngineConfig:
    """Knobs of the engine; the defaults are the CLI's defaults."""

    concurrency: int = 16
    retries: int = 6
    backoff_base: float = 0.5
    backoff_cap: float = 30.0
    max_retry_after: float = 120.0
    rate: float | None = None
    adaptive: bool = True
    max_consecutive_failures: int = 50
    grace_period: float = 5.0
    resume: bool = True
    queue_size: int | None = None
    verify: bool = False


@dataclass(slots=True)
class EngineStats:
    """A cheap snapshot for progress displays."""

    jobs: int
    uploaded: int
    failed: int
    skipped: int
    retrying: int
    in_flight: int
    concurrency_limit: int
    rate: float | None


@dataclass(slots=True)
class EngineResult:
    """What a run did. ``jobs == uploaded + sum(failed) + sum(skipped)`` always holds."""

    jobs: int = 0
    uploaded: int = 0
    failed: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)
    retries: int = 0
    requests: int = 0
    throttled: int = 0
    elapsed: float = 0.0
    stopped: bool = False
    abort: AbortError | None = None
    min_concurrency: int = 0

    @property
    def failed_total(self) -> int:
        return sum(self.failed.values())

    @property
    def skipped_total(self) -> int:
        return sum(self.skipped.values())

    @property
    def labels_per_s(self) -> float:
        return self.uploaded / self.elapsed if self.elapsed > 0 else 0.0


class Asset(Protocol):
    """A file a label refers to (a segmentation bitmap), uploaded before the label.

    A job carries one as ``job.extra["asset"]``: the worker uploads ``png``
    as ``filename`` (POST /assets/, then the presigned storage POST), calls
    ``attach(url)`` to put the asset's url into the label, and only then
    encodes and PUTs the label. The journal hash is taken before, from the
    label as converted (which names the content, not a url).
    """

    @property
    def filename(self) -> str: ...

    @property
    def png(self) -> bytes: ...

    def attach(self, url: str) -> None: ...


def skip_reason(
    job: LabelJob,
    digest: bytes | None,
    *,
    journal: Journal | None,
    dataset: str,
    guard: Guard | None,
    resume: bool = True,
    protected: Container[str] = frozenset(),
) -> str | None:
    """Why a resolved job is not sent (:data:`SKIP_ALREADY_UPLOADED`,
    :data:`SKIP_PROTECTED`), or None to send it. The engine and the dry run both ask.

    "Already uploaded" needs the journal's identical payload and, when there is a
    guard, its confirmation that the server still holds that label unchanged.
    """
    uuid = job.sample_uuid
    assert uuid is not None
    if resume and journal is not None and digest is not None:
        entry = journal.lookup(dataset, uuid, job.labelset)
        if (
            entry is not None
            and entry.digest == digest
            and (guard is None or guard.confirms(uuid, job.labelset, entry))
        ):
            return SKIP_ALREADY_UPLOADED
    if uuid in protected or (guard is not None and guard.protected(uuid, job.labelset)):
        return SKIP_PROTECTED
    return None


@dataclass(slots=True)
class _Item:
    job: LabelJob
    payload: bytes
    digest: bytes | None
    asset: Asset | None = None
    #: More files of one label (the frames' bitmaps of a segmentation sequence).
    assets: tuple[Asset, ...] = ()


class _Done:
    """What :meth:`UploadEngine._call` returns when it has recorded the job's outcome."""


_DONE = _Done()


_END = object()  # queue sentinel: no more jobs


class UploadEngine:
    """Upload label jobs through ``client``; one engine per run."""

    def __init__(
        self,
        client: SegmentsClient,
        config: EngineConfig | None = None,
        *,
        journal: Journal | None = None,
        journal_key: str | None = None,
        protected: Container[str] = frozenset(),
        guard: Guard | None = None,
        precheck: PreCheck | None = None,
        on_event: EventCallback | None = None,
    ) -> None:
        self.client = client
        self.config = config = config if config is not None else EngineConfig()
        if config.concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.journal = journal
        if journal is not None:
            journal.batch_size = config.concurrency
        # Which dataset the journal records under (its identity; see journal.py).
        self.journal_key = journal_key if journal_key is not None else client.host_key
        self.protected = protected
        self.guard = guard
        self.precheck = precheck
        self.on_event = on_event
        self.pacer = Pacer(config.rate, adaptive=config.adaptive)
        self.limiter = AdaptiveLimiter(config.concurrency)
        self.result = EngineResult(min_concurrency=config.concurrency)
        self._stopping = False
        self._hard = False
        self._stop_event: asyncio.Event | None = None
        # Set by cancel(): wakes a graceful shutdown already waiting for the requests
        # in flight, so a second Ctrl-C stops at once even when it comes late.
        self._hard_event: asyncio.Event | None = None
        self._retrying = 0
        self._consecutive_failures = 0
        self._random = random.Random()
        # Set when the input is exhausted: the last refresh of the guard, which
        # workers await before sending what remains.
        self._final_refresh: asyncio.Task[None] | None = None

    # -- control -----------------------------------------------------------------------------

    def request_stop(self) -> None:
        """Stop feeding; in-flight requests get ``grace_period`` seconds to finish."""
        self._stopping = True
        if self._stop_event is not None:
            self._stop_event.set()

    def cancel(self) -> None:
        """Stop at once: in-flight requests are cancelled and counted as interrupted."""
        self._hard = True
        if self._hard_event is not None:
            self._hard_event.set()
        self.request_stop()

    def stats(self) -> EngineStats:
        r = self.result
        return EngineStats(
            jobs=r.jobs,
            uploaded=r.uploaded,
            failed=r.failed_total,
            skipped=r.skipped_total,
            retrying=self._retrying,
            in_flight=self.limiter.in_flight,
            concurrency_limit=int(self.limiter.limit),
            rate=self.pacer.rate,
        )

    # -- outcomes ----------------------------------------------------------------------------

    def _uploaded(self, item: _Item, stamp: str | None) -> None:
        self.result.uploaded += 1
        self._consecutive_failures = 0
        job = item.job
        if self.journal is not None and item.digest is not None and job.sample_uuid is not None:
            self.journal.record(
                self.journal_key,
                job.sample_uuid,
                job.labelset,
                item.digest,
                job.label_status,
                stamp,
            )
        if self.guard is not None and job.sample_uuid is not None:
            self.guard.settle(job.sample_uuid, job.labelset)  # its refreshes skip it now
        if self.on_event is not None:
            self.on_event(EngineEvent(EventKind.UPLOADED, job))

    def _failed(self, job: LabelJob, reason: str, message: str, status: int | None) -> None:
        failed = self.result.failed
        failed[reason] = failed.get(reason, 0) + 1
        if self.on_event is not None:
            self.on_event(EngineEvent(EventKind.FAILED, job, reason, message, status))

    def _skipped(self, job: LabelJob, reason: str, message: str | None = None) -> None:
        skipped = self.result.skipped
        skipped[reason] = skipped.get(reason, 0) + 1
        guard = self.guard
        if guard is not None and job.sample_uuid is not None and reason in _SETTLED:
            guard.settle(job.sample_uuid, job.labelset)  # no PUT will follow: read no more
        if self.on_event is not None:
            self.on_event(EngineEvent(EventKind.SKIPPED, job, reason, message))

    def _abort(self, error: AbortError) -> None:
        if self.result.abort is None:
            self.result.abort = error
        self.request_stop()

    # -- the run -----------------------------------------------------------------------------

    async def run(self, jobs: AsyncIterable[LabelJob] | Iterable[LabelJob]) -> EngineResult:
        """Upload every job; returns when the input is done, or stopped, or aborted."""
        started = time.monotonic()
        cfg = self.config
        self._stop_event = asyncio.Event()
        self._hard_event = asyncio.Event()
        if self._stopping:
            self._stop_event.set()
        if self._hard:
            self._hard_event.set()
        queue: asyncio.Queue[_Item | object] = asyncio.Queue(
            max(cfg.queue_size or 2 * cfg.concurrency, cfg.concurrency)
        )
        feeder = asyncio.create_task(self._feed(jobs, queue))
        workers = [asyncio.create_task(self._worker(queue)) for _ in range(cfg.concurrency)]
        flusher = asyncio.create_task(self._flush_loop()) if self.journal is not None else None
        guard = self.guard
        refresher = (
            asyncio.create_task(self._refresh_loop(guard))
            if guard is not None and guard.active
            else None
        )
        stop_wait = asyncio.create_task(self._stop_event.wait())
        pending: set[asyncio.Task[None]] = {feeder, *workers}
        # The guard's refresh reads go through the client's pacer: lend it ours,
        # so they and the PUTs share one rate and one reaction to 429s.
        lent, self.client.pacer = self.client.pacer, self.pacer
        try:
            while pending:
                done, _ = await asyncio.wait(
                    {*pending, stop_wait}, return_when=asyncio.FIRST_COMPLETED
                )
                for task in done:
                    exc = None if task is stop_wait or task.cancelled() else task.exception()
                    if exc is not None:
                        raise exc  # the input failed, or a bug: do not hide it
                pending.difference_update(done)
                if stop_wait in done and pending:
                    await self._shutdown(feeder, workers, queue)
                    break
        finally:
            tasks = (feeder, *workers, stop_wait, flusher, refresher, self._final_refresh)
            leftovers = [t for t in tasks if t is not None]
            for task in leftovers:
                task.cancel()
            await asyncio.gather(*leftovers, return_exceptions=True)
            self.client.pacer = lent
            if self.journal is not None:
                self.journal.flush()
            r = self.result
            r.stopped = self._stopping
            r.min_concurrency = self.limiter.min_seen
            r.elapsed = time.monotonic() - started
        return self.result

    async def _shutdown(
        self,
        feeder: asyncio.Task[None],
        workers: list[asyncio.Task[None]],
        queue: asyncio.Queue[_Item | object],
    ) -> None:
        feeder.cancel()
        await asyncio.gather(feeder, return_exceptions=True)
        while not queue.empty():
            item = queue.get_nowait()
            if isinstance(item, _Item):
                self._skipped(item.job, SKIP_NOT_SENT)
        for _ in workers:
            queue.put_nowait(_END)  # wake idle workers; the queue holds >= concurrency
        alive = [w for w in workers if not w.done()]
        if alive and not self._hard:
            assert self._hard_event is not None
            hard = asyncio.create_task(self._hard_event.wait())
            deadline = time.monotonic() + self.config.grace_period
            try:
                # Until the requests in flight end, the grace period runs out, or a
                # cancel() (a second Ctrl-C) asks to stop at once.
                while alive and not hard.done():
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    await asyncio.wait(
                        [*alive, hard], timeout=left, return_when=asyncio.FIRST_COMPLETED
                    )
                    alive = [w for w in alive if not w.done()]
            finally:
                hard.cancel()
                await asyncio.gather(hard, return_exceptions=True)
        for w in alive:
            w.cancel()
        await asyncio.gather(*alive, return_exceptions=True)

    async def _flush_loop(self) -> None:
        journal = self.journal
        assert journal is not None
        while True:
            await asyncio.sleep(journal.flush_interval)
            journal.flush()

    async def _refresh_loop(self, guard: Guard) -> None:
        while True:
            await asyncio.sleep(guard.refresh_interval)
            await guard.refresh()

    async def _feed(
        self,
        jobs: AsyncIterable[LabelJob] | Iterable[LabelJob],
        queue: asyncio.Queue[_Item | object],
    ) -> None:
        held: _Item | None = None
        try:
            if isinstance(jobs, AsyncIterable):
                async for job in jobs:
                    if self._stopping:
                        break
                    held = self._prepare(job)
                    if held is not None:
                        await queue.put(held)
                        held = None
            else:
                since_yield = 0
                for job in jobs:
                    if self._stopping:
                        break
                    held = self._prepare(job)
                    if held is not None:
                        await queue.put(held)
                        held = None
                    else:
                        # A long run of skips would never await: let the workers run.
                        since_yield += 1
                        if since_yield >= 256:
                            since_yield = 0
                            await asyncio.sleep(0)
        finally:
            if held is not None:  # cancelled while waiting for room in the queue
                self._skipped(held.job, SKIP_NOT_SENT)
        if self.guard is not None and self.guard.active:
            # The input is done: what is still queued is the last batch. One more
            # look at the guard before it is sent (workers wait for it), unfiltered.
            self._final_refresh = asyncio.create_task(self.guard.refresh(final=True))
        for _ in range(self.config.concurrency):
            await queue.put(_END)

    def _prepare(self, job: LabelJob) -> _Item | None:
        """Count the job; skip it (returns None) or encode it for sending."""
        self.result.jobs += 1
        if self.precheck is not None:
            reason = self.precheck(job)
            if reason is not None:
                self._skipped(job, reason)
                return None
        uuid = job.sample_uuid
        if uuid is None:
            self._failed(
                job,
                "unknown sample",
                f"sample {job.sample_ref!r} was not resolved to a uuid",
                None,
            )
            return None
        payload = encode_body(job.body())
        digest = payload_hash(payload) if self.journal is not None else None
        reason = skip_reason(
            job,
            digest,
            journal=self.journal,
            dataset=self.journal_key,
            guard=self.guard,
            resume=self.config.resume,
            protected=self.protected,
        )
        if reason is not None:
            self._skipped(job, reason)
            return None
        extra = job.extra
        if not extra:
            return _Item(job, payload, digest)
        return _Item(job, payload, digest, extra.get("asset"), extra.get("assets", ()))

    async def _worker(self, queue: asyncio.Queue[_Item | object]) -> None:
        while True:
            item = await queue.get()
            if not isinstance(item, _Item):
                return
            if self._stopping:
                self._skipped(item.job, SKIP_NOT_SENT)
                continue
            try:
                await self._process(item)
            except asyncio.CancelledError:
                # _process records its outcome with no await after it, so a
                # cancellation here means the job has none yet.
                self._skipped(item.job, SKIP_INTERRUPTED)
                raise

    async def _sleep(self, delay: float) -> bool:
        """Sleep ``delay`` seconds; True when a stop was requested meanwhile."""
        event = self._stop_event
        if event is None or event.is_set():
            return self._stopping
        try:
            await asyncio.wait_for(event.wait(), delay)
        except asyncio.TimeoutError:
            return False
        return True

    def _backoff(self, attempt: int) -> float:
        cfg = self.config
        return self._random.uniform(0.0, min(cfg.backoff_cap, cfg.backoff_base * 2**attempt))

    async def _still_open(self, job: LabelJob, uuid: str) -> bool:
        """Right before the PUT: may this label still be written? Records the skip
        (or the failure of ``--verify``'s GET) and returns False when not."""
        guard = self.guard
        if guard is not None:
            final = self._final_refresh
            if final is not None and not final.done():
                await asyncio.shield(final)
            if guard.protected(uuid, job.labelset):
                self._skipped(job, SKIP_PROTECTED)
                return False
        if self.config.verify and not (guard is not None and guard.overwrite):
            client = self.client
            status = await self._call(job, lambda: client.get_label_status(uuid, job.labelset))
            if status is _DONE:
                return False
            if isinstance(status, str) and is_protected(status):
                self._skipped(job, SKIP_PROTECTED)
                return False
        return True

    async def _process(self, item: _Item) -> None:
        job = item.job
        uuid = job.sample_uuid
        assert uuid is not None
        if not await self._still_open(job, uuid):
            return
        assets = (item.asset, *item.assets) if item.asset is not None else item.assets
        for asset in assets:
            # The files first (each step retried on its own), then the label naming them.
            client = self.client
            created = await self._call(job, lambda: client.create_asset(asset.filename))  # noqa: B023
            if created is _DONE:
                return
            assert isinstance(created, dict)
            stored = await self._call(
                job,
                lambda: client.upload_to_storage(created, asset.filename, asset.png),  # noqa: B023
                False,
            )
            if stored is _DONE:
                return
            asset.attach(str(created["url"]))
        if assets:
            item.payload = encode_body(job.body())
        payload = item.payload
        labelset = job.labelset
        put = self.client.put_label
        answer = await self._call(job, lambda: put(uuid, labelset, payload))
        if answer is _DONE:
            return
        # No await between the answer and the outcome (see _worker).
        self._uploaded(item, answer[1])

    async def _call(
        self, job: LabelJob, send: Callable[[], Awaitable[Any]], auth_aborts: bool = True
    ) -> Any:
        """``send()`` under the limiter and pacer, retried; its result, or ``_DONE`` when
        the job's outcome (failed, skipped) has been recorded instead.

        ``auth_aborts`` False: a 401/403 is not about the API key (a storage
        upload, which carries no key) and fails the job alone.
        """
        cfg = self.config
        limiter = self.limiter
        pacer = self.pacer
        attempt = 0
        while True:
            await limiter.acquire()
            try:
                if self._stopping:  # stopped while waiting for a slot
                    self._skipped(job, SKIP_NOT_SENT if attempt == 0 else SKIP_INTERRUPTED)
                    return _DONE
                delay = pacer.reserve()
                if delay > 0 and await self._sleep(delay):
                    self._skipped(job, SKIP_NOT_SENT if attempt == 0 else SKIP_INTERRUPTED)
                    return _DONE
                self.result.requests += 1
                error: ApiError | TransportError
                try:
                    answer = await send()
                except ApiError as exc:
                    error = exc
                except TransportError as exc:
                    error = exc
                else:
                    limiter.on_success()
                    pacer.on_success()
                    return answer
            finally:
                limiter.release()

            status = error.status if isinstance(error, ApiError) else None
            retry_after = error.retry_after if isinstance(error, ApiError) else None
            if retry_after is not None:
                retry_after = min(retry_after, cfg.max_retry_after)
            if status == 429:
                self.result.throttled += 1
                backoff = self._backoff(attempt)
                pacer.on_throttled(retry_after, backoff)
                limiter.on_throttled()
            if status in AUTH_STATUSES and auth_aborts:
                reason = _FAIL_REASONS[status]
                self._failed(job, reason, error.detail, status)
                self._abort(
                    AuthError(
                        f"the server rejected the API key ({status}: {error.detail})",
                        hint="check SEGMENTS_API_KEY / --api-key and that the key may write "
                        "to this dataset; what was uploaded is recorded, a rerun resumes",
                    )
                )
                return _DONE
            if status is None or status in RETRYABLE_STATUSES:
                if attempt < cfg.retries and not self._stopping:
                    delay = retry_after if retry_after is not None else self._backoff(attempt)
                    attempt += 1
                    self.result.retries += 1
                    if self.on_event is not None:
                        self.on_event(
                            EngineEvent(
                                EventKind.RETRYING,
                                job,
                                None,
                                error.detail,
                                status,
                                attempt,
                                delay,
                            )
                        )
                    self._retrying += 1
                    try:
                        stopped = await self._sleep(delay)
                    finally:
                        self._retrying -= 1
                    if stopped:
                        self._skipped(job, SKIP_INTERRUPTED)
                        return _DONE
                    continue
                if self._stopping:
                    self._skipped(job, SKIP_INTERRUPTED)
                    return _DONE
                self._server_failure(job, error, status)
                return _DONE
            if 300 <= status < 400 or status >= 500:
                self._server_failure(job, error, status)
                return _DONE
            reason = _FAIL_REASONS.get(status, f"HTTP {status}")
            if not auth_aborts:
                reason = f"asset upload rejected ({status})"
            self._failed(job, reason, error.detail, status)
            return _DONE

    def _server_failure(
        self, job: LabelJob, error: ApiError | TransportError, status: int | None
    ) -> None:
        if isinstance(error, TransportError):
            reason = "timeout" if error.kind == "timeout" else "connection failed"
        else:
            reason = _FAIL_REASONS.get(status or 0, f"HTTP {status}")
        if status is None or status in RETRYABLE_STATUSES:
            reason += f" after {self.config.retries} retries"
        self._failed(job, reason, error.detail, status)
        self._consecutive_failures += 1
        limit = self.config.max_consecutive_failures
        if limit and self._consecutive_failures >= limit:
            self._abort(
                ServerFailingError(
                    f"the server failed {self._consecutive_failures} labels in a row "
                    f"(last: {reason}: {error.detail})",
                    hint="the service may be down or overloaded: try again later; "
                    "what was uploaded is recorded and a rerun resumes",
                )
            )
