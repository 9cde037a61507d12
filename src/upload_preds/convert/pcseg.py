"""Point-cloud segmentation: rows with ``point_labels_path`` → ``pointcloud-segmentation`` labels.

A row names a per-point label file (relative to the rows file's folder, as
``mask_path`` is) that :mod:`.pointlabels` reads. Its ids become the label's
``point_annotations`` (one id per point, 0 = unlabeled) and one annotation
``{"id", "category_id"}`` per distinct label of the file:

* ``semantickitti`` (default for ``.label``): one annotation per distinct
  (class, instance) pair; the class is the lower 16 bits.
* ``class`` (default for ``.npy``/``.txt`` without ``annotations``): one
  annotation per class.
* ``instance`` (default when the row lists ``annotations``): the ids are the
  annotations' own ids, each listed in ``annotations`` with its category (as
  for instance masks); an id the row does not list is an error.

Class ids become dataset categories through ``--category-map`` (model class
id → category name, or null: those points stay unlabeled), else they are
taken as the dataset's category ids; class 0 is unlabeled unless the map
names it. The number of ids must equal the point count when it is known
(``--points``). Every problem of a file is one row error naming the file, so
the other rows still upload.

:func:`point_label` is the part a sequence frame shares with a single label.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from upload_preds.convert import bitmaps
from upload_preds.convert.checks import (
    R_CATEGORY,
    R_CATEGORY_ID,
    R_INVALID,
    R_MISSING,
    Err,
    checked_image_attributes,
    short,
)
from upload_preds.convert.context import Built, Context
from upload_preds.records import Location, RowError

if TYPE_CHECKING:
    from upload_preds.convert import pointlabels

#: The row field of this family (the converter's known row keys include it).
POINT_ROW_KEYS = frozenset({"point_labels_path"})
R_POINT_LABELS = "invalid point labels"
#: The platform's point cloud segmentation labels are format 0.2.
FORMAT_VERSION = "0.2"


def has_point_labels(data: dict[str, Any]) -> bool:
    """Whether the row names a per-point label file."""
    return "point_labels_path" in data


def build(
    ctx: Context, data: dict[str, Any], anns: Any, loc: Location, errors: list[RowError]
) -> Built | None:
    """A ``pointcloud-segmentation`` label from the row's ``point_labels_path``; ``None``
    when the row has errors (appended)."""
    n_err = len(errors)
    image_attributes = checked_image_attributes(data, loc, errors)
    made = point_label(ctx, data.get("point_labels_path"), anns, loc, errors)
    if made is None or len(errors) > n_err:
        return None
    annotations, point_ids = made
    label: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "annotations": annotations,
        "point_annotations": point_ids,
    }
    if image_attributes is not None:
        label["image_attributes"] = image_attributes
    return Built(label, None, 0, False)


def point_label(
    ctx: Context,
    path: Any,
    anns: Any,
    loc: Location,
    errors: list[RowError],
    *,
    points: int | None = None,
    field: str = "point_labels_path",
    stable: bool = False,
) -> tuple[list[dict[str, Any]], list[int]] | None:
    """The annotations and ``point_annotations`` of one label file; ``points``: the
    point count it must match (else ``--points``); ``field``: how messages name it.

    ``stable``: an annotation's id is its label's own value (instance * 65,536 +
    class; the class id; the instance id), the same in every frame of a sequence,
    instead of 1, 2, 3... in the file's order."""
    if type(path) is not str or not path.strip():
        errors.append(RowError(loc, field, R_INVALID, f"should be a file path, got {short(path)}"))
        return None
    # (Imported here: it brings numpy, which a run without point labels does not need.)
    from upload_preds.convert import pointlabels

    kind = ctx.options.point_labels_kind or pointlabels.default_kind(path, anns is not None)
    if kind != "instance" and anns is not None:
        errors.append(
            RowError(
                loc,
                "annotations",
                R_INVALID,
                f"with {kind} point labels the annotations come from the file's ids; leave "
                "'annotations' out (or use --point-labels-kind instance)",
            )
        )
        return None
    try:
        values = pointlabels.read_values(loc.file, path)
        d = pointlabels.distinct(values, split=kind == "semantickitti")
    except pointlabels.PointLabelsError as exc:
        msg = str(exc)
        errors.append(
            RowError(loc, field, R_POINT_LABELS, msg if path in msg else f"{path}: {msg}")
        )
        return None
    expected = points if points is not None else ctx.options.points
    if expected is not None and d.n != expected:
        errors.append(
            RowError(
                loc,
                field,
                R_POINT_LABELS,
                f"{path} has {d.n:,} ids but the point cloud has {expected:,} points; give "
                "one id per point, in the point cloud's order",
            )
        )
        return None
    if kind == "instance":
        return _instances(ctx, path, d, anns, loc, errors, field)
    return _classes(ctx, path, d, loc, errors, field, stable)


