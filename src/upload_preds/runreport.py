"""What a run reports: its counts, the progress snapshot, the versioned JSON report.

:class:`Counts` accounts for every input row exactly once (``rows == uploaded +
skipped + failed``), each skip and failure under its reason, with a few
``file:line sample: message`` examples per failure reason (:func:`example`,
:func:`failure_example`). :class:`UploadReport` is what :func:`upload_preds.run.run`
returns: the counts, the converted labels' :class:`~upload_preds.plan.Tally`, the
preflight's plan lines and how the run ended; :meth:`UploadReport.to_dict` is the
JSON report (``REPORT_VERSION``). A progress display is a :class:`ProgressSink`
fed :class:`Snapshot` values. The skip reasons a run gives itself are named here,
so that the report's renderer (:mod:`upload_preds.report`) can tell them apart.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from upload_preds.errors import ExitCode
from upload_preds.failuremessages import error_text
from upload_preds.plan import Tally
from upload_preds.printable import printable
from upload_preds.records import Location, RowError

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


def example(loc: Location, ref: str | None, message: str) -> str:
    """A summary example: ``file:line sample: message``, or ``file:line: message``."""
    return f"{loc} {ref}: {message}" if ref else f"{loc}: {message}"


def failure_example(e: RowError, data: Mapping[str, Any] | None) -> str:
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
    return example(e.loc, ref, error_text(e))


__all__ = ["Counts", "ProgressSink", "Snapshot", "UploadReport", "example", "failure_example"]
