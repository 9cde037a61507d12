"""Segmentation masks: rows of ``segmentation-bitmap`` datasets → one RGBA bitmap label.

A mask row carries either ``mask_path`` (an id image, relative to the rows
file's folder; ``mask_kind`` ``instance``: pixel = annotation id, listed in
``annotations`` with its category; ``class``: pixel = category id, one instance
per class) or annotations with a ``segmentation`` (a COCO RLE, or COCO polygons
that need the row's ``width`` and ``height``). :func:`build` checks the row,
paints every instance with :mod:`upload_preds.masks` (least confident first,
so the most confident wins overlaps), encodes the PNG and returns it as the
label's asset; the engine uploads it before the label.

Nothing of a mask's size is allocated before the size is checked against the
limits of :mod:`upload_preds.masks`; an oversized, undecodable or unsafe mask
(a FIFO, a path leaving the rows file's folder) is this row's error, never the
run's.
"""

from __future__ import annotations

from typing import Any

from upload_preds import masks
from upload_preds.convert.checks import (
    R_ATTRIBUTES,
    R_CATEGORY_ID,
    R_DUPLICATE_ID,
    R_INVALID,
    R_MISSING,
    R_UNKNOWN_FIELD,
    check_flat_map,
    checked_image_attributes,
    derive_score,
    image_size,
    is_num,
    num_err,
    score_key,
    short,
    store_score,
    suggest_key,
)
from upload_preds.convert.context import Built, Context
from upload_preds.records import Location, RowError

MASK_ANN_KEYS = frozenset({"id", "category_id", "category", "attributes", "score", "segmentation"})
MASK_FILE_ANN_KEYS = frozenset({"id", "category_id", "category", "attributes"})
MASK_KINDS = ("instance", "class")
R_MASK = "invalid mask"


def has_mask(data: dict[str, Any], anns: Any) -> bool:
    """Whether the row carries masks: ``mask_path``, or a ``segmentation`` in an annotation."""
    return "mask_path" in data or (
        type(anns) is list and any(type(a) is dict and "segmentation" in a for a in anns)
    )


def annotation_category(
    ctx: Context, a: dict[str, Any], where: str, loc: Location, errors: list[RowError]
) -> int | None:
    """An annotation's ``category_id`` or ``category`` (a name) → a checked category id;
    ``None`` with the problem appended."""
    cid = a.get("category_id")
    cname = a.get("category")
    if cid is not None and cname is not None:
        errors.append(
            RowError(loc, f"{where}.category", R_INVALID, "give either category_id or category")
        )
        return None
    if cid is not None:
        if type(cid) is not int or (ctx.ids is not None and cid not in ctx.ids):
            reason, msg = (
                ctx.category_id_problem(cid)
                if ctx.categories is not None or type(cid) is not int
                else (R_CATEGORY_ID, "")
            )
            errors.append(RowError(loc, f"{where}.category_id", reason, msg))
            return None
        return cid
    hit = ctx.names.get(cname) if type(cname) is str else None
    if hit is not None:
        return hit
    found = ctx.category_name(cname)
    if type(found) is tuple:
        errors.append(RowError(loc, f"{where}.category", found[0], found[1]))
        return None
    assert type(found) is int
    return found


def listed_instances(
    ctx: Context,
    anns: list[Any],
    loc: Location,
    errors: list[RowError],
    *,
    max_id: int,
    id_is: str,
    known: str,
) -> tuple[list[dict[str, Any]], dict[int, int]]:
    """The annotations of an id file (an instance mask, instance point labels), each
    ``{"id", "category" or "category_id", "attributes"}``: the checked annotations and
    each id's position in ``anns``; problems appended to ``errors``. ``id_is`` says what
    an id is, ``known`` where the fields are known ("with mask_path")."""
    out: list[dict[str, Any]] = []
    seen: dict[int, int] = {}
    for i, a in enumerate(anns):
        where = f"annotations[{i}]"
        if type(a) is not dict:
            errors.append(RowError(loc, where, R_INVALID, f"should be an object, got {short(a)}"))
            continue
        extra = [k for k in a if k not in MASK_FILE_ANN_KEYS]
        for k in extra:
            why = (
                "the pixels of a mask file cannot be filtered by score; leave low-score "
                "instances out of the PNG"
                if k == "score" and known == "with mask_path"
                else f"unknown field {known} (known: " + ", ".join(sorted(MASK_FILE_ANN_KEYS)) + ")"
            )
            errors.append(RowError(loc, f"{where}.{k}", R_UNKNOWN_FIELD, why))
        aid = a.get("id")
        if type(aid) is not int or not 0 < aid <= max_id:
            errors.append(
                RowError(loc, f"{where}.id", R_INVALID, f"should be {id_is}, got {short(aid)}")
            )
            continue
        if aid in seen:
            errors.append(
                RowError(
                    loc,
                    f"{where}.id",
                    R_DUPLICATE_ID,
                    f"id {aid} is already used by annotations[{seen[aid]}]",
                )
            )
            continue
        seen[aid] = i
        cid = annotation_category(ctx, a, where, loc, errors)
        at = a.get("attributes")
        if at is not None and type(check_flat_map(at)) is tuple:
            errors.append(
                RowError(loc, f"{where}.attributes", R_ATTRIBUTES, "should be a flat map")
            )
        if extra or cid is None:
            continue
        o: dict[str, Any] = {"id": aid, "category_id": cid}
        if at is not None:
            o["attributes"] = at
        out.append(o)
    return out, seen


