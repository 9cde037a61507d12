"""The :class:`Converter`: one JSON row or group of CSV records → one label.

:func:`convert_row` checks a row's common fields (sample, label set, score,
status, unknown keys), then makes its label: complete ``attributes`` through
:mod:`.complete`, anything else through the label family that
:data:`LABEL_FAMILIES` names for the dataset's label kind (with no task type
known, masks pick :mod:`.bitmaps` and shapes the shorthand). A row either
becomes one label or all of its :class:`~upload_preds.records.RowError` values.

:class:`Converter` holds one run's :class:`~.context.Context`, tries the fast
path (:mod:`.fast`) first for image vector rows, and hands CSV records to
:mod:`.csvrows`. Adding a task type is one module with a ``build`` function and
one line in :data:`LABEL_FAMILIES` (see the package docstring).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from upload_preds.convert import (
    bitmaps,
    csvrows,
    multisensor,
    pcseg,
    segsequences,
    seqfast,
    seqlines,
    sequences,
    shorthand,
)
from upload_preds.convert.categories import Categories
from upload_preds.convert.checks import (
    R_INVALID,
    R_MISSING,
    R_SAMPLE,
    R_TASK_TYPE,
    R_UNKNOWN_FIELD,
    is_num,
    num_err,
    short,
    unknown_field,
    valid_labelset,
    valid_ref,
)
from upload_preds.convert.complete import full_attributes
from upload_preds.convert.context import Built, Context, Family
from upload_preds.convert.fast import fast_label
from upload_preds.convert.options import ConvertOptions
from upload_preds.labelmodels import LABEL_KIND_NAMES, LABEL_STATUSES
from upload_preds.records import LabelJob, Location, Record, RowError

ROW_KEYS = frozenset(
    {
        "sample_uuid",
        "sample_name",
        "labelset",
        "score",
        "label_status",
        "attributes",
        "annotations",
        "image_attributes",
    }
)
# Row fields of masks (see bitmaps.build) and the image size (masks, --normalized). Kept
# apart from ROW_KEYS, which mirrors the row models of --print-schema (rowschema.py).
MASK_ROW_KEYS = frozenset({"mask_path", "mask_kind", "width", "height"})
ALL_ROW_KEYS = ROW_KEYS | MASK_ROW_KEYS
#: Every field a row may have: with point-cloud segmentation's (pcseg.build).
KNOWN_ROW_KEYS = ALL_ROW_KEYS | pcseg.POINT_ROW_KEYS

#: The label families by the dataset's label kind (``models.label_kind`` of its task
#: type): the one table the converter dispatches rows through. A kind not listed
#: here can still be uploaded as complete ``attributes``.
LABEL_FAMILIES: dict[str, Family] = {
    "vector": Family("image vector", shorthand.build),
    "pointcloud-cuboid": Family("point cloud cuboid", shorthand.build),
    "segmentation-bitmap": Family("image segmentation bitmap", bitmaps.build, masks=True),
    "pointcloud-vector": Family("point cloud vector", shorthand.build),
    "pointcloud-segmentation": Family("point cloud segmentation", pcseg.build, points=True),
    # One row per frame, grouped (convert/segsequences.py).
    "pointcloud-segmentation-sequence": segsequences.family("pointcloud-segmentation-sequence"),
    "image-segmentation-sequence": segsequences.family("image-segmentation-sequence"),
}
# Sequence task types: per-frame rows grouped into one label (convert/sequences.py), for
# every sequence kind whose frame kind has a family above.
for _kind, _frame_kind in sequences.SEQUENCE_FRAME_KINDS.items():
    if _frame_kind in LABEL_FAMILIES:
        LABEL_FAMILIES[_kind] = Family(
            LABEL_KIND_NAMES[_kind], sequences.build, frame_kind=_frame_kind
        )
LABEL_FAMILIES["multisensor-sequence"] = Family("multi-sensor", multisensor.build)
#: A shorthand row when no task type is known: 2-D shapes or cuboids, by their ``type``.
ANY_SHAPES = Family("image vector or point cloud cuboid", shorthand.build)


def convert_row(ctx: Context, data: Any, loc: Location) -> LabelJob | list[RowError]:
    """The complete conversion: every rule, every error of the row."""
    if type(data) is not dict:
        return [
            RowError(
                loc,
                None,
                R_INVALID,
                f"a row should be a JSON object, got {type(data).__name__}",
            )
        ]
    errors: list[RowError] = []
    if not data.keys() <= KNOWN_ROW_KEYS:
        for k in data:
            if k not in KNOWN_ROW_KEYS:
                errors.append(
                    RowError(
                        loc,
                        str(k),
                        R_UNKNOWN_FIELD,
                        unknown_field(k, KNOWN_ROW_KEYS),
                    )
                )
    uuid, name = _sample(data, loc, errors)
    labelset = data.get("labelset")
    if labelset is None:
        labelset = ctx.options.default_labelset
    elif not valid_labelset(labelset):
        errors.append(
            RowError(
                loc,
                "labelset",
                R_INVALID,
                f"should be a non-empty label set name without '/', got {short(labelset)}",
            )
        )
    score = data.get("score")
    if score is not None and not is_num(score):
        reason, msg = num_err(score)
        errors.append(RowError(loc, "score", reason, msg))
    status = data.get("label_status")
    if status is None:
        status = ctx.options.label_status
    elif status not in LABEL_STATUSES:
        errors.append(
            RowError(
                loc,
                "label_status",
                R_INVALID,
                f"should be one of {', '.join(LABEL_STATUSES)}, got {short(status)}",
            )
        )
    attributes = data.get("attributes")
    anns = data.get("annotations")
    label: dict[str, Any] | None = None
    built: Built | None = None
    reordered = 0
    derived = False
    if attributes is not None:
        if anns is not None:
            errors.append(
                RowError(
                    loc,
                    "annotations",
                    R_INVALID,
                    "give either 'attributes' (a complete label) or 'annotations' "
                    "(shorthand), not both",
                )
            )
        elif data.get("image_attributes") is not None:
            errors.append(
                RowError(
                    loc,
                    "image_attributes",
                    R_INVALID,
                    "with 'attributes', put image_attributes inside the attributes object",
                )
            )
        else:
            label, reordered = full_attributes(ctx, attributes, loc, errors)
    else:
        family = _family(ctx, data, anns, loc, errors)
        if family is not None:
            built = family.build(ctx, data, anns, loc, errors)
            if built is not None:
                label = built.label
                if score is None:
                    score = built.score
                    derived = score is not None
    if errors or label is None:
        return errors or [RowError(loc, None, R_INVALID, "row could not be converted")]
    return LabelJob(
        sample_uuid=uuid,
        sample_name=name,
        labelset=labelset,
        label_status=status,
        attributes=label,
        score=score,
        locs=(loc,),
        filtered_annotations=built.filtered if built else 0,
        object_scores_dropped=built.dropped if built else False,
        extra={"asset": built.asset} if built and built.asset else {},
        bbox_reordered=reordered,
        score_derived=derived,
    )


def _family(
    ctx: Context, data: dict[str, Any], anns: Any, loc: Location, errors: list[RowError]
) -> Family | None:
    """The label family of a row without complete ``attributes``, from the table; or
    ``None`` with the reason appended to ``errors``."""
    family = LABEL_FAMILIES.get(ctx.kind) if ctx.kind is not None else None
    if pcseg.has_point_labels(data):
        if ctx.kind is None:  # no task type known: point labels make a segmentation label
            return LABEL_FAMILIES["pointcloud-segmentation"]
        if family is not None and family.points:
            return family
        errors.append(
            RowError(
                loc,
                "point_labels_path",
                R_TASK_TYPE,
                "point labels are for pointcloud-segmentation datasets; this one is "
                f"{ctx.task_type}",
            )
        )
        return None
    if family is not None and family.points:
        errors.append(
            RowError(
                loc,
                "point_labels_path",
                R_MISSING,
                "a point cloud segmentation row needs 'point_labels_path' (a .label, .npy or "
                ".txt file of per-point ids), or the complete label as 'attributes'",
            )
        )
        return None
    if bitmaps.has_mask(data, anns):
        if ctx.kind is None:  # no task type known: masks make a segmentation label
            return LABEL_FAMILIES["segmentation-bitmap"]
        if family is not None and family.masks:
            return family
        errors.append(
            RowError(
                loc,
                "mask_path" if "mask_path" in data else "annotations",
                R_TASK_TYPE,
                f"masks are for segmentation-bitmap datasets; this one is {ctx.task_type}",
            )
        )
    if anns is None:
        errors.append(
            RowError(
                loc,
                "annotations",
                R_MISSING,
                "a row needs 'annotations' (shorthand list of objects) or 'attributes' "
                "(a complete Segments label)",
            )
        )
        return None
    if ctx.kind is None:  # the shorthand tells 2-D shapes from cuboids by their type
        return ANY_SHAPES
    if family is None or family.masks:
        errors.append(
            RowError(
                loc,
                "annotations",
                R_TASK_TYPE,
                f"the shorthand cannot express a {ctx.task_type} label; give the complete "
                "label as 'attributes' instead"
                + (
                    ", or masks: 'mask_path', or a 'segmentation' (COCO RLE or polygons) "
                    "in each annotation"
                    if family is not None
                    else ""
                ),
            )
        )
        return None
    return family


def _sample(
    data: dict[str, Any], loc: Location, errors: list[RowError]
) -> tuple[str | None, str | None]:
    uuid = data.get("sample_uuid")
    name = data.get("sample_name")
    if uuid is not None and name is not None:
        errors.append(
            RowError(
                loc,
                "sample_name",
                R_SAMPLE,
                "give either sample_uuid or sample_name, not both",
            )
        )
        return None, None
    if uuid is not None:
        if valid_ref(uuid):
            return uuid, None
        errors.append(
            RowError(
                loc,
                "sample_uuid",
                R_SAMPLE,
                f"should be a non-empty string without '/', got {short(uuid)}",
            )
        )
    elif name is not None:
        if valid_ref(name):
            return None, name
        errors.append(
            RowError(
                loc,
                "sample_name",
                R_SAMPLE,
                f"should be a non-empty string without '/', got {short(name)}",
            )
        )
    else:
        errors.append(
            RowError(loc, "sample_uuid", R_SAMPLE, "missing: give sample_uuid or sample_name")
        )
    return None, None


class Converter:
    """Converts input records into labels; build one per run and reuse it."""

    def __init__(
        self,
        options: ConvertOptions,
        categories: Categories | None,
        *,
        task_type: str | None = None,
    ) -> None:
        """``task_type`` overrides the categories' task type (e.g. from ``--dataset``)."""
        self.ctx = Context(options, categories, task_type, self._attributes_of)
        self.options = options
        self.categories = categories
        self.task_type = self.ctx.task_type
        family = LABEL_FAMILIES.get(self.ctx.kind or "")
        #: How the lines of a sequence label are checked; None unless the dataset's
        #: task type is a sequence the converter can write (see :mod:`.sequences`).
        self.sequence: seqlines.FrameRules | multisensor.SensorRules | None = None
        self._sequence_keys: dict[tuple[Any, str, Any], str] = {}
        if family is not None and family.frame_kind is not None:
            frame_family = LABEL_FAMILIES[family.frame_kind]
            self.sequence = seqlines.FrameRules(self.ctx, family.frame_kind, frame_family.build)
        elif self.ctx.kind == "multisensor-sequence":  # rows name their sensor
            self.sequence = multisensor.SensorRules(self.ctx, LABEL_FAMILIES)

    # --- JSON / JSONL rows ------------------------------------------------------------

    def convert(self, record: Record) -> LabelJob | list[RowError]:
        """One JSON/JSONL row → one label, or every problem of the row."""
        loc, _, data = record
        ctx = self.ctx
        if ctx.fast_ok:
            job = fast_label(ctx, data, loc)
            if job is not None:
                return job
        return convert_row(ctx, data, loc)

    def plan(self, record: Record) -> LabelJob | list[RowError]:
        """:meth:`convert` for a run that only counts its labels (a dry run).

        Every row gets the same checks and the same verdict as from
        :meth:`convert`. A row the fast path takes comes back as a
        :class:`~upload_preds.records.PlannedLabelJob`: its annotation objects
        are not built (that costs more than checking them) until someone reads
        its ``attributes``; ``plan_type`` and ``plan_categories`` hold what the
        plan counts. Other rows come back as from :meth:`convert`.
        """
        loc, _, data = record
        ctx = self.ctx
        if ctx.fast_ok:
            job = fast_label(ctx, data, loc, False)
            if job is not None:
                return job
        return convert_row(ctx, data, loc)

    def _attributes_of(self, data: Any, loc: Location) -> dict[str, Any]:
        """The label attributes of a row that plan mode accepted, built now."""
        job = fast_label(self.ctx, data, loc)
        if job is None:  # not expected: the same row passed the same checks
            full = convert_row(self.ctx, data, loc)
            assert isinstance(full, LabelJob), full
            return full.attributes
        return job.attributes

    # --- CSV / TSV records ------------------------------------------------------------

    def csv_part(self, record: Record) -> tuple[str, dict[str, Any]] | RowError:
        """One CSV/TSV record → (group key, JSON payload); see :func:`csvrows.csv_part`."""
        return csvrows.csv_part(self.ctx, record)

    def convert_group(
        self, key: str, items: list[tuple[Location, dict[str, Any]]]
    ) -> LabelJob | list[RowError]:
        """All CSV payloads of one label → one label, or one error per line."""
        return csvrows.convert_group(self.ctx, key, items)

    # --- sequence datasets: rows and records are parts of a label ---------------------

    def sequence_key(self, record: Record) -> str | RowError | None:
        """The group key of a row or record of a sequence dataset (see
        :func:`.seqlines.part_key`); ``None`` for a complete label row whose sample
        reference is unusable (:meth:`convert` reports it)."""
        return seqlines.part_key(self.ctx, record, self._sequence_keys)

    def convert_sequence(
        self,
        key: str,
        items: list[tuple[Location, dict[str, Any]]],
        frames: int | Mapping[str, int] | None,
        on_duplicate: str = "error",
    ) -> LabelJob | list[RowError]:
        """All parts of one sequence label → the label, or one error per line.

        ``items`` are the grouped payloads: ``{"r": row}`` for a JSON row (``{"q":
        objects}`` for one the fast path checked when it was read),
        ``{"c": cells, "t": "csv" | "tsv"}`` for a CSV/TSV record; ``frames`` is the
        sample's frame count (None: unknown, the highest index + 1 is taken).
        """
        rules = self.sequence
        assert rules is not None, "convert_sequence() needs a sequence dataset"
        if frames is None:
            frames = self.options.frames
        # Rows checked when read come as compact objects ({"q": ...}, seqgroups.py).
        records: list[tuple[Location, Record | seqfast.Line]] = [
            (loc, seqfast.compact_line(loc, p["q"]))
            if "q" in p
            else (loc, Record(loc, p["t"], p["c"]) if "c" in p else Record(loc, "json", p["r"]))
            for loc, p in items
        ]
        count = frames if not isinstance(frames, Mapping) else None
        if isinstance(rules, seqlines.FrameRules) and rules.frame_kind == "vector":
            return sequences.convert_sequence(rules, key, records, count, on_duplicate)
        # Only image-box sequences take the fast path: the others have no compact lines.
        rows = [(loc, r) for loc, r in records if isinstance(r, Record)]
        if isinstance(rules, multisensor.SensorRules):
            return multisensor.convert(rules, key, rows, frames, on_duplicate)
        if rules.frame_kind in segsequences.FRAME_KINDS.values():
            return segsequences.convert_sequence(rules, key, rows, count, on_duplicate)
        return sequences.convert_sequence(rules, key, records, count, on_duplicate)
