"""The second pass's stream: items in, the jobs to send out, every other row accounted.

:meth:`JobStream.jobs` takes :meth:`~upload_preds.pipeline.Preparer.items`
(``LabelJob | Failure | Skip | Notice``) and yields only the labels that go
on: to the engine, to a dry run's count (:mod:`upload_preds.dryrun`) or to an
``--output-labels`` file. On the way, in order: the ``--shard`` filter, the
tally of the plan, the rows that kept a label set of their own, a sample name
resolved to its uuid (the matcher the preflight built), a local bitmap file
read as the label's asset (:mod:`upload_preds.labelsfile`), a segmentation
label held to its sample's point counts (:mod:`upload_preds.pointcounts`).
Whatever stops a row there is counted here, under its reason, with a
``file:line sample: message`` example, and written to the failures file; so
are the engine's outcomes (:meth:`JobStream.on_event`). ``Run`` creates the
stream and gives it what the preflight found (``matcher``, ``index``,
``point_counts``, ``dataset``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from upload_preds import pointcounts
from upload_preds.convert import R_LABEL_FAILED
from upload_preds.failuremessages import error_text, first_errors
from upload_preds.failures import FailureSink
from upload_preds.labelsfile import LabelsFile, attach_local_mask
from upload_preds.pipeline import Preparer
from upload_preds.plan import Tally
from upload_preds.records import Failure, LabelJob, Location, Notice, Skip, raw_rows
from upload_preds.runinputs import RunInputs, shard_of
from upload_preds.runreport import (
    EXAMPLES_PER_REASON,
    REASON_MASK_FILE,
    REASON_UNKNOWN_SAMPLE,
    SKIP_OTHER_SHARD,
    Counts,
    example,
    failure_example,
)
from upload_preds.settings import Settings

if TYPE_CHECKING:
    # The network side is imported only by runs that talk to an API (see run.py).
    from upload_preds import preflight
    from upload_preds.matching import Matcher
    from upload_preds.outcomes import EngineEvent

__all__ = ["JobStream"]


class JobStream:
    """One run's stream of jobs and its accounting (see the module docstring)."""

    def __init__(self, settings: Settings, inputs: RunInputs, counts: Counts, tally: Tally) -> None:
        self.settings = settings
        self.inputs = inputs
        self.counts = counts
        self.tally = tally
        self.failures: FailureSink | None = None
        self.labels_out: LabelsFile | None = None
        # What the preflight found: names → samples, point counts, the dataset's name.
        self.index: preflight.SampleIndex | None = None
        self.matcher: Matcher | None = None
        #: A sample's point counts by uuid (point-cloud segmentation datasets).
        self.point_counts: Callable[[str | None], pointcounts.Counts | None] | None = None
        self.dataset: str | None = None
        #: Set by an interrupt: the stream ends before the next item.
        self.stopping = False
        # Rows whose own label set is not the --labelset given, by set.
        self.own_sets: Counter[str] = Counter()

    def fail_rows(
        self,
        reason: str,
        rows: Sequence[tuple[Location, dict[str, Any]]],
        ref: str | None,
        message: str,
        loc: Location,
    ) -> None:
        self.counts.fail(reason, len(rows), example(loc, ref, message))
        if self.failures is not None:
            self.failures.add(rows, message)

    def on_failure(self, item: Failure) -> None:
        self.tally.add(item)
        # A CSV label's fine lines fail with "another line of the label failed": the
        # label counts under the reason of a line that is wrong, whichever line is first.
        first = next((e for e in item.errors if e.reason != R_LABEL_FAILED), item.errors[0])
        message = first_errors([error_text(e) for e in item.errors])
        data = dict(item.rows)
        # Counts.fail keeps at most EXAMPLES_PER_REASON examples of a reason.
        examples = [failure_example(e, data.get(e.loc)) for e in item.errors[:EXAMPLES_PER_REASON]]
        self.counts.fail(first.reason, len(item.rows), *examples)
        if self.failures is not None:
            self.failures.add(item.rows, message, item.errors)

    def jobs(self, prep: Preparer) -> Iterator[LabelJob]:
        """Jobs ready for the engine; everything else is accounted for here."""
        shard = self.settings.shard
        flag_set = self.inputs.convert.default_labelset
        own_sets = self.own_sets if self.inputs.labelset_given else None
        # Local bitmap files are read when something is sent or written (not by an
        # offline dry run, which reads each row once and takes labels back).
        check_masks = not (self.settings.dry_run and self.settings.api_key is None)
        for item in prep.items():
            if self.stopping:
                return
            if isinstance(item, Notice):
                self.tally.add(item)
                continue
            if isinstance(item, Failure):
                self.on_failure(item)
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
            if job.sample_uuid is None and self.matcher is not None:
                name = str(job.sample_name)
                uuid = self.matcher.uuid_for(name)
                if uuid is None:
                    self._unknown_sample(job, name)
                    continue
                job.sample_uuid = uuid
            if check_masks and not self._attach_local_mask(job):
                continue
            if self.point_counts is not None and not self._fits_point_counts(job):
                continue
            if self.labels_out is not None:
                self.labels_out.write(job)
            yield job

    def _fits_point_counts(self, job: LabelJob) -> bool:
        """Whether a point-cloud segmentation label has one id per point of its sample
        (when the sample says how many); else its rows fail here (pointcounts.py)."""
        assert self.point_counts is not None
        rows = raw_rows(job) or tuple((loc, {}) for loc in job.locs)
        problem = pointcounts.check(job.attributes, self.point_counts(job.sample_uuid), rows)
        if problem is None:
            return True
        loc, message = problem
        ref = job.sample_name if job.sample_name is not None else job.sample_ref
        self.fail_rows(pointcounts.REASON_POINT_COUNT, rows, ref, message, loc or job.loc)
        return False

    def _attach_local_mask(self, job: LabelJob) -> bool:
        """A label whose bitmap url is a local file gets that PNG as its asset
        (:func:`~upload_preds.labelsfile.attach_local_mask`); False (the label
        failed, accounted here) when the file cannot be read or is not a PNG."""
        problem = attach_local_mask(job)
        if problem is None:
            return True
        self.fail_rows(
            REASON_MASK_FILE,
            raw_rows(job) or tuple((loc, {}) for loc in job.locs),
            # The sample as the row names it (a resolved name now has a uuid too).
            job.sample_name if job.sample_name is not None else job.sample_ref,
            problem,
            job.loc,
        )
        return False

    def _unknown_sample(self, job: LabelJob, name: str) -> None:
        assert self.index is not None
        assert self.matcher is not None
        if self.matcher.mode != "name":
            message = self.matcher.why_not(name, self.dataset)
        elif name.strip() in self.index.duplicates:
            message = f"sample name {name!r} is used by several samples; give sample_uuid instead"
        else:
            near = self.index.suggest(name.strip())
            message = f"no sample named {name!r} in {self.dataset}"
            other = self.matcher.other_match(name)
            if other:
                message += other
            elif near:
                message += "; did you mean " + ", ".join(repr(n) for n in near) + "?"
        self.fail_rows(
            REASON_UNKNOWN_SAMPLE,
            raw_rows(job) or tuple((loc, {}) for loc in job.locs),
            name,
            message,
            job.loc,
        )

    def on_event(self, ev: EngineEvent) -> None:
        from upload_preds.outcomes import EventKind

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
            self.fail_rows(str(ev.reason), rows, job.sample_ref, message, job.loc)

    def own_labelset_warning(self) -> str | None:
        """One warning for the rows that named a label set other than ``--labelset``.

        The row's set wins, as documented, but an ``--output-labels`` file fed
        back with ``--labelset X`` names a set in every row: without a word the
        flag would look ignored.
        """
        if not self.own_sets:
            return None
        n = sum(self.own_sets.values())
        sets = ", ".join(f"{ls!r} ({k:,})" for ls, k in self.own_sets.most_common(3))
        if len(self.own_sets) > 3:
            sets += f" and {len(self.own_sets) - 3} more"
        flag = self.inputs.convert.default_labelset
        return (
            f"{n:,} row(s) kept the label set they name, not --labelset {flag!r}: {sets}; "
            "a row's 'labelset' wins over the flag: remove or change it in the rows "
            f"to send them to {flag!r}"
        )
