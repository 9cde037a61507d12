"""One run of upload-preds: preflight, the job stream through the engine, accounting.

:func:`run` is the core both the CLI and the Python API call. It never prints:
it reports progress through a :class:`~upload_preds.runreport.ProgressSink`
and plan lines through a callback, and returns an
:class:`~upload_preds.runreport.UploadReport`. The stages, and where each lives::

    check_options     options that cannot work together (runinputs.py)
    Preparer.scan()   first pass: duplicate keys, label sets, names, row count
    preflight         key → dataset (given or discovered) → categories →
                      label sets exist (or --create-labelset) →
                      sample-name index (only when rows name their samples),
                      then duplicates found again by the samples names resolve to
                      (target.py) → journal → guard snapshot (protected uuids
                      per label set, unless --overwrite)
    Preparer.items()  second pass: LabelJob | Failure | Skip | Notice
    JobStream.jobs()  shard filter, name → uuid, a local bitmap file → asset,
                      point counts; failures/skips accounted here (jobstream.py)
    UploadEngine      journal skip, guard skip, PUT with retries; events back

Accounting is in *rows* (input records) so that ``rows == uploaded + skipped
+ failed`` always holds (:class:`~upload_preds.runreport.Counts`); a CSV label
made of five records that uploads counts five rows and one label. Rows the run
never reached (it was stopped) are not counted: a rerun reads them.

Offline mode (no API configured, ``--dry-run`` or ``--output-labels``) runs
the same second pass without a preflight, with categories from
``--categories``. A dry run with an API runs the whole preflight read-only and
classifies each label as would-upload, protected or already uploaded
(:mod:`upload_preds.dryrun`). ``--output-labels`` writes the labels instead of
sending them (:mod:`upload_preds.labelsfile`).

Failed rows go to a :class:`~upload_preds.failures.FailureSink`, which writes
them back in their input's own format (:mod:`upload_preds.failures`). Before a
row is read, every output path is checked against the inputs and each other
(:mod:`upload_preds.outputs`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import signal
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from upload_preds.catmap import CategoryResolver, load_category_map
from upload_preds.convert import Converter
from upload_preds.convert.categories import Categories
from upload_preds.dryrun import count_single_pass, count_would_upload
from upload_preds.errors import AbortError, ExitCode, OutputError
from upload_preds.failures import open_failures
from upload_preds.jobstream import JobStream
from upload_preds.labelsfile import LabelsFile
from upload_preds.outputs import refuse_clashing_outputs
from upload_preds.pipeline import Preparer
from upload_preds.plan import Tally
from upload_preds.runinputs import RunInputs, check_options, reads_and_writes
from upload_preds.runreport import (
    SKIP_CONVERTED,
    SKIP_DRY_RUN,
    Counts,
    ProgressSink,
    Snapshot,
    UploadReport,
)
from upload_preds.settings import Settings

if TYPE_CHECKING:
    # The network side (aiohttp and everything on it) is imported only by runs
    # that talk to an API: an offline dry run starts ~0.5 s faster without it.
    from upload_preds import preflight
    from upload_preds.client import SegmentsClient
    from upload_preds.engine import UploadEngine
    from upload_preds.journal import Journal

PlanCallback = Callable[[str], None]


@contextlib.contextmanager
def _signals(handler: Callable[[], None]) -> Iterator[None]:
    """SIGINT and SIGTERM call ``handler`` on the event loop while the block runs."""
    loop = asyncio.get_running_loop()
    installed = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, handler)
            installed.append(sig)
        except (NotImplementedError, RuntimeError, ValueError):
            pass
    try:
        yield
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)


class Run:
    """One run; create, then ``await execute()`` (or use :func:`run`)."""

    def __init__(
        self,
        settings: Settings,
        inputs: RunInputs,
        *,
        progress: ProgressSink | None = None,
        on_plan: PlanCallback | None = None,
        handle_signals: bool = False,
        sandbox_db: str | None = None,
        journal_host: str | None = None,
    ) -> None:
        self.settings = settings
        self.inputs = inputs
        self.progress = progress
        self.on_plan = on_plan
        self.handle_signals = handle_signals
        self.journal_host = journal_host
        self.counts = Counts()
        self.tally = Tally(score_from=inputs.convert.score_from)
        mode = "dry-run" if settings.dry_run else "upload"
        if inputs.output_labels is not None and not settings.dry_run:
            mode = "convert"
        if settings.api_key is None and settings.dry_run:
            mode = "dry-run (offline)"
        self.report = UploadReport(mode=mode, counts=self.counts, tally=self.tally, plan=[])
        self.report.sandbox_db = sandbox_db
        self._engine: UploadEngine | None = None
        self._interrupts = 0
        #: The second pass: jobs out, every other row accounted (jobstream.py).
        self.stream = JobStream(settings, inputs, self.counts, self.tally)
        self._guard: preflight.Guard | None = None
        self.categories: Categories | None = None
        self._started = time.monotonic()
        self._total: int | None = None
        # --output-labels converts instead of uploading, like a dry run that writes.
        self._no_send = settings.dry_run or inputs.output_labels is not None

    # -- helpers -------------------------------------------------------------------------

    def plan(self, line: str) -> None:
        self.report.plan.append(line)
        if self.on_plan is not None:
            self.on_plan(line)

    def snapshot(self) -> Snapshot:
        c = self.counts
        stats = self._engine.stats() if self._engine is not None else None
        elapsed = time.monotonic() - self._started
        return Snapshot(
            done=c.rows,
            total=self._total,
            uploaded=c.uploaded,
            skipped=sum(c.skipped.values()),
            failed=sum(c.failed.values()),
            retrying=stats.retrying if stats is not None else 0,
            elapsed=elapsed,
            labels_per_s=c.labels_uploaded / elapsed if elapsed > 0 else 0.0,
        )

    # -- signals -------------------------------------------------------------------------

    def _interrupt(self) -> None:
        self._interrupts += 1
        self.stream.stopping = True
        self.report.interrupted = True
        if self._engine is not None:
            if self._interrupts == 1:
                self._engine.request_stop()
            else:
                self._engine.cancel()

    # -- main ----------------------------------------------------------------------------

    async def execute(self) -> UploadReport:
        s = self.settings
        inputs = self.inputs
        check_options(s, inputs)
        offline = s.api_key is None
        resolver = CategoryResolver(
            load_category_map(inputs.category_map) if inputs.category_map is not None else None,
            skip_unknown=inputs.skip_unknown_categories,
        )
        prep = Preparer(
            inputs.paths,
            None,
            fmt=inputs.fmt if inputs.formats is None else None,
            default_labelset=inputs.convert.default_labelset,
            on_duplicate=s.on_duplicate,
            stdin=inputs.stdin,
            formats=inputs.formats,
            resolver=resolver,
        )
        with prep:
            # A dry run writes only what it was asked for: failed rows go to a file
            # only with an explicit --failures (the summary says so).
            failures = self.stream.failures = (
                open_failures(
                    prep.sources,
                    s.failures,
                    detector_fmt=inputs.formats.fmt if inputs.formats is not None else None,
                    detector_paths=inputs.paths,
                )
                if not s.dry_run or s.failures is not None
                else None
            )
            refuse_clashing_outputs(*reads_and_writes(s, inputs, failures))
            if inputs.output_labels is not None:
                self.stream.labels_out = LabelsFile(inputs.output_labels)
            try:
                if offline:
                    self._offline(prep)
                else:
                    await self._online(prep)
                if self.stream.labels_out is not None:
                    self.stream.labels_out.commit()
                    self.report.output_labels = str(inputs.output_labels)
            except BaseException:
                if self.stream.labels_out is not None:
                    self.stream.labels_out.abort()
                # What failed so far is kept (an interrupted run's failures file),
                # unless the disk is full: then the sink has removed its own files.
                if failures is not None:
                    with contextlib.suppress(OutputError):
                        self.report.failures_files = failures.close()
                raise
            if failures is not None:
                self.report.failures_files = failures.close()
            if prep.frames_guessed:
                self.plan(
                    f"frames: {prep.frames_guessed:,} sequence label(s) had no frame count "
                    "(pass --frames N, or the sample has no frames): each has its highest "
                    "frame index + 1 frames"
                )
        warning = self.stream.own_labelset_warning()
        if warning is not None:
            self.report.warnings.append(warning)
        self.report.elapsed_s = time.monotonic() - self._started
        self.report.exit_code = self._exit_code()
        return self.report

    def _exit_code(self) -> ExitCode:
        if self.report.interrupted:
            return ExitCode.INTERRUPTED
        if self.report.aborted is not None:
            return ExitCode.ABORTED
        if sum(self.counts.failed.values()):
            return ExitCode.ROWS_FAILED
        return ExitCode.OK

    def _converter(self, categories: Categories | None) -> Converter:
        self.categories = categories
        options = self.inputs.convert
        if self.inputs.formats is not None:
            # The detector readers give boxes as corners, whatever --bbox-format says.
            options = dataclasses.replace(options, bbox_format="xyxy")
        elif self.inputs.category_map is not None:
            # Native rows: the map is for the class ids of point label files (pcseg).
            cmap = load_category_map(self.inputs.category_map)
            options = dataclasses.replace(options, class_map=cmap)
        return Converter(options, categories)

    def _offline(self, prep: Preparer) -> None:
        cats = None
        if self.inputs.categories_file is not None:
            cats = Categories.from_file(self.inputs.categories_file)
        prep.converter = self._converter(cats)
        reason = SKIP_DRY_RUN if self.settings.dry_run else SKIP_CONVERTED
        counts = self.counts
        if self.stream.labels_out is not None:
            # Labels are written: no duplicate's label may reach the file, so the
            # duplicates are found first (Preparer's look-ahead pass).
            self._total = prep.scan(full=False).rows or None
            for job in self.stream.jobs(prep):
                counts.skip(reason, len(job.locs))
            return
        # A dry run sends and writes nothing: the input is read once (dryrun.py).
        count_single_pass(
            prep, self.stream.jobs, counts, self.tally, reason=reason, shard=self.settings.shard
        )

    async def _online(self, prep: Preparer) -> None:
        imported = time.monotonic()
        from upload_preds import preflight
        from upload_preds.client import SegmentsClient
        from upload_preds.journal import Journal
        from upload_preds.ratecontrol import Pacer
        from upload_preds.target import file_samples, find_target, take_guard

        # Importing aiohttp takes 0.2-0.8 s here: start-up, not upload, so it is
        # kept out of the elapsed time and the labels/s of the summary.
        self._started += time.monotonic() - imported

        s = self.settings
        assert s.api_key is not None
        client = SegmentsClient(
            s.api_url,
            s.api_key,
            concurrency=s.concurrency,
            timeout=s.timeout,
            allow_insecure_http=s.allow_insecure_http,
            retries=s.retries,
            # The preflight's reads keep --rate too (the engine lends its own pacer later).
            pacer=Pacer(s.rate),
        )
        self.report.api_url = client.api_url
        async with client:
            await preflight.check_key(client)
            self.plan(f"API key accepted by {client.api_url}")
            scan = prep.scan(full=True)
            self._total = scan.rows
            files = len(prep.sources) + len(prep.format_sources)
            self.plan(f"input: {scan.rows:,} rows in {files} file(s)")
            target = await find_target(
                client,
                prep,
                scan,
                s,
                match=self.inputs.match,
                default_labelset=self.inputs.convert.default_labelset,
                no_send=self._no_send,
                converter=self._converter,
                plan=self.plan,
            )
            info = target.info
            self.report.dataset = self.stream.dataset = info.full_name
            self.stream.index = target.index
            self.stream.matcher = target.matcher
            self.stream.point_counts = target.point_counts
            # The guard reads only the file's samples when they are few (same rule).
            guard_samples = preflight.guard_samples(
                file_samples(scan, self.stream.matcher), target.samples_count, client.concurrency
            )
            journal = Journal(s.state) if s.state is not None else Journal()
            self.report.journal = str(journal.path)
            # The journal knows a dataset by its identity, not by its URL alone.
            key = info.identity(self.journal_host or client.host_key)
            with journal:
                # The guard last: its snapshot is as fresh as the preflight allows.
                self._guard = await take_guard(
                    client, target, s, journal, key, guard_samples, self.plan
                )
                self.plan(
                    f"journal: {journal.path} ({journal.count(key):,} labels recorded for "
                    "this dataset)" + ("" if s.resume else "; --no-resume: sending everything")
                )
                if self._no_send:
                    count_would_upload(
                        self.stream.jobs(prep),
                        self.counts,
                        journal=journal,
                        key=key,
                        guard=self._guard,
                        resume=s.resume,
                    )
                else:
                    await self._upload(prep, client, journal, key)

    async def _upload(
        self, prep: Preparer, client: SegmentsClient, journal: Journal, key: str
    ) -> None:
        from upload_preds.engine import UploadEngine
        from upload_preds.engineconfig import EngineConfig

        s = self.settings
        engine = UploadEngine(
            client,
            EngineConfig(
                concurrency=s.concurrency,
                retries=s.retries,
                rate=s.rate,
                resume=s.resume,
                verify=s.verify,
            ),
            journal=journal,
            journal_key=key,
            guard=self._guard,
            on_event=self.stream.on_event,
        )
        self._engine = engine
        ticker = asyncio.create_task(self._tick())
        if self.progress is not None:
            self.progress.start(self._total)
        try:
            with _signals(self._interrupt) if self.handle_signals else contextlib.nullcontext():
                result = await engine.run(self.stream.jobs(prep))
        finally:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker
            if self.progress is not None:
                self.progress.update(self.snapshot())
                self.progress.stop()
        self.report.retries = result.retries
        self.report.requests = result.requests
        self.report.throttled = result.throttled
        self.report.min_concurrency = result.min_concurrency
        guard = self._guard
        if guard is not None:
            self.report.guard_refreshes = guard.refreshes
            self.report.guard_refresh_failures = guard.refresh_failures
            self.report.guard_refresh_error = guard.last_refresh_error
            if guard.last_refresh_ok is not None:
                when = time.gmtime(guard.last_refresh_ok)
                self.report.guard_last_refresh = time.strftime("%Y-%m-%dT%H:%M:%SZ", when)
        if result.abort is not None:
            self._record_abort(result.abort)

    def _record_abort(self, err: AbortError) -> None:
        self.report.aborted = err.message
        self.report.abort_hint = err.hint

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(0.1)
            if self.progress is not None:
                self.progress.update(self.snapshot())


async def run(
    settings: Settings,
    inputs: RunInputs,
    **kwargs: Any,
) -> UploadReport:
    """Run an upload (or a dry run, or a conversion) and return its report."""
    return await Run(settings, inputs, **kwargs).execute()


__all__ = ["PlanCallback", "Run", "run"]
