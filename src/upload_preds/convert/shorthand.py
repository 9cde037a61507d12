"""The shorthand ``annotations`` list → one label of image vector shapes or cuboids.

:func:`build` checks each annotation (type, category, geometry from
:mod:`.shapes` or :mod:`.cuboids`, score, attributes, id) and collects every
error of the row; :func:`assemble` makes the label of the checked annotations
(CSV records use it too, through :mod:`.csvrows`). Rules:

* One kind per label: cuboids or 2-D shapes, as the task type says (either,
  but not mixed, when no task type is known). Point cloud vector labels
  (:mod:`.shapes3d`) take 3-D polygons, polylines and points, and cuboids
  beside them, as the SDK's model allows; they have no default ``type``.
* Annotation ids: given ids must be unique positive integers within a label;
  missing ids are numbered 1, 2, 3... in input order, skipping ids given
  explicitly to other annotations of the label (``[id 2, -, -]`` → 2, 1, 3).
  For CSV, input order is file order then line order.
* ``--min-score`` drops scored annotations below it (unscored ones are kept;
  dropped ones are still validated).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from upload_preds.convert.checks import (
    INT_MAX,
    NORMALIZED_NEEDS_SIZE,
    R_ATTRIBUTES,
    R_DUPLICATE_ID,
    R_INVALID,
    R_MISSING,
    R_MIXED,
    R_TASK_TYPE,
    R_UNKNOWN_FIELD,
    Err,
    check_flat_map,
    checked_image_attributes,
    derive_score,
    image_size,
    is_num,
    num_err,
    short,
    store_score,
    suggest_key,
)
from upload_preds.convert.context import Built, Context
from upload_preds.convert.cuboids import check_cuboid
from upload_preds.convert.shapes import shape_points
from upload_preds.convert.shapes3d import (
    FORMAT_VERSION_3D,
    KINDS_3D,
    SHAPES_3D,
    check_points3d,
    type_problem,
    where,
)
from upload_preds.labelmodels import LABEL_KIND_NAMES
from upload_preds.records import Location, RowError

_ANN_COMMON = {"category_id", "category", "type", "score", "attributes", "id"}
_ANN_BBOX = frozenset(_ANN_COMMON | {"points", "bbox"})
_ANN_SHAPE = frozenset(_ANN_COMMON | {"points"})
_ANN_CUBOID = frozenset(_ANN_COMMON | {"position", "dimensions", "yaw", "rotation"})
ANN_KEYS = _ANN_BBOX | _ANN_CUBOID
#: The keys each annotation type takes.
ANN_KEYS_OF_TYPE = {
    "bbox": _ANN_BBOX,
    "polygon": _ANN_SHAPE,
    "polyline": _ANN_SHAPE,
    "point": _ANN_SHAPE,
    "cuboid": _ANN_CUBOID,
}
SHAPES = ("bbox", "polygon", "polyline", "point", "cuboid")


@dataclass(slots=True)
class Problem:
    """A label-level problem found while assembling: which annotation, field, why.

    ``message`` may hold ``{other}``: the caller puts in how its input names the
    annotation ``other`` (``annotations[0]`` in a JSON row, ``line 12`` in CSV).
    """

    index: int
    field: str
    reason: str
    message: str
    other: int = 0


@dataclass(slots=True)
class Ann:
    """One checked annotation: the output object without its id, and what the label needs."""

    out: dict[str, Any]
    cuboid: bool
    score: float | None
    given_id: int | None
    kept: bool


def build(
    ctx: Context,
    data: dict[str, Any],
    anns: Any,
    loc: Location,
    errors: list[RowError],
) -> Built | None:
    """Check and convert a shorthand row; ``None`` when it has errors (appended)."""
    if type(anns) is not list:
        errors.append(
            RowError(
                loc,
                "annotations",
                R_INVALID,
                f"should be a list of objects, got {short(anns)}",
            )
        )
        return None
    n_err = len(errors)
    three_d = ctx.kind in KINDS_3D
    cuboids = ctx.kind == "pointcloud-cuboid"
    if three_d and ctx.norm:
        errors.append(
            RowError(
                loc,
                "annotations",
                R_INVALID,
                "--normalized scales image coordinates; point cloud coordinates are not "
                "fractions of a size: drop --normalized",
            )
        )
        return None
    image_attributes = checked_image_attributes(data, loc, errors)
    size: tuple[int, int] | None = None
    if "width" in data or "height" in data or ctx.norm:
        size = image_size(data, loc, errors)
        if size is None and ctx.norm and len(errors) == n_err:
            errors.append(RowError(loc, "width", R_MISSING, NORMALIZED_NEEDS_SIZE + " fields"))
    norm = size if ctx.norm else None
    out: list[Ann] = []
    # Bound once: attribute lookups on self cost in a loop of millions.
    fmt = ctx.fmt
    ids = ctx.ids
    names = ctx.names
    min_score = ctx.min_score
    osa = ctx.osa
    for i, a in enumerate(anns):
        if type(a) is not dict:
            errors.append(
                RowError(
                    loc, f"annotations[{i}]", R_INVALID, f"should be an object, got {short(a)}"
                )
            )
            continue
        bad = False
        # Point cloud vector labels have no default type (a 2-D bbox means nothing there);
        # in a cuboid dataset an annotation with a position is a cuboid (the one shape
        # its labels hold; a 2-D box there still reads "wrong shape for the task type").
        t = a.get("type", "" if three_d else "cuboid" if cuboids and "position" in a else "bbox")
        if three_d and t not in SHAPES_3D:
            errors.append(RowError(loc, f"annotations[{i}].type", *type_problem(t or None)))
            continue
        allowed = ANN_KEYS_OF_TYPE.get(t) if type(t) is str else None
        if allowed is not None:
            if not a.keys() <= allowed:
                bad = bad_keys(a, allowed, t, i, loc, errors)
        else:
            errors.append(
                RowError(
                    loc,
                    f"annotations[{i}].type",
                    R_INVALID,
                    f"should be one of {', '.join(SHAPES)}, got {short(t)}",
                )
            )
            continue
        # Category.
        cid = a.get("category_id")
        if cid is not None:
            if a.get("category") is not None:
                bad = True
                errors.append(
                    RowError(
                        loc,
                        f"annotations[{i}].category",
                        R_INVALID,
                        "give either category_id or category, not both",
                    )
                )
            elif type(cid) is not int or (ids is not None and cid not in ids):
                bad = True
                errors.append(
                    RowError(loc, f"annotations[{i}].category_id", *ctx.category_id_problem(cid))
                )
        else:
            cname = a.get("category")
            cid = names.get(cname) if type(cname) is str else None
            if cid is None:
                res = ctx.category_name(cname)
                if isinstance(res, tuple):
                    bad = True
                    reason, msg = res
                    field = "category" if cname is not None else "category_id"
                    errors.append(RowError(loc, f"annotations[{i}].{field}", reason, msg))
                else:
                    cid = res
        # Geometry.
        if t == "cuboid":
            cub = check_cuboid(a, i, loc, errors)
            if cub is None:
                bad = True
                o: dict[str, Any] = {}
            else:
                o = {"category_id": cid, "type": "cuboid", **cub}
        elif three_d:
            p3 = a.get("points")
            res3 = (
                check_points3d(p3, t)
                if p3 is not None
                else (None, R_MISSING, f"a {t} needs points")
            )
            if type(res3) is tuple:
                bad = True
                errors.append(
                    RowError(loc, where(f"annotations[{i}].points", res3), res3[1], res3[2])
                )
            o = {"category_id": cid, "type": t, "points": res3}
        else:
            field, pts = shape_points(a, t, fmt, norm)
            if type(pts) is tuple:
                bad = True
                errors.append(RowError(loc, f"annotations[{i}].{field}", pts[0], pts[1]))
            o = {"category_id": cid, "type": t, "points": pts}
        # Score, attributes, id.
        s = a.get("score")
        if s is not None and not is_num(s):
            bad = True
            reason, msg = num_err(s)
            errors.append(RowError(loc, f"annotations[{i}].score", reason, msg))
        at = a.get("attributes")
        if at is not None:
            checked = check_flat_map(at)
            if type(checked) is tuple:
                bad = True
                key, msg = checked
                f = f"annotations[{i}].attributes" + ("" if key is None else f".{key}")
                errors.append(RowError(loc, f, R_ATTRIBUTES, msg))
            else:
                o["attributes"] = at
        if osa is not None and s is not None and not bad:
            err = store_score(o, osa, s)
            if err is not None:
                bad = True
                errors.append(RowError(loc, f"annotations[{i}].attributes.{osa}", *err))
        given = a.get("id")
        if given is not None and not (type(given) is int and 1 <= given <= INT_MAX):
            bad = True
            errors.append(
                RowError(
                    loc,
                    f"annotations[{i}].id",
                    R_INVALID,
                    f"should be a positive integer, got {short(given)}",
                )
            )
        if not bad:
            out.append(
                Ann(
                    o,
                    t == "cuboid",
                    s,
                    given,
                    min_score is None or s is None or s >= min_score,
                )
            )
    if len(errors) > n_err:
        return None
    assembled = assemble(ctx, out)
    if isinstance(assembled, Problem):
        p = assembled
        msg = p.message.replace("{other}", f"annotations[{p.other}]")
        errors.append(RowError(loc, f"annotations[{p.index}].{p.field}", p.reason, msg))
        return None
    if image_attributes is not None:
        assembled.label["image_attributes"] = image_attributes
    return assembled


def bad_keys(
    a: dict[str, Any],
    allowed: frozenset[str],
    t: str,
    i: int,
    loc: Location,
    errors: list[RowError],
) -> bool:
    for k in a:
        if k in allowed:
            continue
        if k in ANN_KEYS:
            msg = f"'{k}' does not apply to type {t}"
            if k == "bbox":
                msg += "; give the shape's 'points' instead"
            elif t != "cuboid":
                msg += "; position, dimensions, yaw and rotation are for type cuboid"
            else:
                msg += "; a cuboid takes position, dimensions, yaw and optionally rotation"
        else:
            msg = "unknown field (known: " + ", ".join(sorted(allowed)) + ")"
            if k in ("confidence", "conf", "probability", "prob"):
                msg += "; the annotation's confidence goes in 'score'"
            else:
                msg += suggest_key(k, allowed)
        errors.append(RowError(loc, f"annotations[{i}].{k}", R_UNKNOWN_FIELD, msg))
    return True


def assemble(ctx: Context, anns: Sequence[Ann]) -> Built | Problem:
    """Checked annotations → (attributes, derived score, filtered, scores dropped),
    or the first label-level problem."""
    # One kind per label: cuboids or 2-D shapes, as the task type says. Point cloud
    # vector labels hold 3-D shapes and cuboids side by side.
    three_d = ctx.kind in KINDS_3D
    if anns and not three_d:
        want = ctx.kind
        first_cuboid = anns[0].cuboid if want is None else want == "pointcloud-cuboid"
        for i, a in enumerate(anns):
            if a.cuboid != first_cuboid:
                return Problem(i, "type", *_kind_error(ctx, a, anns[0]))
    given = [a.given_id for a in anns if a.given_id is not None]
    if given:
        seen: dict[int, int] = {}
        for i, a in enumerate(anns):
            if a.given_id is None:
                continue
            if a.given_id in seen:
                return Problem(
                    i,
                    "id",
                    R_DUPLICATE_ID,
                    f"id {a.given_id} is already used by {{other}} of the same label; ids "
                    "must be unique within a label",
                    seen[a.given_id],
                )
            seen[a.given_id] = i
    kept = [a for a in anns if a.kept]
    filtered = len(anns) - len(kept)
    if given:
        used = {a.given_id for a in kept if a.given_id is not None}
        nxt = 1
        for a in kept:
            if a.given_id is not None:
                a.out = {"id": a.given_id, **a.out}
                continue
            while nxt in used:
                nxt += 1
            a.out = {"id": nxt, **a.out}
            nxt += 1
        out = [a.out for a in kept]
    else:
        out = [{"id": n, **a.out} for n, a in enumerate(kept, 1)]
    cuboid = ctx.kind == "pointcloud-cuboid" or (ctx.kind is None and bool(anns) and anns[0].cuboid)
    version = FORMAT_VERSION_3D if three_d else "0.2" if cuboid else "0.1"
    label: dict[str, Any] = {"format_version": version, "annotations": out}
    score = derive_score([a.score for a in kept if a.score is not None], ctx.options.score_from)
    dropped = ctx.osa is None and any(a.score is not None for a in anns)
    return Built(label, score, filtered, dropped)


def _kind_error(ctx: Context, a: Ann, first: Ann) -> Err:
    shape = a.out.get("type", "cuboid")
    if ctx.kind is not None:
        need = "cuboids" if ctx.kind == "pointcloud-cuboid" else "2-D shapes"
        return R_TASK_TYPE, (
            f"a {shape} cannot go in a {LABEL_KIND_NAMES[ctx.kind]} label (task type "
            f"{ctx.task_type}): it takes {need}"
        )
    return R_MIXED, (
        f"a label cannot mix cuboids with 2-D shapes: this is a {shape}, {{other}} is a "
        f"{first.out.get('type')}"
    )
