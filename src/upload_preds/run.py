"""One run of upload-preds: preflight, the job stream through the engine, accounting.

:func:`run` is the core both the CLI and the Python API call. It never prints:
it reports progress through a :class:`ProgressSink` and plan lines through a
callback, and returns an :class:`UploadReport`. The stages::

    Preparer.scan()   first pass: duplicate keys, label sets, names, row count
    preflight         key → dataset (given or discovered) → categories →
                      label sets exist (or --create-labelset) → guard snapshot
                      (protected uuids per label set, unless --overwrite) →
                      sample-name index (only when rows name their samples),
                      then duplicates found again by the samples names resolve to
    Preparer.items()  second pass: LabelJob | Failure | Skip | Notice
    _items()          shard filter, name → uuid, a local bitmap file → asset;
                      failures/skips accounted here
    UploadEngine      journal skip, guard skip, PUT with retries; events back

Accounting is in *rows* (input records) so that ``rows == uploaded + skipped
+ failed`` always holds; a CSV label made of five records that uploads counts
five rows and one label. Rows the run never reached (it was stopped) are not
counted: a rerun reads them.

Offline mode (no API configured, ``--dry-run`` or ``--output-labels``) runs
the same second pass without a preflight, with categories from
``--categories``. A dry run with an API runs the whole preflight read-only and
classifies each label as would-upload, protected or already uploaded.

Failed rows go to a :class:`~upload_preds.failures.FailureSink`, which writes
them back in their input's own format (:mod:`upload_preds.failures`). Before a
row is read, every output path is checked against the inputs and each other
(:mod:`upload_preds.outputs`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import itertools
import os
import signal
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol, TypeVar

import orjson

from upload_preds import pointcounts
from upload_preds.catmap import CategoryResolver, load_category_map
from upload_preds.convert import R_LABEL_FAILED, Converter, ConvertOptions
from upload_preds.convert.categories import Categories
from upload_preds.convert.multisensor import SensorRules
from upload_preds.errors import AbortError, ExitCode, OutputError, SetupError, UsageError
from upload_preds.failures import FailureSink, error_text, first_errors, open_failures
from upload_preds.formats import FormatOptions
from upload_preds.masks import CONTENT_URL_PREFIX, Bitmap
from upload_preds.matching import MatchMode, key_stem
from upload_preds.outputs import AtomicWriter, Named, label_record, refuse_clashing_outputs
from upload_preds.pipeline import Preparer, Scan
from upload_preds.plan import Tally
from upload_preds.printable import printable
from upload_preds.readers import refuse_repeated_paths
from upload_preds.records import Failure, LabelJob, Location, Notice, RowError, Skip, raw_rows
from upload_preds.sampleshape import SampleShapes, fetch_shapes
from upload_preds.settings import Settings

if TYPE_CHECKING:
    # The network side (aiohttp and everything on it) is imported only by runs
    # that talk to an API: an offline dry run starts ~0.5 s faster without it.
    from upload_preds import preflight
    from upload_preds.client import SegmentsClient
    from upload_preds.engine import EngineEvent, UploadEngine
    from upload_preds.journal import Journal
    from upload_preds.matching import Matcher

_T = TypeVar("_T")

REPORT_VERSION = 1
EXAMPLES_PER_REASON = 5
SKIP_OTHER_SHARD = "other shard"
SKIP_DRY_RUN = "dry run"
SKIP_CONVERTED = "written to --output-labels"
SKIP_WOULD_UPLOAD = "would upload"
#: Skip reasons of the rows a run that sends nothing would have sent: the summary
#: shows them on their own line, not among the skips (the JSON report keeps them
#: in ``skipped_by_reason``, so that rows == uploaded + skipped + failed).
SENT_INSTEAD = frozenset({SKIP_DRY_RUN, SKIP_CONVERTED, SKIP_WOULD_UPLOAD})
REASON_UNKNOWN_SAMPLE = "unknown sample"
REASON_MASK_FILE = "mask file"
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


# ---------------------------------------------------------------------------
# Progress and the report


@dataclass(slots=True)
class Snapshot:
    """What a progress display shows; ``total`` is None when not known cheaply."""

    done: int
    total: int | None
    uploaded: int
    skipped: int
    failed: int
    retrying: int
    elapsed: float
    labels_per_s: float


class ProgressSink(Protocol):
    def start(self, total: int | None) -> None: ...
    def update(self, snap: Snapshot) -> None: ...
    def stop(self) -> None: ...


@dataclass(slots=True)
class Counts:
    rows: int = 0
    uploaded: int = 0
    labels_uploaded: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    failed: Counter[str] = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)

    def fail(self, reason: str, rows: int, *examples: str) -> None:
        self.rows += rows
        self.failed[reason] += rows
        ex = self.examples.setdefault(reason, [])
        ex.extend(examples[: max(EXAMPLES_PER_REASON - len(ex), 0)])

    def skip(self, reason: str, rows: int) -> None:
        self.rows += rows
        self.skipped[reason] += rows


@dataclass(slots=True)
class UploadReport:
    """What a run did; :meth:`to_dict` is the versioned JSON report."""

    mode: str
    counts: Counts
    tally: Tally
    plan: list[str]
    exit_code: ExitCode = ExitCode.OK
    elapsed_s: float = 0.0
    retries: int = 0
    requests: int = 0
    throttled: int = 0
    min_concurrency: int | None = None
    failures_files: list[str] = field(default_factory=list)
    output_labels: str | None = None
    aborted: str | None = None
    abort_hint: str | None = None
    interrupted: bool = False
    dataset: str | None = None
    api_url: str | None = None
    sandbox_db: str | None = None
    journal: str | None = None
    #: Things the user should know that are neither skips nor failures.
    warnings: list[str] = field(default_factory=list)
    #: The guard's refreshes during the upload, those that failed, when the last
    #: one that read every label set ended (UTC, ISO 8601), and the last error.
    guard_refreshes: int = 0
    guard_refresh_failures: int = 0
    guard_last_refresh: str | None = None
    guard_refresh_error: str | None = None

    @property
    def labels_per_s(self) -> float:
        return self.counts.labels_uploaded / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        c = self.counts
        return {
            "version": REPORT_VERSION,
            "mode": self.mode,
            "counts": {
                "rows": c.rows,
                "uploaded": c.uploaded,
                "skipped": sum(c.skipped.values()),
                "failed": sum(c.failed.values()),
            },
            "labels": {
                "converted": self.tally.label_count,
                "uploaded": c.labels_uploaded,
                "by_labelset": dict(self.tally.labels),
                "score_from": self.tally.score_from,
                "scores_derived": self.tally.scores_derived,
            },
            "annotations": {
                "total": self.tally.annotation_count,
                "by_type": dict(self.tally.annotations_by_type),
                "by_category_id": {
                    str(k): v for k, v in self.tally.annotations_by_category.items()
                },
                "filtered_by_min_score": self.tally.filtered_annotations,
                "bbox_corners_reordered": self.tally.bbox_reordered,
            },
            # Reasons and examples are human text that may hold input or server
            # text: no control or bidi characters (JSON escapes only C0 itself).
            "skipped_by_reason": {printable(k): v for k, v in c.skipped.items()},
            "failed_by_reason": {printable(k): v for k, v in c.failed.items()},
            "failure_examples": {
                printable(reason): [printable(e) for e in examples]
                for reason, examples in c.examples.items()
            },
            "retries": self.retries,
            "requests": self.requests,
            "throttled": self.throttled,
            "elapsed_s": round(self.elapsed_s, 3),
            "labels_per_s": round(self.labels_per_s, 1),
            "dataset": self.dataset,
            "failures_files": self.failures_files,
            "output_labels": self.output_labels,
            "aborted": printable(self.aborted) if self.aborted is not None else None,
            "interrupted": self.interrupted,
            "warnings": [printable(w) for w in self.warnings],
            "guard": {
                "refreshes": self.guard_refreshes,
                "refresh_failures": self.guard_refresh_failures,
                "last_refresh": self.guard_last_refresh,
                "last_error": (
                    printable(self.guard_refresh_error)
                    if self.guard_refresh_error is not None
                    else None
                ),
            },
            "exit_code": int(self.exit_code),
        }


# ---------------------------------------------------------------------------
# Summary examples


def _example(loc: Location, ref: str | None, message: str) -> str:
    """A summary example: ``file:line sample: message``, or ``file:line: message``."""
    return f"{loc} {ref}: {message}" if ref else f"{loc}: {message}"


def _failure_example(e: RowError, data: Mapping[str, Any] | None) -> str:
    """``file:line sample: field: message`` for a row that failed conversion.

    The sample is the one the row names (its ``sample_name`` or ``sample_uuid``
    as written), so a reader can find it without opening the file; rows that
    name none (a line that is not JSON, a detector's line) give ``file:line: ...``.
    """
    ref = None
    if data is not None:
        for key in ("sample_name", "sample_uuid"):
            value = data.get(key)
            if isinstance(value, str) and value.strip():
                ref = value.strip()
                break
    return _example(e.loc, ref, error_text(e))


# ---------------------------------------------------------------------------
# The run


PlanCallback = Callable[[str], None]


def shard_of(ref: str, n: int) -> int:
    """1-based shard of a sample reference: stable across runs and machines."""
    digest = hashlib.blake2b(ref.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % n + 1


@dataclass
class RunInputs:
    """What to read and how to convert it."""

    paths: Sequence[str]
    convert: ConvertOptions
    fmt: str | None = None
    categories_file: Path | None = None
    output_labels: Path | None = None
    stdin: BinaryIO | None = None
    #: Detector formats (COCO, YOLO): their flags; None for the native row formats.
    formats: FormatOptions | None = None
    #: How sample names of rows (and image keys) are matched to samples.
    match: MatchMode = "name"
    category_map: Path | None = None
    skip_unknown_categories: bool = False
    #: ``--labelset`` was given (not its default). A row's own ``labelset`` still
    #: wins (an ``--output-labels`` file names the set of every label), but the
    #: rows that kept another set are counted and the report warns about them.
    labelset_given: bool = False


def check_options(s: Settings, inputs: RunInputs) -> None:
    """Options that cannot work together, refused (exit 2) before anything is opened."""
    if not inputs.paths:
        raise UsageError(
            "no input files", hint="name one or more prediction files, or '-' for stdin"
        )
    refuse_repeated_paths(inputs.paths)
    if s.api_key is None and not s.dry_run and inputs.output_labels is None:
        raise UsageError(
            "no API key: set SEGMENTS_API_KEY (or pass --api-key)",
            hint="or try it locally first with --sandbox, or check the files with --dry-run",
        )
    if inputs.formats is None and inputs.skip_unknown_categories:
        raise UsageError(
            "--skip-unknown-categories applies to --format coco, yolo or mot",
            hint="rows in the native formats name dataset categories directly",
        )
    if inputs.formats is not None and inputs.convert.normalized:
        raise UsageError(
            "--normalized is for the native row formats (JSON, JSONL, CSV, TSV)",
            hint="COCO is in pixels, and YOLO's normalized boxes are scaled already",
        )


def _reads_and_writes(
    s: Settings, inputs: RunInputs, failures: FailureSink | None
) -> tuple[list[Named], list[Named]]:
    """The files a run reads and those it writes, named as the user knows them."""
    reads: list[Named] = [("input", p) for p in inputs.paths]
    for what, path in (
        ("--categories", inputs.categories_file),
        ("--category-map", inputs.category_map),
        ("--coco-gt", inputs.formats.coco_gt if inputs.formats else None),
        ("--yolo-names", inputs.formats.yolo_names if inputs.formats else None),
    ):
        if path is not None:
            reads.append((what, path))
    targets = failures.targets() if failures is not None else []
    named = s.failures is not None and len(targets) == 1
    writes: list[Named] = [
        ("--failures" if named else f"the failures file of {src}", path)
        for src, path in zip(inputs.paths, targets, strict=False)
    ]
    if inputs.output_labels is not None:
        writes.append(("--output-labels", inputs.output_labels))
    if s.report is not None:
        writes.append(("--report", s.report))
    return reads, writes


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


class LabelsFile:
    """``--output-labels``: the converted labels as JSONL, put in place when complete.

    A label's bitmap PNG goes to ``<output>.masks/``, named by its content, and
    the label names that file (there is no asset url offline) by a path relative
    to the labels file's folder, so that the pair can be moved together; fed
    back in, the path is uploaded as an asset (see :func:`local_mask_path`). A write that
    fails (a full disk) removes the temporary file and raises OutputError.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._out = self._guard(lambda: AtomicWriter(path))

    def _guard(self, write: Callable[[], _T]) -> _T:
        try:
            return write()
        except OSError as exc:
            self.abort()
            raise OutputError(
                f"cannot write --output-labels {self.path}: {exc.strerror or exc}",
                hint="free some space, or write the labels to another disk",
            ) from None

    def write(self, job: LabelJob) -> None:
        record = label_record(job)
        asset = job.extra.get("asset") if job.extra else None
        if asset is not None:
            url = self._guard(lambda: self._save_mask(asset))
            record["attributes"] = {**job.attributes, "segmentation_bitmap": {"url": url}}
        # A segmentation sequence's bitmaps (one per frame): named by their files while
        # the record is written, then by their content again (as the upload needs).
        assets: tuple[Bitmap, ...] = job.extra.get("assets", ()) if job.extra else ()
        urls = [a.target["url"] for a in assets]
        try:
            for a in assets:
                a.attach(self._guard(lambda a=a: self._save_mask(a)))  # type: ignore[misc]
            self._guard(lambda: self._out.write(orjson.dumps(record) + b"\n"))
        finally:
            for a, url0 in zip(assets, urls, strict=True):
                a.attach(url0)

    def commit(self) -> None:
        self._guard(self._out.commit)

    def abort(self) -> None:
        if getattr(self, "_out", None) is not None:
            self._out.abort()

    def _save_mask(self, asset: Bitmap) -> str:
        folder = self.path.with_name(self.path.name + ".masks")
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / asset.filename
        if not path.exists():
            path.write_bytes(asset.png)
        return f"{folder.name}/{asset.filename}"


def local_mask_path(url: str, input_file: str) -> Path | None:
    """The file a label's ``segmentation_bitmap.url`` names, when it is a local path.

    An ``--output-labels`` file names its bitmaps by paths relative to its own
    folder; an absolute path is taken as it is. A relative path is looked up
    beside the input file first, then in the working directory (where files
    written by earlier versions, which named the path as given, point). None
    when ``url`` is not a local path (a URL, or the content hash of a mask row).
    """
    if "://" in url or url.startswith(CONTENT_URL_PREFIX):
        return None
    path = Path(url)
    if path.is_absolute():
        return path
    beside = Path(input_file).parent / path
    return beside if beside.exists() or not path.exists() else path


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
        self._stopping = False
        self._interrupts = 0
        self._failures: FailureSink | None = None
        self._labels_out: LabelsFile | None = None
        self._index: preflight.SampleIndex | None = None
        self._matcher: Matcher | None = None
        #: A sample's point counts by uuid (point-cloud segmentation datasets).
        self._point_counts: Callable[[str | None], int | list[int] | None] | None = None
        self._guard: preflight.Guard | None = None
        self.categories: Categories | None = None
        self._started = time.monotonic()
        self._total: int | None = None
        # Rows whose own label set is not the --labelset given, by set.
        self._own_sets: Counter[str] = Counter()
        # --output-labels converts instead of uploading, like a dry run that writes.
        self._no_send = settings.dry_run or inputs.output_labels is not None

    # -- helpers -------------------------------------------------------------------------

    def plan(self, line: str) -> None:
        self.report.plan.append(line)
        if self.on_plan is not None:
            self.on_plan(line)

    def _fail_rows(
        self,
        reason: str,
        rows: Sequence[tuple[Location, dict[str, Any]]],
        ref: str | None,
        message: str,
        loc: Location,
    ) -> None:
        self.counts.fail(reason, len(rows), _example(loc, ref, message))
        if self._failures is not None:
            self._failures.add(rows, message)

    def _on_failure(self, item: Failure) -> None:
        self.tally.add(item)
        # A CSV label's fine lines fail with "another line of the label failed": the
        # label counts under the reason of a line that is wrong, whichever line is first.
        first = next((e for e in item.errors if e.reason != R_LABEL_FAILED), item.errors[0])
        message = first_errors([error_text(e) for e in item.errors])
        data = dict(item.rows)
        # Counts.fail keeps at most EXAMPLES_PER_REASON examples of a reason.
        examples = [_failure_example(e, data.get(e.loc)) for e in item.errors[:EXAMPLES_PER_REASON]]
        self.counts.fail(first.reason, len(item.rows), *examples)
        if self._failures is not None:
            self._failures.add(item.rows, message, item.errors)

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

    # -- the stream ----------------------------------------------------------------------

    def _items(self, prep: Preparer) -> Iterator[LabelJob]:
        """Jobs ready for the engine; everything else is accounted for here."""
        shard = self.settings.shard
        flag_set = self.inputs.convert.default_labelset
        own_sets = self._own_sets if self.inputs.labelset_given else None
        # Local bitmap files are read when something is sent or written (not by an
        # offline dry run, which reads each row once and takes labels back).
        check_masks = not (self.settings.dry_run and self.settings.api_key is None)
        for item in prep.items():
            if self._stopping:
                return
            if isinstance(item, Notice):
                self.tally.add(item)
                continue
            if isinstance(item, Failure):
                self._on_failure(item)
                continue
            if isinstance(item, Skip):
                self.tally.add(item)
                self.counts.skip(item.reason, len(item.rows))
                continue
            job = item
            if shard is not None and shard_of(job.sample_ref.strip(), shard[1]) != shard[0]:
                self.counts.skip(SKIP_OTHER_SHARD, len(job.locs))
                continue
            self.tally.add(job)
            if own_sets is not None and job.labelset != flag_set:
                own_sets[job.labelset] += len(job.locs)
            if job.sample_uuid is None and self._matcher is not None:
                name = str(job.sample_name)
                uuid = self._matcher.uuid_for(name)
                if uuid is None:
                    self._unknown_sample(job, name)
                    continue
                job.sample_uuid = uuid
            if check_masks and not self._attach_local_mask(job):
                continue
            if self._point_counts is not None and not self._fits_point_counts(job):
                continue
            if self._labels_out is not None:
                self._labels_out.write(job)
            yield job

    def _fits_point_counts(self, job: LabelJob) -> bool:
        """Whether a point-cloud segmentation label has one id per point of its sample
        (when the sample says how many); else its rows fail here (pointcounts.py)."""
        assert self._point_counts is not None
        rows = raw_rows(job) or tuple((loc, {}) for loc in job.locs)
        problem = pointcounts.check(job.attributes, self._point_counts(job.sample_uuid), rows)
        if problem is None:
            return True
        loc, message = problem
        ref = job.sample_name if job.sample_name is not None else job.sample_ref
        self._fail_rows(pointcounts.REASON_POINT_COUNT, rows, ref, message, loc or job.loc)
        return False

    def _attach_local_mask(self, job: LabelJob) -> bool:
        """A label whose bitmap url is a local file gets that PNG as its asset.

        An ``--output-labels`` file fed back in names its masks by path: sent as
        it is, the label would point at a file on this machine. The PNG goes
        through the same asset upload (and journal) as the bitmaps of mask rows:
        the label names its content hash until the worker has uploaded it and put
        the asset's url in. False (the label failed, accounted here) when the
        file cannot be read or is not a PNG.
        """
        bitmap = job.attributes.get("segmentation_bitmap")
        if not isinstance(bitmap, dict) or "asset" in job.extra:
            return True
        url = bitmap.get("url")
        path = local_mask_path(url, job.loc.file) if isinstance(url, str) else None
        if path is None:
            return True
        try:
            png = path.read_bytes()
        except OSError as exc:
            problem = f"cannot read it: {exc.strerror or exc}"
        else:
            if png.startswith(_PNG_SIGNATURE):
                digest = hashlib.sha256(png).hexdigest()
                target = {**bitmap, "url": CONTENT_URL_PREFIX + digest}
                job.attributes = {**job.attributes, "segmentation_bitmap": target}
                job.extra["asset"] = Bitmap(png, digest, target)
                return True
            problem = "it is not a PNG file"
        self._fail_rows(
            REASON_MASK_FILE,
            raw_rows(job) or tuple((loc, {}) for loc in job.locs),
            # The sample as the row names it (a resolved name now has a uuid too).
            job.sample_name if job.sample_name is not None else job.sample_ref,
            f"attributes.segmentation_bitmap.url: {url!r} is a local file ({path}), and "
            f"{problem}; give the PNG's path (relative to the input file) or an asset url",
            job.loc,
        )
        return False

    def _unknown_sample(self, job: LabelJob, name: str) -> None:
        assert self._index is not None
        assert self._matcher is not None
        if self._matcher.mode != "name":
            message = self._matcher.why_not(name, self.report.dataset)
        elif name.strip() in self._index.duplicates:
            message = f"sample name {name!r} is used by several samples; give sample_uuid instead"
        else:
            near = self._index.suggest(name.strip())
            message = f"no sample named {name!r} in {self.report.dataset}"
            other = self._matcher.other_match(name)
            if other:
                message += other
            elif near:
                message += "; did you mean " + ", ".join(repr(n) for n in near) + "?"
        self._fail_rows(
            REASON_UNKNOWN_SAMPLE,
            raw_rows(job) or tuple((loc, {}) for loc in job.locs),
            name,
            message,
            job.loc,
        )

    # -- engine events -------------------------------------------------------------------

    def _on_event(self, ev: EngineEvent) -> None:
        from upload_preds.engine import EventKind

        job = ev.job
        rows = raw_rows(job) or tuple((loc, {}) for loc in job.locs)
        if ev.kind is EventKind.UPLOADED:
            self.counts.rows += len(rows)
            self.counts.uploaded += len(rows)
            self.counts.labels_uploaded += 1
        elif ev.kind is EventKind.SKIPPED:
            self.counts.skip(str(ev.reason), len(rows))
        elif ev.kind is EventKind.FAILED:
            message = ev.message or str(ev.reason)
            self._fail_rows(str(ev.reason), rows, job.sample_ref, message, job.loc)

    # -- signals -------------------------------------------------------------------------

    def _interrupt(self) -> None:
        self._interrupts += 1
        self._stopping = True
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
            failures = self._failures = (
                open_failures(
                    prep.sources,
                    s.failures,
                    detector_fmt=inputs.formats.fmt if inputs.formats is not None else None,
                    detector_paths=inputs.paths,
                )
                if not s.dry_run or s.failures is not None
                else None
            )
            refuse_clashing_outputs(*_reads_and_writes(s, inputs, failures))
            if inputs.output_labels is not None:
                self._labels_out = LabelsFile(inputs.output_labels)
            try:
                if offline:
                    self._offline(prep)
                else:
                    await self._online(prep)
                if self._labels_out is not None:
                    self._labels_out.commit()
                    self.report.output_labels = str(inputs.output_labels)
            except BaseException:
                if self._labels_out is not None:
                    self._labels_out.abort()
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
        self._warn_own_labelsets()
        self.report.elapsed_s = time.monotonic() - self._started
        self.report.exit_code = self._exit_code()
        return self.report

    def _warn_own_labelsets(self) -> None:
        """One warning for the rows that named a label set other than ``--labelset``.

        The row's set wins, as documented, but an ``--output-labels`` file fed
        back with ``--labelset X`` names a set in every row: without a word the
        flag would look ignored.
        """
        if not self._own_sets:
            return
        n = sum(self._own_sets.values())
        sets = ", ".join(f"{ls!r} ({k:,})" for ls, k in self._own_sets.most_common(3))
        if len(self._own_sets) > 3:
            sets += f" and {len(self._own_sets) - 3} more"
        flag = self.inputs.convert.default_labelset
        self.report.warnings.append(
            f"{n:,} row(s) kept the label set they name, not --labelset {flag!r}: {sets}; "
            "a row's 'labelset' wins over the flag: remove or change it in the rows "
            f"to send them to {flag!r}"
        )

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
        if self._labels_out is not None:
            # Labels are written: no duplicate's label may reach the file, so the
            # duplicates are found first (Preparer's look-ahead pass).
            self._total = prep.scan(full=False).rows or None
            for job in self._items(prep):
                counts.skip(reason, len(job.locs))
            return
        # A dry run sends and writes nothing: the input is read once, and labels
        # that turn out to be duplicates are taken back at the end (retract).
        # Offline there is no progress display, so no pass to count rows.
        shard = self.settings.shard
        held = 0  # rows of the labels passed so far, added to counts in one go

        def retract(job: LabelJob) -> None:
            # Undo what _items did with this label (shard skip, or tally) and
            # what the loop below did (its rows).
            nonlocal held
            rows = len(job.locs)
            if shard is not None and shard_of(job.sample_ref.strip(), shard[1]) != shard[0]:
                counts.rows -= rows
                counts.skipped[SKIP_OTHER_SHARD] -= rows
                if counts.skipped[SKIP_OTHER_SHARD] <= 0:
                    del counts.skipped[SKIP_OTHER_SHARD]
            else:
                self.tally.remove(job)
                held -= rows

        prep.single_pass(retract)
        try:
            for job in self._items(prep):
                if not held:
                    # The first label enters its reason at once, so skip reasons keep
                    # the order they were met in (ties in the summary keep theirs).
                    counts.skipped[reason] += 0
                held += len(job.locs)
        finally:
            if held:
                counts.skip(reason, held)
            elif counts.skipped.get(reason) == 0:
                del counts.skipped[reason]

    async def _online(self, prep: Preparer) -> None:
        imported = time.monotonic()
        from upload_preds import preflight
        from upload_preds.client import SegmentsClient
        from upload_preds.journal import Journal
        from upload_preds.matching import Matcher
        from upload_preds.ratecontrol import Pacer

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
            full_name = s.dataset
            if full_name is None and scan.first_uuid is None and self.inputs.match == "uuid":
                # --match uuid: image keys are sample uuids (file stems).
                scan.first_uuid = next((key_stem(k) for k in scan.keys if k), None)
            if full_name is None:
                if scan.first_uuid is None:
                    raise SetupError(
                        "cannot tell which dataset the predictions are for: no row has a "
                        "sample_uuid to discover it from",
                        hint="pass --dataset OWNER/NAME",
                    )
                full_name = await preflight.discover_dataset(client, scan.first_uuid)
            info = await preflight.get_dataset(client, full_name)
            self.report.dataset = info.full_name
            try:
                cats = Categories.from_task_attributes(info.task_attributes, info.task_type)
            except ValueError as err:
                raise SetupError(
                    f"dataset {info.full_name} has categories upload-preds cannot read: {err}",
                    hint="check the dataset's task_attributes on the platform",
                ) from None
            prep.converter = self._converter(cats)
            self.plan(
                f"dataset {info.full_name}: task type {info.task_type}, "
                f"{len(info.categories)} categories"
            )
            labelsets = sorted(scan.labelsets or {self.inputs.convert.default_labelset})
            existing = set(info.labelsets)
            for ls in labelsets:
                if ls in existing:
                    self.plan(f"label set {ls!r} exists")
                elif self._no_send and s.create_labelset:
                    self.plan(f"label set {ls!r} would be created (--create-labelset)")
                else:
                    await preflight.ensure_labelset(
                        client,
                        info,
                        ls,
                        create=s.create_labelset,
                        description=s.labelset_description,
                    )
                    existing.add(ls)
                    self.plan(f"label set {ls!r} created")
            count = info.raw.get("samples_count")
            samples_count = count if isinstance(count, int) else None
            # Sequence datasets: each sample's frame count, from the listings below
            # and by uuid (sampleshape.py).
            # Point-cloud segmentation: each sample's point counts too (pointcounts.py).
            counted = prep.converter.task_type in pointcounts.COUNTED_TASK_TYPES
            shapes = SampleShapes() if prep.converter.sequence is not None or counted else None
            on_sample = shapes.add if shapes is not None else None
            if scan.uses_names:
                # --match name with few names: one name__contains lookup each;
                # stem/path (and image keys) need every name, so they page.
                lookup = (
                    self.inputs.match == "name"
                    and not scan.keys
                    and not scan.names_overflow
                    and preflight.lookup_pays(len(scan.names), samples_count, client.concurrency)
                )
                if lookup:
                    self._index = await preflight.lookup_sample_index(
                        client, info.full_name, scan.names, on_sample=on_sample
                    )
                else:
                    self._index = await preflight.fetch_sample_index(
                        client, info.full_name, on_sample=on_sample
                    )
                self._matcher = Matcher(self._index, self.inputs.match)
                # Names are now samples: two rows of one sample are duplicates,
                # however they name it (found again, by resolved key).
                prep.resolve_names(self._matcher.uuid_for)
                how = (
                    f"looked up {len(scan.names):,} names one by one "
                    f"({len(self._index):,} samples contain one)"
                    if lookup
                    else f"resolved against {len(self._index):,} samples"
                )
                self.plan(f"sample names: {how} of {info.full_name} (--match {self.inputs.match})")
                if scan.keys:
                    matched, unmatched, examples = self._matcher.count(scan.keys)
                    line = f"images: {matched:,} match a sample, {unmatched:,} do not"
                    if examples:
                        line += " (e.g. " + ", ".join(repr(e) for e in examples) + ")"
                    self.plan(line)
            if counted and shapes is not None:
                self._point_counts = shapes.points
            if shapes is not None and prep.converter.sequence is not None:
                how = await fetch_shapes(
                    client,
                    info.full_name,
                    scan.uuids,
                    shapes,
                    samples_count=samples_count,
                    everything=scan.uuids_overflow,
                )
                multi = isinstance(prep.converter.sequence, SensorRules)
                prep.frames_of = shapes.sensor_frames if multi else shapes.frames
                self.plan(f"frame counts: {len(shapes):,} sequence samples ({how})")
            # The guard reads only the file's samples when they are few (same rule).
            guard_samples = preflight.guard_samples(
                self._file_samples(scan), samples_count, client.concurrency
            )
            journal = Journal(s.state) if s.state is not None else Journal()
            self.report.journal = str(journal.path)
            # The journal knows a dataset by its identity, not by its URL alone.
            key = info.identity(self.journal_host or client.host_key)
            with journal:
                # The guard last: its snapshot is as fresh as the preflight allows.
                await self._take_guard(
                    client, info.full_name, labelsets, existing, journal, key, guard_samples
                )
                self.plan(
                    f"journal: {journal.path} ({journal.count(key):,} labels recorded for "
                    "this dataset)" + ("" if s.resume else "; --no-resume: sending everything")
                )
                if self._no_send:
                    self._dry_run(prep, journal, key)
                else:
                    await self._upload(prep, client, journal, key)

    def _file_samples(self, scan: Scan) -> Iterator[str | None] | None:
        """The uuids the file's rows can write to (None: too many to have counted)."""
        if scan.sample_uuids_overflow or (scan.uses_names and scan.names_overflow):
            return None
        named = [*scan.names, *scan.keys]
        if named and self._matcher is None:
            return None
        resolve = self._matcher.uuid_for if self._matcher is not None else None
        return itertools.chain(scan.sample_uuids, map(resolve, named) if resolve else ())

    async def _take_guard(
        self,
        client: SegmentsClient,
        dataset: str,
        labelsets: list[str],
        existing: set[str],
        journal: Journal,
        key: str,
        samples: set[str] | None = None,
    ) -> None:
        from upload_preds import preflight

        s = self.settings
        guard = self._guard = preflight.Guard(
            client, dataset, overwrite=s.overwrite, samples=samples
        )
        if s.overwrite:
            self.plan("guard off (--overwrite): labels people worked on will be replaced")
        for ls in labelsets:
            check = s.resume and journal.count(key, ls) > 0
            if ls not in existing or (s.overwrite and not check):
                continue
            protected = await guard.snapshot(ls, keep_labels=check)
            if not s.overwrite:
                self.plan(
                    f"guard: {protected:,} samples in {ls!r} have labels people "
                    "worked on; they are skipped (--overwrite replaces them)"
                )
        if s.verify and not s.overwrite:
            self.plan("--verify: each label's status is read just before it is sent")

    def _dry_run(self, prep: Preparer, journal: Journal, key: str) -> None:
        from upload_preds.engine import skip_reason
        from upload_preds.journal import encode_body, payload_hash

        for job in self._items(prep):
            digest = payload_hash(encode_body(job.body()))
            reason = skip_reason(
                job,
                digest,
                journal=journal,
                dataset=key,
                guard=self._guard,
                resume=self.settings.resume,
            )
            self.counts.skip(reason or SKIP_WOULD_UPLOAD, len(job.locs))

    async def _upload(
        self, prep: Preparer, client: SegmentsClient, journal: Journal, key: str
    ) -> None:
        from upload_preds.engine import EngineConfig, UploadEngine

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
            on_event=self._on_event,
        )
        self._engine = engine
        ticker = asyncio.create_task(self._tick())
        if self.progress is not None:
            self.progress.start(self._total)
        try:
            with _signals(self._interrupt) if self.handle_signals else contextlib.nullcontext():
                result = await engine.run(self._items(prep))
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


def spool_rows(rows: Any, stack: contextlib.ExitStack) -> str:
    """Write an iterable of row dicts to a temporary JSONL file (for the Python API)."""
    fd, name = tempfile.mkstemp(prefix="upload-preds-rows-", suffix=".jsonl")
    stack.callback(os.unlink, name)
    with os.fdopen(fd, "wb") as out:
        for row in rows:
            out.write(orjson.dumps(row) + b"\n")
    return name


__all__ = [
    "Counts",
    "ProgressSink",
    "Run",
    "RunInputs",
    "Snapshot",
    "UploadReport",
    "run",
    "shard_of",
    "spool_rows",
]
