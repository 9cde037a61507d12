"""What a run that sends nothing counts: the offline dry run and the dry run with an API.

Both take the run's stream of labels (``JobStream.jobs``: shard filter, name →
uuid, failures and skips already accounted for) and put every label's rows
under one skip reason.

* :func:`count_single_pass`, offline (no API, ``--dry-run``): the input is read
  once (:meth:`~upload_preds.pipeline.Preparer.single_pass`), and labels that
  turn out to be duplicates are taken back at the end (``retract``). There is
  no progress display offline, so no pass to count rows.
* :func:`count_would_upload`, with an API: each label is classified as the
  engine would (:func:`upload_preds.outcomes.skip_reason`: already uploaded,
  protected), else "would upload".
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING

from upload_preds.pipeline import Preparer
from upload_preds.plan import Tally
from upload_preds.records import LabelJob
from upload_preds.runinputs import shard_of
from upload_preds.runreport import SKIP_OTHER_SHARD, SKIP_WOULD_UPLOAD, Counts

if TYPE_CHECKING:
    # The network side is imported only by runs that talk to an API (see run.py).
    from upload_preds.journal import Journal
    from upload_preds.preflight import Guard

__all__ = ["count_single_pass", "count_would_upload"]


def count_single_pass(
    prep: Preparer,
    items: Callable[[Preparer], Iterator[LabelJob]],
    counts: Counts,
    tally: Tally,
    *,
    reason: str,
    shard: tuple[int, int] | None,
) -> None:
    """Count every label of ``items(prep)`` under ``reason``, reading the input once."""
    held = 0  # rows of the labels passed so far, added to counts in one go

    def retract(job: LabelJob) -> None:
        # Undo what JobStream.jobs did with this label (shard skip, or tally) and
        # what the loop below did (its rows).
        nonlocal held
        rows = len(job.locs)
        if shard is not None and shard_of(job.sample_ref.strip(), shard[1]) != shard[0]:
            counts.rows -= rows
            counts.skipped[SKIP_OTHER_SHARD] -= rows
            if counts.skipped[SKIP_OTHER_SHARD] <= 0:
                del counts.skipped[SKIP_OTHER_SHARD]
        else:
            tally.remove(job)
            held -= rows

    prep.single_pass(retract)
    try:
        for job in items(prep):
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


def count_would_upload(
    jobs: Iterable[LabelJob],
    counts: Counts,
    *,
    journal: Journal,
    key: str,
    guard: Guard | None,
    resume: bool,
) -> None:
    """Count each label under the reason the engine would skip it for, or "would upload"."""
    from upload_preds.journal import encode_body, payload_hash
    from upload_preds.outcomes import skip_reason

    for job in jobs:
        digest = payload_hash(encode_body(job.body()))
        reason = skip_reason(job, digest, journal=journal, dataset=key, guard=guard, resume=resume)
        counts.skip(reason or SKIP_WOULD_UPLOAD, len(job.locs))
