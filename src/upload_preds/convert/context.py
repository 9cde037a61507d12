"""The state one conversion run shares: options, categories, task type; label families.

:class:`Context` is built once per run (by :class:`~upload_preds.convert.converter.Converter`)
and handed to every function of the package: the options, the dataset's
categories with the lookup tables the hot paths use, and the task type. Its
methods turn category names and ids into checked ids or into an error message
that says what the dataset has.

:class:`Family` is what a label family module (``shapes``, ``cuboids``,
``bitmaps``...) gives the converter's dispatch table: a name and the function
that builds its label from a row; :class:`Built` is what that function returns.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from upload_preds import masks
from upload_preds.convert.categories import Categories
from upload_preds.convert.checks import (
    R_CATEGORY,
    R_CATEGORY_ID,
    R_INVALID,
    R_MISSING,
    R_NO_CATEGORIES,
    Err,
    short,
)
from upload_preds.convert.csvcells import CsvLayout
from upload_preds.convert.options import ConvertOptions
from upload_preds.errors import UsageError
from upload_preds.labelmodels import TASK_TYPES, label_kind
from upload_preds.records import Location, RowError


@dataclass(frozen=True, slots=True)
class Built:
    """A label family's label for one row, before the row's common fields are added."""

    label: dict[str, Any]
    #: The label score derived from the kept annotations' scores (``--score-from``).
    score: float | None
    #: Annotations dropped by ``--min-score``.
    filtered: int
    #: Annotation scores were given but have nowhere to go (no ``--object-score-attribute``).
    dropped: bool
    #: A file the label refers to (a segmentation bitmap), uploaded before the label.
    asset: masks.Bitmap | None = None


#: ``build(ctx, row, row["annotations"], loc, errors)``: the label, or ``None``
#: when the row has errors (appended to ``errors``).
BuildLabel = Callable[["Context", dict[str, Any], Any, Location, list[RowError]], "Built | None"]


@dataclass(frozen=True, slots=True)
class Family:
    """One label family, as the converter's dispatch table lists it."""

    #: How messages call its labels ("image vector").
    name: str
    build: BuildLabel
    #: Its rows carry masks (``mask_path``, ``segmentation``) instead of shapes.
    masks: bool = False
    #: Its rows carry per-point label files (``point_labels_path``) instead of shapes.
    points: bool = False
    #: A sequence family: the label kind of one frame, whose family checks the objects.
    frame_kind: str | None = None


class Context:
    """Options, categories and task type of one run, with the lookup tables of the hot paths."""

    def __init__(
        self,
        options: ConvertOptions,
        categories: Categories | None,
        task_type: str | None,
        build_attributes: Callable[[Any, Location], dict[str, Any]],
    ) -> None:
        """``task_type`` overrides the categories' task type (e.g. from ``--dataset``);
        ``build_attributes(row, loc)`` builds a planned label's attributes when read."""
        self.options = options
        self.categories = categories
        # "is not None": a multi-sensor dataset's Categories has no categories of its own
        # (len 0, so falsy) but does have a task type.
        tt = (
            task_type
            if task_type is not None
            else (categories.task_type if categories is not None else None)
        )
        self.task_type: str | None = tt or None
        self.kind = label_kind(self.task_type) if self.task_type else None
        if self.task_type is not None and self.kind is None:
            raise UsageError(
                f"the dataset's task type {self.task_type!r} is not one upload-preds can write "
                "labels for",
                hint="supported task types: " + ", ".join(sorted(TASK_TYPES)),
            )
        # Lookup tables for the hot paths: attribute reads are bound once per row.
        self.ids: frozenset[int] | None = (
            frozenset(categories.ids) if categories is not None else None
        )
        self.names: dict[str, int] = {}
        if categories is not None:
            for name in categories.names:
                m = categories.lookup(name)
                if m is not None and m.exact:
                    self.names[name] = m.id
        self.fmt = options.bbox_format
        self.min_score = options.min_score
        self.osa = options.object_score_attribute
        self.norm = options.normalized
        #: CSV headers seen → what their columns mean (see csvcells.CsvLayout).
        self.csv_layouts: dict[tuple[str, ...], CsvLayout] = {}
        # The fast path (fast.py) makes image vector labels only, from pixels; it reads
        # its settings in one go per row.
        self.fast_ok = self.kind in (None, "vector") and not self.norm
        self.fast_consts = (
            self.names,
            self.ids,
            self.min_score,
            self.osa,
            self.fmt,
            self.fmt == "xyxy",
            options.score_from is not None,
            options.default_labelset,
            options.label_status,
        )
        #: Set on the per-frame context of a sequence label (convert/sequences.py): its
        #: rows may carry frame, track_id and is_keyframe.
        self.sequence_frames = False
        #: How a PlannedLabelJob builds its attributes when they are read.
        self.build_attributes = build_attributes

    def category_name(self, cname: Any) -> int | Err:
        """A category name that is not an exact hit: case-insensitive match or an error."""
        if cname is None:
            return R_MISSING, "give category_id or category (a name)"
        if type(cname) is not str or not cname:
            return R_INVALID, f"should be a category name (a string), got {short(cname)}"
        cats = self.categories
        if cats is None:
            return R_NO_CATEGORIES, (
                f"category name {cname!r} needs the dataset's categories: pass --categories FILE "
                "(the dataset's task_attributes JSON) or --dataset OWNER/NAME, or give category_id"
            )
        match = cats.lookup(cname)
        if match is not None:
            return match.id
        if cats.is_ambiguous(cname):
            return R_CATEGORY, (
                f"several categories are named {cname!r} (up to case); give category_id instead"
            )
        close = cats.suggest(cname)
        hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        return R_CATEGORY, (
            f"unknown category {cname!r}{hint} (the dataset has: {cats.describe_ids()})"
        )

    def category_id_problem(self, cid: Any) -> Err:
        if type(cid) is not int:
            return R_INVALID, f"should be an integer, got {short(cid)}"
        return R_CATEGORY_ID, self.unknown_id_message(cid)

    def unknown_id_message(self, cid: Any) -> str:
        assert self.categories is not None
        return (
            f"category id {cid!r} is not in the dataset (it has: {self.categories.describe_ids()})"
        )