def build(
    ctx: Context, data: dict[str, Any], anns: Any, loc: Location, errors: list[RowError]
) -> Built | None:
    """A segmentation-bitmap label from ``mask_path`` or per-annotation ``segmentation``,
    with its bitmap as the asset; ``None`` when the row has errors (appended)."""
    n_err = len(errors)
    size = image_size(data, loc, errors)
    image_attributes = checked_image_attributes(data, loc, errors)
    kind = data.get("mask_kind", "instance")
    if kind not in MASK_KINDS:
        errors.append(
            RowError(
                loc,
                "mask_kind",
                R_INVALID,
                f"should be 'instance' (pixels are annotation ids) or 'class' (pixels are "
                f"category ids), got {short(kind)}",
            )
        )
        return None
    mask_path = data.get("mask_path")
    result: tuple[list[dict[str, Any]], masks.Canvas | Any, float | None, int, bool] | None
    if mask_path is not None:
        result = _mask_file(ctx, mask_path, kind, anns, loc, errors)
    elif kind == "class":
        errors.append(RowError(loc, "mask_path", R_MISSING, "mask_kind 'class' needs mask_path"))
        return None
    else:
        result = _mask_segments(ctx, anns, size, loc, errors)
    if result is None or len(errors) > n_err:
        return None
    out, image, derived, filtered, dropped = result
    try:
        bitmap = masks.Bitmap.of(image)
    except OSError as exc:  # Pillow could not encode it: not expected for RGBA
        errors.append(RowError(loc, "mask_path", R_MASK, f"cannot encode the bitmap: {exc}"))
        return None
    label: dict[str, Any] = {
        "format_version": "0.1",
        "annotations": out,
        "segmentation_bitmap": bitmap.target,
    }
    if image_attributes is not None:
        label["image_attributes"] = image_attributes
    return Built(label, derived, filtered, dropped, bitmap)


def _mask_file(
    ctx: Context, mask_path: Any, kind: str, anns: Any, loc: Location, errors: list[RowError]
) -> tuple[list[dict[str, Any]], Any, float | None, int, bool] | None:
    if type(mask_path) is not str or not mask_path.strip():
        errors.append(
            RowError(loc, "mask_path", R_INVALID, f"should be a file path, got {short(mask_path)}")
        )
        return None
    try:
        with masks.open_mask_file(loc.file, mask_path) as fh:
            image = masks.id_planes_of_png(fh, mask_path)
    except masks.MaskError as exc:
        errors.append(RowError(loc, "mask_path", R_MASK, str(exc)))
        return None
    present = [i for i in masks.ids_in(image) if i]
    out: list[dict[str, Any]] = []
    if kind == "class":
        if anns is not None:
            errors.append(
                RowError(
                    loc,
                    "annotations",
                    R_INVALID,
                    "with mask_kind 'class' the annotations come from the pixel values "
                    "(category ids); leave 'annotations' out",
                )
            )
            return None
        for v in present:
            if ctx.ids is not None and v not in ctx.ids:
                errors.append(
                    RowError(
                        loc,
                        "mask_path",
                        R_CATEGORY_ID,
                        f"{mask_path}: pixel value {v} is not a category id of the dataset "
                        f"(it has: {ctx.categories.describe_ids() if ctx.categories else ''})",
                    )
                )
            else:
                out.append({"id": v, "category_id": v})
        return out, image, None, 0, False
    if type(anns) is not list:
        errors.append(
            RowError(
                loc,
                "annotations",
                R_MISSING if anns is None else R_INVALID,
                'an instance mask needs \'annotations\': [{"id": pixel value, "category": '
                "name}, ...] (or set mask_kind 'class')",
            )
        )
        return None
    out, seen = listed_instances(
        ctx,
        anns,
        loc,
        errors,
        max_id=masks.MAX_ID - 1,
        id_is="the instance's pixel value, an integer from 1 to 2^24 - 1",
        known="with mask_path",
    )
    unlisted = [v for v in present if v not in seen]
    if unlisted:
        shown = ", ".join(str(v) for v in unlisted[:10])
        errors.append(
            RowError(
                loc,
                "mask_path",
                R_MASK,
                f"{mask_path}: pixel values {shown} are not among the annotations' ids; "
                "list each instance id with its category",
            )
        )
    return out, image, None, 0, False


