"""The preflight of a run that talks to an API: what the rows go to, found in order.

:func:`find_target` runs after the key is accepted and the input scanned
(:meth:`~upload_preds.pipeline.Preparer.scan`): dataset (given, or discovered
from a row's sample uuid) → its categories, which make the run's converter →
label sets exist (or are created with ``--create-labelset``; a run that sends
nothing only says it would) → the sample-name index (only when rows name their
samples), after which duplicates are found again by the samples names resolve
to → frame and point counts of the samples labels must fit
(:mod:`upload_preds.sampleshape`). It returns a :class:`Target`, and says each
step in a plan line. :func:`take_guard` comes last, after the journal is open:
its snapshot of labels people worked on is as fresh as the preflight allows.

The primitives (one request or listing each) are in :mod:`upload_preds.preflight`;
this module only orders them, as ``Run`` did, and is imported with the network
side, by runs that talk to an API.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from upload_preds import pointcounts, preflight
from upload_preds.client import SegmentsClient
from upload_preds.convert import Converter
from upload_preds.convert.categories import Categories
from upload_preds.convert.multisensor import SensorRules
from upload_preds.errors import SetupError
from upload_preds.journal import Journal
from upload_preds.matching import Matcher, MatchMode, key_stem
from upload_preds.pipeline import Preparer
from upload_preds.sampleshape import SampleShapes, fetch_shapes
from upload_preds.scan import Scan
from upload_preds.settings import Settings

__all__ = ["Target", "find_target", "take_guard"]


@dataclass(slots=True)
class Target:
    """What the preflight found: the dataset, its label sets, how names reach samples."""

    info: preflight.DatasetInfo
    #: The label sets the rows write to, sorted, and those that exist (or were created).
    labelsets: list[str]
    existing: set[str]
    samples_count: int | None
    index: preflight.SampleIndex | None = None
    matcher: Matcher | None = None
    #: A sample's point counts by uuid (point-cloud segmentation datasets).
    point_counts: Callable[[str | None], pointcounts.Counts | None] | None = None


async def find_target(
    client: SegmentsClient,
    prep: Preparer,
    scan: Scan,
    s: Settings,
    *,
    match: MatchMode,
    default_labelset: str,
    no_send: bool,
    converter: Callable[[Categories], Converter],
    plan: Callable[[str], None],
) -> Target:
    """Dataset, categories (``prep.converter``), label sets, samples: see the module."""
    full_name = s.dataset
    if full_name is None and scan.first_uuid is None and match == "uuid":
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
    try:
        cats = Categories.from_task_attributes(info.task_attributes, info.task_type)
    except ValueError as err:
        raise SetupError(
            f"dataset {info.full_name} has categories upload-preds cannot read: {err}",
            hint="check the dataset's task_attributes on the platform",
        ) from None
    prep.converter = converter(cats)
    plan(f"dataset {info.full_name}: task type {info.task_type}, {len(info.categories)} categories")
    labelsets = sorted(scan.labelsets or {default_labelset})
    existing = set(info.labelsets)
    for ls in labelsets:
        if ls in existing:
            plan(f"label set {ls!r} exists")
        elif no_send and s.create_labelset:
            plan(f"label set {ls!r} would be created (--create-labelset)")
        else:
            await preflight.ensure_labelset(
                client,
                info,
                ls,
                create=s.create_labelset,
                description=s.labelset_description,
            )
            existing.add(ls)
            plan(f"label set {ls!r} created")
    count = info.raw.get("samples_count")
    target = Target(info, labelsets, existing, count if isinstance(count, int) else None)
    await _find_samples(client, prep, scan, target, match, plan)
    return target


async def _find_samples(
    client: SegmentsClient,
    prep: Preparer,
    scan: Scan,
    target: Target,
    match: MatchMode,
    plan: Callable[[str], None],
) -> None:
    """The sample-name index and matcher, and the samples' frame and point counts."""
    info = target.info
    samples_count = target.samples_count
    assert prep.converter is not None
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
            match == "name"
            and not scan.keys
            and not scan.names_overflow
            and preflight.lookup_pays(len(scan.names), samples_count, client.concurrency)
        )
        if lookup:
            index = await preflight.lookup_sample_index(
                client, info.full_name, scan.names, on_sample=on_sample
            )
        else:
            index = await preflight.fetch_sample_index(client, info.full_name, on_sample=on_sample)
        matcher = target.matcher = Matcher(index, match)
        target.index = index
        # Names are now samples: two rows of one sample are duplicates,
        # however they name it (found again, by resolved key).
        prep.resolve_names(matcher.uuid_for)
        how = (
            f"looked up {len(scan.names):,} names one by one ({len(index):,} samples contain one)"
            if lookup
            else f"resolved against {len(index):,} samples"
        )
        plan(f"sample names: {how} of {info.full_name} (--match {match})")
        if scan.keys:
            matched, unmatched, examples = matcher.count(scan.keys)
            line = f"images: {matched:,} match a sample, {unmatched:,} do not"
            if examples:
                line += " (e.g. " + ", ".join(repr(e) for e in examples) + ")"
            plan(line)
    if counted and shapes is not None:
        target.point_counts = shapes.points
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
        plan(f"frame counts: {len(shapes):,} sequence samples ({how})")


def file_samples(scan: Scan, matcher: Matcher | None) -> Iterator[str | None] | None:
    """The uuids the file's rows can write to (None: too many to have counted)."""
    if scan.sample_uuids_overflow or (scan.uses_names and scan.names_overflow):
        return None
    named = [*scan.names, *scan.keys]
    if named and matcher is None:
        return None
    resolve = matcher.uuid_for if matcher is not None else None
    return itertools.chain(scan.sample_uuids, map(resolve, named) if resolve else ())


async def take_guard(
    client: SegmentsClient,
    target: Target,
    s: Settings,
    journal: Journal,
    key: str,
    samples: set[str] | None,
    plan: Callable[[str], None],
) -> preflight.Guard:
    """The guard's snapshot of every existing label set the rows write to."""
    guard = preflight.Guard(client, target.info.full_name, overwrite=s.overwrite, samples=samples)
    if s.overwrite:
        plan("guard off (--overwrite): labels people worked on will be replaced")
    for ls in target.labelsets:
        check = s.resume and journal.count(key, ls) > 0
        if ls not in target.existing or (s.overwrite and not check):
            continue
        protected = await guard.snapshot(ls, keep_labels=check)
        if not s.overwrite:
            plan(
                f"guard: {protected:,} samples in {ls!r} have labels people "
                "worked on; they are skipped (--overwrite replaces them)"
            )
    if s.verify and not s.overwrite:
        plan("--verify: each label's status is read just before it is sent")
    return guard
