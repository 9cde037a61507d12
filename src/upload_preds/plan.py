"""The plan: what a dry run prints, counted from the stream the upload consumes.

:class:`Tally` adds up every item the pipeline hands out (labels by label set,
annotations by type and by category, failures by reason with a few examples,
skips, notices) in bounded memory: counts and a bounded number of examples,
never the rows themselves. Labels of the one-pass dry run
(:class:`~upload_preds.records.PlannedLabelJob`) carry their annotation types
and categories ready to count, so no annotation object is built for the plan;
:meth:`Tally.remove` takes back a label the one-pass dry run found to be a
duplicate after it was counted.
"""

from __future__ import annotations

import collections
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

from upload_preds.records import Failure, LabelJob, Notice, PlannedLabelJob, RowError, Skip

__all__ = ["EXAMPLES_PER_REASON", "MAX_NOTICES", "ReasonBucket", "Tally", "iter_annotations"]

#: How many example errors the plan keeps per reason, and notices in all.
EXAMPLES_PER_REASON = 5
MAX_NOTICES = 20


@dataclass(slots=True)
class ReasonBucket:
    count: int = 0
    examples: list[RowError] = field(default_factory=list)


def iter_annotations(attributes: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every annotation object in a label, whatever its task type's nesting."""
    anns = attributes.get("annotations")
    if isinstance(anns, list):
        yield from (a for a in anns if isinstance(a, dict))
    frames = attributes.get("frames")
    if isinstance(frames, list):
        for frame in frames:
            if isinstance(frame, dict):
                yield from iter_annotations(frame)
    sensors = attributes.get("sensors")
    if isinstance(sensors, list):
        for sensor in sensors:
            if isinstance(sensor, dict) and isinstance(sensor.get("attributes"), dict):
                yield from iter_annotations(sensor["attributes"])


def _count_py(counter: dict[Any, int], values: Iterable[Any]) -> None:
    for v in values:
        counter[v] = counter.get(v, 0) + 1


# collections.Counter.update's C helper, without update()'s per-call Mapping
# check; the pure-Python equivalent where the C helper is missing.
_count_elements: Callable[[dict[Any, int], Iterable[Any]], None] = getattr(
    collections, "_count_elements", _count_py
)
_GET_TYPE = itemgetter("type")
_GET_CATEGORY = itemgetter("category_id")


def _count_field(
    counter: dict[Any, int], anns: list[Any], get: itemgetter[Any], key: str, default: Any
) -> None:
    """``counter[a.get(key, default)] += 1`` for every object ``a`` in ``anns``, in C
    when every one has ``key``."""
    try:
        _count_elements(counter, map(get, anns))
    except (KeyError, TypeError):
        # The count stopped at the first annotation without the key (or not an
        # object); the ones before it are counted, the rest are counted here.
        done = 0
        for a in anns:
            if type(a) is not dict or key not in a:
                break
            done += 1
        _count_py(counter, (a.get(key, default) for a in anns[done:] if type(a) is dict))


@dataclass(slots=True)
class Tally:
    """The plan's counts, accumulated item by item; bounded memory.

    :meth:`add` runs once per label of a million-row file, so annotations are
    counted by C code: two ``Counter`` helper calls over ``map(itemgetter)``,
    one by type and one by category id (the plan shows them separately). No
    per-annotation tuple is made, and nothing is kept from one label to the
    next (holding objects back measured slower than counting them at once).
    """

    rows: int = 0
    labels: Counter[str] = field(default_factory=Counter)
    # Annotations by type ("segment" when a label's annotations have none) and
    # by category id, the two views below.
    _types: Counter[Any] = field(default_factory=Counter)
    _categories: Counter[Any] = field(default_factory=Counter)
    filtered_annotations: int = 0
    #: The run's --score-from rule (how a label without a score gets one), and how many
    #: labels got their score by it.
    score_from: str = "mean"
    scores_derived: int = 0
    #: Boxes of complete attributes whose corners were put in order.
    bbox_reordered: int = 0
    unresolved_names: int = 0
    object_scores_dropped: int = 0
    failed_rows: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    errors: dict[str, ReasonBucket] = field(default_factory=dict)
    notices: list[Notice] = field(default_factory=list)
    notice_count: int = 0

    @property
    def label_count(self) -> int:
        return sum(self.labels.values())

    @property
    def annotation_count(self) -> int:
        return sum(self._types.values())

    @property
    def annotations_by_type(self) -> Counter[str]:
        out: Counter[str] = Counter()
        for kind, n in self._types.items():
            out[str(kind)] += n
        return out

    @property
    def annotations_by_category(self) -> Counter[int]:
        out: Counter[int] = Counter()
        for cat, n in self._categories.items():
            if isinstance(cat, int):
                out[cat] += n
        return out

    def add(self, item: LabelJob | Failure | Skip | Notice) -> None:
        if isinstance(item, LabelJob):
            self.rows += len(item.locs)
            self.labels[item.labelset] += 1
            if type(item) is PlannedLabelJob:
                # What the plan counts, without building the label.
                cats = item.plan_categories
                if cats:
                    self._types[item.plan_type] += len(cats)
                    _count_elements(self._categories, cats)
            else:
                self._count_annotations(item.attributes)
            if item.filtered_annotations:
                self.filtered_annotations += item.filtered_annotations
            if item.score_derived:
                self.scores_derived += 1
            if item.bbox_reordered:
                self.bbox_reordered += item.bbox_reordered
            if item.sample_uuid is None:
                self.unresolved_names += 1
            if item.object_scores_dropped:
                self.object_scores_dropped += 1
        elif isinstance(item, Failure):
            self.rows += len(item.rows)
            self.failed_rows += len(item.rows)
            for err in item.errors:
                self.add_error(err)
        elif isinstance(item, Skip):
            self.rows += len(item.rows)
            self.skipped[item.reason] += len(item.rows)
        else:
            self.notice_count += 1
            if len(self.notices) < MAX_NOTICES:
                self.notices.append(item)

    def _count_annotations(self, attrs: dict[str, Any]) -> None:
        anns = attrs.get("annotations")
        if type(anns) is list and "frames" not in attrs and "sensors" not in attrs:
            # The common case, flat image or cuboid annotations.
            _count_field(self._types, anns, _GET_TYPE, "type", "segment")
            _count_field(self._categories, anns, _GET_CATEGORY, "category_id", None)
        else:
            flat = list(iter_annotations(attrs))
            _count_field(self._types, flat, _GET_TYPE, "type", "segment")
            _count_field(self._categories, flat, _GET_CATEGORY, "category_id", None)

    def remove(self, job: LabelJob) -> None:
        """Take back what :meth:`add` counted for ``job`` (a label that turned out
        not to be one: a duplicate row found after the one-pass dry run passed it)."""
        self.rows -= len(job.locs)
        _subtract(self.labels, [job.labelset])
        if type(job) is PlannedLabelJob:
            _subtract(self._types, [job.plan_type] * len(job.plan_categories))
            _subtract(self._categories, job.plan_categories)
            anns = []
        else:
            anns = list(iter_annotations(job.attributes))
        _subtract(self._types, [a.get("type", "segment") for a in anns])
        _subtract(self._categories, [a.get("category_id") for a in anns])
        self.filtered_annotations -= job.filtered_annotations
        self.scores_derived -= job.score_derived
        self.bbox_reordered -= job.bbox_reordered
        if job.sample_uuid is None:
            self.unresolved_names -= 1
        if job.object_scores_dropped:
            self.object_scores_dropped -= 1

    def add_error(self, err: RowError) -> None:
        bucket = self.errors.setdefault(err.reason, ReasonBucket())
        bucket.count += 1
        if len(bucket.examples) < EXAMPLES_PER_REASON:
            bucket.examples.append(err)


def _subtract(counter: Counter[Any], keys: Iterable[Any]) -> None:
    """Count ``keys`` out of ``counter``, dropping keys that reach zero (so the
    plan does not list a label set or category with nothing in it)."""
    for key in keys:
        left = counter[key] - 1
        if left > 0:
            counter[key] = left
        else:
            del counter[key]
