"""The fast path: the commonest rows in as few operations as possible.

Measured in ``bench/bench_dry_run.py``/``bench_convert.py`` (README,
"Benchmarks"): the full path alone makes the dry run too slow for its budget
of 5x the orjson floor, so this module stays.

:func:`try_fast` takes a shorthand JSON row of bboxes with float coordinates,
categories by name or id, float scores, flat attribute maps and no explicit
ids, for image vector datasets (or an unknown task type) without
``--normalized``; :func:`csv_fast` takes a CSV record of one such box. Both
return ``None`` at the first thing they do not handle, error or not; the full
path (:func:`~.converter.convert_row`, :func:`~.csvrows.csv_annotation`) then
does the job and reports every problem. So this path only needs to be right
when it answers, and it must accept nothing the full path rejects: property
tests (``tests/convert/test_fast.py``) check that both give the same label
wherever it answers. Unknown keys are caught by counting: the row's length
must equal the number of known keys found.

With ``build`` false (plan mode, a dry run) the checks are the same, only the
annotation objects are not made: a :class:`~upload_preds.records.PlannedLabelJob`
builds them when its ``attributes`` are read.
"""

from __future__ import annotations

from typing import Any

from upload_preds.convert.checks import (
    INF,
    attr_value_ok,
    check_flat_map,
    derive_score,
    store_score,
)
from upload_preds.convert.context import Context
from upload_preds.convert.csvcells import CsvLayout, attr_cell
from upload_preds.convert.shapes import check_bbox
from upload_preds.labelmodels import LABEL_STATUSES
from upload_preds.records import LabelJob, Location, PlannedLabelJob

_FAST_ROW_KEYS = frozenset(
    {
        "sample_uuid",
        "sample_name",
        "labelset",
        "score",
        "label_status",
        "annotations",
        "image_attributes",
    }
)
_FAST_ANN_KEYS = frozenset({"category_id", "category", "type", "bbox", "score", "attributes"})


def fast_label(ctx: Context, data: Any, loc: Location, build: bool = True) -> LabelJob | None:
    """The common case only, in as few operations as possible: a shorthand row
    of bboxes with float coordinates, categories by name or id, float scores,
    optional attribute maps, no explicit ids.

    Returns ``None`` at the first thing it does not handle (anything else,
    including every kind of error); :func:`~.converter.convert_row` then does the full job
    and reports every problem. So this path only needs to be right when it
    succeeds, and it must accept nothing that ``convert_row`` would reject.
    Unknown keys are caught by counting: ``len(a)`` must equal the number of
    known keys found (an explicit ``null`` also falls back, harmlessly). With
    ``build`` false, a :class:`~upload_preds.records.PlannedLabelJob` (plan mode).
    """
    try:
        return try_fast(ctx, data, loc, build)
    except (TypeError, ValueError, KeyError):
        # An annotation that is not a dict, an unhashable category, a bbox that
        # does not unpack, a missing key: the full path explains it.
        return None