def _mask_segments(
    ctx: Context, anns: Any, size: tuple[int, int] | None, loc: Location, errors: list[RowError]
) -> tuple[list[dict[str, Any]], Any, float | None, int, bool] | None:
    if type(anns) is not list:
        errors.append(
            RowError(
                loc,
                "annotations",
                R_MISSING if anns is None else R_INVALID,
                "a segmentation row needs 'mask_path' or 'annotations' whose items carry a "
                "'segmentation' (COCO RLE or polygons)",
            )
        )
        return None
    n0 = len(errors)
    osa = ctx.osa
    min_score = ctx.min_score
    given: set[int] = set()
    checked: list[tuple[int, dict[str, Any], Any, float | None]] = []
    filtered = 0
    scored = False
    for i, a in enumerate(anns):
        where = f"annotations[{i}]"
        if type(a) is not dict:
            errors.append(RowError(loc, where, R_INVALID, f"should be an object, got {short(a)}"))
            continue
        bad = False
        for k in a:
            if k not in MASK_ANN_KEYS:
                bad = True
                errors.append(
                    RowError(
                        loc,
                        f"{where}.{k}",
                        R_UNKNOWN_FIELD,
                        "unknown field of a mask annotation (known: "
                        + ", ".join(sorted(MASK_ANN_KEYS))
                        + ")"
                        + suggest_key(k, MASK_ANN_KEYS),
                    )
                )
        aid = a.get("id")
        if aid is not None:
            if type(aid) is not int or not 0 < aid < masks.MAX_ID:
                bad = True
                errors.append(
                    RowError(
                        loc,
                        f"{where}.id",
                        R_INVALID,
                        f"should be an integer from 1 to 2^24 - 1 (it is the pixel value in "
                        f"the bitmap), got {short(aid)}",
                    )
                )
            elif aid in given:
                bad = True
                errors.append(
                    RowError(loc, f"{where}.id", R_DUPLICATE_ID, f"id {aid} is used twice")
                )
            else:
                given.add(aid)
        cid = annotation_category(ctx, a, where, loc, errors)
        seg = a.get("segmentation")
        if seg is None:
            bad = True
            errors.append(
                RowError(
                    loc,
                    f"{where}.segmentation",
                    R_MISSING,
                    'give the instance\'s mask: a COCO RLE {"size": [h, w], "counts": ...} '
                    "or polygons [[x1, y1, x2, y2, ...]]",
                )
            )
        s = a.get("score")
        if s is not None and not is_num(s):
            bad = True
            reason, msg = num_err(s)
            errors.append(RowError(loc, f"{where}.score", reason, msg))
            s = None
        at = a.get("attributes")
        if at is not None and type(check_flat_map(at)) is tuple:
            bad = True
            errors.append(
                RowError(loc, f"{where}.attributes", R_ATTRIBUTES, "should be a flat map")
            )
        if bad or cid is None:
            continue
        o: dict[str, Any] = {"category_id": cid}
        if at is not None:
            o["attributes"] = at
        if s is not None:
            if osa is not None:
                problem = store_score(o, osa, s)
                if problem is not None:
                    errors.append(RowError(loc, f"{where}.attributes", *problem))
                    continue
            if min_score is not None and s < min_score:
                filtered += 1
                continue
            scored = True
        checked.append((i, o, seg, s))
    if len(errors) > n0:
        return None
    # Sizes: every RLE has one; polygons use the row's width/height.
    for i, _o, seg, _s in checked:
        if isinstance(seg, dict):
            try:
                h, w = masks.rle_size(seg)
            except masks.MaskError as exc:
                errors.append(RowError(loc, f"annotations[{i}].segmentation", R_MASK, str(exc)))
                return None
            if size is None:
                size = (w, h)
            elif size != (w, h):
                errors.append(
                    RowError(
                        loc,
                        f"annotations[{i}].segmentation",
                        R_MASK,
                        f"the RLE is {w}x{h} pixels but the image is {size[0]}x{size[1]}",
                    )
                )
                return None
    if size is None:
        errors.append(
            RowError(
                loc,
                "width",
                R_MISSING,
                "polygon masks (and labels with no instance) need the image size: give the "
                "row's width and height",
            )
        )
        return None
    try:
        canvas = masks.Canvas(size[0], size[1])
    except masks.MaskError as exc:
        errors.append(RowError(loc, "width", R_MASK, str(exc)))
        return None
    # Ids: given ones kept; the others get the smallest numbers not given.
    next_id = 1
    out: list[dict[str, Any]] = []
    for i, o, _seg, _s in checked:
        aid = anns[i].get("id")
        if aid is None:
            while next_id in given:
                next_id += 1
            aid = next_id
            next_id += 1
        out.append({"id": aid, **o})
    # Paint the least confident first, so the most confident instance wins overlaps.
    order = sorted(range(len(checked)), key=lambda k: score_key(checked[k][3]))
    for k in order:
        i, _o, seg, _s = checked[k]
        try:
            mask = (
                masks.rle_mask(seg)
                if isinstance(seg, dict)
                else masks.polygon_mask(seg, size[0], size[1])
            )
            canvas.paint(out[k]["id"], mask)
        except masks.MaskError as exc:
            errors.append(RowError(loc, f"annotations[{i}].segmentation", R_MASK, str(exc)))
    if len(errors) > n0:
        return None
    derived = derive_score([s for *_, s in checked if s is not None], ctx.options.score_from)
    return out, canvas.image, derived, filtered, osa is None and (scored or filtered > 0)
