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
* Skips happen in the feeder, in this order
  (:func:`~upload_preds.outcomes.skip_reason`, which the dry run uses too):
  the caller's ``precheck`` hook (returns a reason
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
* Each request (a PUT, an asset's uploads, ``--verify``'s GET) goes through
  :class:`~upload_preds.retries.RetryingSender`: a limiter slot and a pacer
  start time (so a 429 slows every worker), retries with backoff on
  transient failures, 401/403 and a run of server failures abort. An abort is
  *returned* in :attr:`EngineResult.abort`, with the partial counts; it is
  not raised.
* Assets: a job whose ``extra["asset"]`` holds an :class:`~upload_preds.engineconfig.Asset` (a
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
  ``on_event`` callback and counted in :class:`EngineResult` (both in
  :mod:`upload_preds.outcomes`, with the skip reasons). Each success is
  recorded in the journal (committed in batches of ``concurrency``; see
  :mod:`upload_preds.journal` for the loss bound after a ``kill -9``).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterable, Container, Iterable
from dataclasses import dataclass

from upload_preds.client import SegmentsClient
from upload_preds.engineconfig import Asset, EngineConfig, PreCheck
from upload_preds.journal import Journal, encode_body, payload_hash
from upload_preds.outcomes import (
    SKIP_INTERRUPTED,
    SKIP_NOT_SENT,
    SKIP_PROTECTED,
    EngineEvent,
    EngineResult,
    EngineStats,
    EventCallback,
    EventKind,
    skip_reason,
)
from upload_preds.preflight import Guard, is_protected
from upload_preds.ratecontrol import AdaptiveLimiter, Pacer
from upload_preds.records import LabelJob
from upload_preds.retries import DONE, RetryingSender

__all__ = ["UploadEngine"]


@dataclass(slots=True)
class _Item:
    job: LabelJob
    payload: bytes
    digest: bytes | None
    asset: Asset | None = None
    #: More files of one label (the frames' bitmaps of a segmentation sequence).
    assets: tuple[Asset, ...] = ()


_END = object()  # queue sentinel: no more jobs


class UploadEngine(RetryingSender):
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
            if status is DONE:
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
            if created is DONE:
                return
            assert isinstance(created, dict)
            stored = await self._call(
                job,
                lambda: client.upload_to_storage(created, asset.filename, asset.png),  # noqa: B023
                False,
            )
            if stored is DONE:
                return
            asset.attach(str(created["url"]))
        if assets:
            item.payload = encode_body(job.body())
        payload = item.payload
        labelset = job.labelset
        put = self.client.put_label
        answer = await self._call(job, lambda: put(uuid, labelset, payload))
        if answer is DONE:
            return
        # No await between the answer and the outcome (see _worker).
        self._uploaded(item, answer[1])