def _classes(
    ctx: Context,
    path: str,
    d: pointlabels.Distinct,
    loc: Location,
    errors: list[RowError],
    field: str,
    stable: bool,
) -> tuple[list[dict[str, Any]], list[int]] | None:
    """Class (or SemanticKITTI class + instance) groups: one annotation each."""
    by_class: dict[int, int | Err] = {}
    unknown: dict[int, int] = {}  # class → points
    problems: list[Err] = []
    group_ids: list[int] = []
    out: list[dict[str, Any]] = []
    for g in d.groups:
        cid = by_class.get(g.cls)
        if cid is None:
            cid = by_class[g.cls] = _class_category(ctx, g.cls)
        if type(cid) is tuple:
            unknown[g.cls] = unknown.get(g.cls, 0) + g.points
            if cid not in problems:
                problems.append(cid)
            group_ids.append(0)
        elif cid == 0:
            group_ids.append(0)
        else:
            aid = g.instance << 16 | g.cls if stable else len(out) + 1
            out.append({"id": aid, "category_id": cid})
            group_ids.append(aid)
    if unknown:
        shown = ", ".join(f"{c} ({n:,} points)" for c, n in list(unknown.items())[:10])
        more = f" and {len(unknown) - 10} more" if len(unknown) > 10 else ""
        reason, detail = problems[0]
        errors.append(
            RowError(
                loc,
                field,
                reason,
                f"{path}: class ids {shown}{more} have no dataset category: {detail}",
            )
        )
        return None
    return out, d.point_ids(group_ids)


def _class_category(ctx: Context, cls: int) -> int | Err:
    """A model class id → a dataset category id, 0 (unlabeled) or why not."""
    cmap = ctx.options.class_map
    if cmap is not None:
        key = str(cls)
        if key not in cmap:
            if cls == 0:
                return 0
            return R_CATEGORY, (
                "not in --category-map; map each class id to a category name, or to null to "
                "leave its points unlabeled"
            )
        name = cmap[key]
        if name is None:
            return 0
        hit = ctx.names.get(name)
        if hit is not None:
            return hit
        found = ctx.category_name(name)
        if type(found) is tuple:
            return found[0], f"--category-map maps them to {name!r}: {found[1]}"
        assert type(found) is int
        return found
    if cls == 0:
        return 0
    if ctx.ids is not None and cls not in ctx.ids:
        assert ctx.categories is not None
        return R_CATEGORY_ID, (
            f"they are not category ids of the dataset (it has: "
            f"{ctx.categories.describe_ids()}); map the model's class ids with --category-map"
        )
    return cls


def _instances(
    ctx: Context,
    path: str,
    d: pointlabels.Distinct,
    anns: Any,
    loc: Location,
    errors: list[RowError],
    field: str,
) -> tuple[list[dict[str, Any]], list[int]] | None:
    """Instance ids: the row lists each with its category."""
    if type(anns) is not list:
        errors.append(
            RowError(
                loc,
                "annotations",
                R_MISSING if anns is None else R_INVALID,
                "instance point labels need 'annotations': [{\"id\": the points' id, "
                '"category": name}, ...] (or --point-labels-kind class)',
            )
        )
        return None
    from upload_preds.convert.pointlabels import MAX_ID

    n0 = len(errors)
    out, seen = bitmaps.listed_instances(
        ctx,
        anns,
        loc,
        errors,
        max_id=MAX_ID,
        id_is=f"the points' id in the file, from 1 to {MAX_ID}",
        known="of a point annotation",
    )
    unlisted = [g for g in d.groups if g.cls and g.cls not in seen]
    if unlisted:
        shown = ", ".join(f"{g.cls} ({g.points:,} points)" for g in unlisted[:10])
        more = f" and {len(unlisted) - 10} more" if len(unlisted) > 10 else ""
        errors.append(
            RowError(
                loc,
                field,
                R_POINT_LABELS,
                f"{path}: ids {shown}{more} are not among the annotations' ids; list each "
                "instance id with its category",
            )
        )
    if len(errors) > n0:
        return None
    return out, d.point_ids([g.cls for g in d.groups])
