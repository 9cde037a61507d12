"""What becomes of each job the engine takes: events, skip reasons, the result.

Every job ends in exactly one outcome (uploaded, failed with a reason,
skipped with a reason), told to the caller as an :class:`EngineEvent` through
the ``on_event`` callback and counted in :class:`EngineResult`;
:class:`EngineStats` is the cheap snapshot a progress display polls.

:func:`skip_reason` is the one place that decides whether a resolved job is
sent (the engine's feeder and the dry run both ask): the journal ("already
uploaded", confirmed by the guard), then the guard or the static protected
set ("protected"). :class:`OutcomeRecorder` is the part of
:class:`~upload_preds.engine.UploadEngine` that records failures, skips and
an abort (a mixin: the engine holds the state it names).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Container
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from upload_preds.errors import AbortError
from upload_preds.records import LabelJob

if TYPE_CHECKING:
    # Annotations only: the jobs' accounting imports this module without the
    # network side (the guard's module imports the client).
    from upload_preds.journal import Journal
    from upload_preds.preflight import Guard

__all__ = [
    "SETTLED",
    "SKIP_ALREADY_UPLOADED",
    "SKIP_INTERRUPTED",
    "SKIP_NOT_SENT",
    "SKIP_PROTECTED",
    "EngineEvent",
    "EngineResult",
    "EngineStats",
    "EventCallback",
    "EventKind",
    "OutcomeRecorder",
    "skip_reason",
]

# Skip reasons (stable keys for the summary and the JSON report).
SKIP_ALREADY_UPLOADED = "already uploaded"
SKIP_PROTECTED = "protected"
SKIP_NOT_SENT = "not sent (run stopped)"
SKIP_INTERRUPTED = "interrupted (outcome unknown, a rerun resends it)"
#: Skips after which this run sends no label of the sample (the guard stops reading it).
SETTLED = frozenset({SKIP_ALREADY_UPLOADED, SKIP_PROTECTED})


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


class OutcomeRecorder:
    """Counts a job's failure or skip in :attr:`result` and tells ``on_event``;
    an abort is kept in the result and stops the run (see ``request_stop``)."""

    result: EngineResult
    guard: Guard | None
    on_event: EventCallback | None
    request_stop: Callable[[], None]

    def _failed(self, job: LabelJob, reason: str, message: str, status: int | None) -> None:
        failed = self.result.failed
        failed[reason] = failed.get(reason, 0) + 1
        if self.on_event is not None:
            self.on_event(EngineEvent(EventKind.FAILED, job, reason, message, status))

    def _skipped(self, job: LabelJob, reason: str, message: str | None = None) -> None:
        skipped = self.result.skipped
        skipped[reason] = skipped.get(reason, 0) + 1
        guard = self.guard
        if guard is not None and job.sample_uuid is not None and reason in SETTLED:
            guard.settle(job.sample_uuid, job.labelset)  # no PUT will follow: read no more
        if self.on_event is not None:
            self.on_event(EngineEvent(EventKind.SKIPPED, job, reason, message))

    def _abort(self, error: AbortError) -> None:
        if self.result.abort is None:
            self.result.abort = error
        self.request_stop()