def try_fast(ctx: Context, data: Any, loc: Location, build: bool = True) -> LabelJob | None:
    # Everything below may raise TypeError/ValueError/KeyError on odd input.
    # With build False (plan mode) the checks are the same; only the
    # annotation objects are not made (see PlannedLabelJob).
    if type(data) is not dict:
        return None
    names, ids, min_score, osa, fmt, xyxy, keep_scores, default_labelset, default_status = (
        ctx.fast_consts
    )
    anns = data.get("annotations")
    uuid = data.get("sample_uuid")
    name: Any = None
    if len(data) == 2 and uuid is not None:
        # The commonest row, {"sample_uuid": ..., "annotations": [...]}, in
        # two lookups instead of seven.
        labelset: Any = default_labelset
        score: Any = None
        image_attributes: Any = None
        status: Any = default_status
        if type(anns) is not list:
            return None
    else:
        name = data.get("sample_name")
        labelset = data.get("labelset")
        score = data.get("score")
        image_attributes = data.get("image_attributes")
        status = data.get("label_status")
        if type(anns) is not list or len(data) != 2 + (labelset is not None) + (
            score is not None
        ) + (image_attributes is not None) + (status is not None):
            return None
        if labelset is None:
            labelset = default_labelset
        elif type(labelset) is not str or "/" in labelset or not labelset or labelset.isspace():
            return None
        if score is not None and not (type(score) is float and -INF < score < INF):
            return None
        if image_attributes is not None and type(check_flat_map(image_attributes)) is tuple:
            return None
        if status is None:
            status = default_status
        elif status not in LABEL_STATUSES:
            return None
    # "not x or x.isspace()" is "not x.strip()" without making a string.
    if uuid is not None:
        if name is not None or type(uuid) is not str or "/" in uuid or not uuid or uuid.isspace():
            return None
    elif type(name) is not str or "/" in name or not name or name.isspace():
        return None
    flt = float
    inf = INF
    # The annotation objects, or in plan mode their category ids.
    out: list[Any] = []
    append = out.append
    n = 0
    filtered = 0
    # The kept scores' count and sum (the default label score is their mean, summed
    # left to right as checks.derive_score does), and for --score-from max|min the
    # scores themselves.
    scored = 0
    score_sum = 0.0
    scores: list[float] = []
    for a in anns:
        # Not a dict, no bbox, an unknown or unhashable category name:
        # TypeError / KeyError, handled by fast_label.
        bb = a["bbox"]
        s = a.get("score")
        cname = a.get("category")
        at: Any = None
        if cname is not None and s is not None and len(a) == 3:
            # The commonest annotation: exactly bbox, category and score.
            cid = names[cname]
        else:
            at = a.get("attributes")
            t = a.get("type")
            # Unknown keys are caught by counting the known ones.
            if len(a) != 2 + (at is not None) + (s is not None) + (t is not None):
                return None
            if t is not None and t != "bbox":
                return None
            if cname is not None:
                cid = names[cname]
            else:
                cid = a["category_id"]
                if type(cid) is not int or (ids is not None and cid not in ids):
                    return None
            if at is not None and type(check_flat_map(at)) is tuple:
                return None
        x0, y0, x1, y1 = bb
        if (
            type(x0) is not flt
            or type(y0) is not flt
            or type(x1) is not flt
            or type(y1) is not flt
            or type(bb) is not list
        ):
            return None
        # Four floats: a sum holding an infinity or a NaN is not finite, and
        # x - x is 0.0 only for finite x (a finite sum that overflows falls
        # back, harmlessly).
        total = x0 + y0 + x1 + y1
        if total - total != 0.0:
            return None
        pts: Any = None
        if xyxy:
            # Corners in either order (all four are finite, so not < and not >
            # is ==); equal coordinates (zero area) fall back.
            if x1 < x0:
                x0, x1 = x1, x0
            elif x0 == x1:
                return None
            if y1 < y0:
                y0, y1 = y1, y0
            elif y0 == y1:
                return None
            if build:
                pts = [[x0, y0], [x1, y1]]
        else:
            pts = check_bbox(bb, fmt)
            if type(pts) is tuple:
                return None
        if s is not None:
            if type(s) is not flt or not -inf < s < inf:
                return None
            # A clash with --object-score-attribute is an error even on an
            # annotation that --min-score drops, as on the full path.
            if osa is not None and at is not None and osa in at and at[osa] != s:
                return None
            if min_score is not None and s < min_score:
                filtered += 1
                continue
            scored += 1
            score_sum += s
            if keep_scores:
                scores.append(s)
            if osa is not None:
                at = {osa: s} if at is None else {**at, osa: s}
        n += 1
        if not build:
            # Plan mode: the category ids are all the plan needs.
            append(cid)
        elif at is None:
            append({"id": n, "category_id": cid, "type": "bbox", "points": pts})
        else:
            append(
                {
                    "id": n,
                    "category_id": cid,
                    "type": "bbox",
                    "points": pts,
                    "attributes": at,
                }
            )
    derived = False
    if score is None and scored:
        how = ctx.options.score_from
        if how == "mean":
            score = score_sum / scored
            derived = True
        elif how != "none":
            score = derive_score(scores, how)
            derived = True
    if not build:
        return PlannedLabelJob(
            uuid,
            None if uuid is not None else name,
            labelset,
            status,
            score,
            (loc,),
            filtered,
            osa is None and (scored > 0 or filtered > 0),
            derived,
            "bbox",
            out,
            (ctx.build_attributes, data, loc),
        )
    label: dict[str, Any] = {"format_version": "0.1", "annotations": out}
    if image_attributes is not None:
        label["image_attributes"] = image_attributes
    return LabelJob(
        uuid,
        None if uuid is not None else name,
        labelset,
        status,
        label,
        score,
        (loc,),
        filtered,
        osa is None and (scored > 0 or filtered > 0),
        score_derived=derived,
    )


def csv_fast(ctx: Context, cells: dict[str, Any], layout: CsvLayout) -> dict[str, Any] | None:
    """The common CSV record (a box, a category, maybe a score and attribute
    columns), or ``None`` for anything else; like :func:`fast_label` for JSON rows,
    the full path then does the job and reports the problems."""
    assert layout.box is not None  # layout.fast implies box columns
    c0, c1, c2, c3 = layout.box
    try:
        a = float(cells[c0])
        b = float(cells[c1])
        c = float(cells[c2])
        d = float(cells[c3])
        text = cells.get("score")
        s = float(text) if text else None
    except (ValueError, TypeError):
        return None
    total = a + b + c + d + (s or 0.0)
    if total - total != 0.0:
        return None
    if layout.box_format == "xyxy":
        if a > c:
            a, c = c, a
        if b > d:
            b, d = d, b
        if a == c or b == d:
            return None
        pts: Any = [[a, b], [c, d]]
    else:
        pts = check_bbox([a, b, c, d], layout.box_format or ctx.fmt)
        if type(pts) is tuple:
            return None
    cname = cells.get("category")
    if cname:
        cid = ctx.names.get(cname)
        if cid is None or cells.get("category_id"):
            return None
    else:
        text = cells.get("category_id")
        if not text or not text.isdigit():
            return None
        cid = int(text)
        if ctx.ids is not None and cid not in ctx.ids:
            return None
    o: dict[str, Any] = {"category_id": cid, "type": "bbox", "points": pts}
    if layout.attrs:
        attrs: dict[str, Any] = {}
        for col, attr in layout.attrs:
            text = cells[col]
            if text:
                v = attr_cell(text)
                if not attr_value_ok(v):
                    return None
                attrs[attr] = v
        o["attributes"] = attrs
    payload: dict[str, Any] = {"a": o}
    if s is not None:
        payload["s"] = s
        osa = ctx.osa
        if osa is not None and store_score(o, osa, s) is not None:
            return None
    return payload
