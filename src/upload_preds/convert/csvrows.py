"""CSV/TSV records → labels: one annotation per record, grouped by sample and label set.

:func:`csv_part` turns a record into ``(group key, payload)``: the key names
(label set, sample); the payload is the checked annotation (or the line's
errors) as plain JSON, so the grouping stage may spill it to disk. Box records
go through :func:`~.fast.csv_fast` first. :func:`convert_group` turns all
payloads of one key into one label with :func:`~.shorthand.assemble`; if any
line is bad the whole label fails, and every line gets exactly one error (its
own, or "not uploaded because line N of the same label failed").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import orjson

from upload_preds.convert.checks import (
    NORMALIZED_NEEDS_SIZE,
    R_ATTRIBUTES,
    R_COLUMNS,
    R_INVALID,
    R_LABEL_FAILED,
    R_MISSING,
    R_SAMPLE,
    Err,
    attr_value_ok,
    scale_points,
    short,
    store_score,
)
from upload_preds.convert.context import Context
from upload_preds.convert.csvcells import (
    CsvLayout,
    attr_cell,
    json_cell,
    parse_int,
    parse_num,
)
from upload_preds.convert.cuboids import cuboid_cells
from upload_preds.convert.fast import csv_fast
from upload_preds.convert.shapes import check_bbox, check_points
from upload_preds.convert.shapes3d import KINDS_3D, SHAPES_3D, points_cells, type_problem
from upload_preds.convert.shorthand import SHAPES, Ann, Problem, assemble
from upload_preds.records import LabelJob, Location, Record, RowError

_T = TypeVar("_T")


def csv_part(ctx: Context, record: Record) -> tuple[str, dict[str, Any]] | RowError:
    """One CSV/TSV record → (group key, JSON payload), or an error when the record
    names no usable sample (so it belongs to no label).

    A record with a usable sample but a bad annotation still returns its key: the
    payload then holds the errors, so that :meth:`convert_group` fails the whole
    label rather than upload it without this annotation.
    """
    loc = record.loc
    cells = record.data
    layout = ctx.csv_layouts.get(tuple(cells))
    if layout is None:
        layout = CsvLayout(list(cells), ctx.fmt)
        if len(ctx.csv_layouts) < 64:
            ctx.csv_layouts[tuple(cells)] = layout
    if layout.sequence and not ctx.sequence_frames:
        col = layout.sequence[0]
        return RowError(
            loc,
            col,
            R_COLUMNS,
            f"column {col} is for sequence datasets; this one is "
            f"{ctx.task_type or 'not known to be one (pass --dataset or --categories)'}",
        )
    # The key: sample and label set.
    uuid = (cells.get("sample_uuid") or "").strip()
    name = cells.get("sample_name") or ""
    if uuid and name.strip():
        return RowError(
            loc, "sample_name", R_SAMPLE, "give either sample_uuid or sample_name, not both"
        )
    if uuid:
        ref_kind, ref = "u", uuid
    elif name.strip():
        ref_kind, ref = "n", name
    else:
        col = "sample_name" if "sample_name" in cells else "sample_uuid"
        return RowError(loc, col, R_SAMPLE, "empty: every line needs a sample_uuid or sample_name")
    if "/" in ref:
        col = "sample_uuid" if ref_kind == "u" else "sample_name"
        return RowError(loc, col, R_SAMPLE, f"should not contain '/', got {short(ref)}")
    labelset = (cells.get("labelset") or "").strip() or ctx.options.default_labelset
    if "/" in labelset:
        return RowError(
            loc,
            "labelset",
            R_INVALID,
            f"should be a label set name without '/', got {labelset!r}",
        )
    key = orjson.dumps([labelset, ref_kind, ref]).decode()
    for col in layout.segmentation:  # a frame's column in an object's line: not read
        if (cells.get(col) or "").strip():
            return key, {"e": [[col, R_COLUMNS, _segmentation_only(ctx, col)]]}
    if layout.fast and not ctx.norm and ctx.kind not in KINDS_3D:
        fast = csv_fast(ctx, cells, layout)
        if fast is not None:
            return key, fast
    errs: list[list[str]] = [[c, R_COLUMNS, m] for c, m in layout.problems]
    payload = csv_annotation(ctx, cells, layout, errs)
    if errs:
        return key, {"e": errs}
    assert payload is not None
    return key, payload


def _segmentation_only(ctx: Context, col: str) -> str:
    return (
        f"column {col} is for the frame lines of segmentation sequences (or segmentation "
        f"sensors); this line is an object of a {ctx.task_type or 'dataset of unknown type'} "
        "label: leave it empty"
    )


def _csv_scale(
    cells: dict[str, Any],
    pts: list[list[float]],
    where: str,
    fail: Callable[[str, Err], None],
) -> list[list[float]] | None:
    """--normalized: the points scaled by the record's width and height columns."""
    size: list[int] = []
    for col in ("width", "height"):
        text = (cells.get(col) or "").strip()
        if not text:
            fail(col, (R_MISSING, NORMALIZED_NEEDS_SIZE + " columns"))
            return None
        v = parse_num(text)
        if isinstance(v, tuple) or not (v.is_integer() and v > 0):
            fail(col, (R_INVALID, f"should be the image {col} in pixels, got {text!r}"))
            return None
        size.append(int(v))
    scaled = scale_points(pts, (size[0], size[1]))
    if isinstance(scaled, tuple):
        fail(where, scaled)
        return None
    return scaled


def csv_annotation(
    ctx: Context, cells: dict[str, Any], layout: CsvLayout, errs: list[list[str]]
) -> dict[str, Any] | None:
    def fail(col: str, e: Err | tuple[str, str]) -> None:
        errs.append([col, e[0], e[1]])

    three_d = ctx.kind in KINDS_3D
    t = (cells.get("type") or "").strip() or (
        "cuboid" if layout.cuboid else "" if three_d else "bbox"
    )
    if three_d and t not in SHAPES_3D:
        fail("type", type_problem(t or None))
        return None
    if t not in SHAPES:
        fail("type", (R_INVALID, f"should be one of {', '.join(SHAPES)}, got {t!r}"))
        return None
    # Category.
    cid_text = (cells.get("category_id") or "").strip()
    cname = (cells.get("category") or "").strip()
    cid: Any = None
    if cid_text and cname:
        fail("category", (R_INVALID, "give either category_id or category, not both"))
    elif cid_text:
        cid = parse_int(cid_text)
        if cid is None or (ctx.ids is not None and cid not in ctx.ids):
            fail("category_id", ctx.category_id_problem(cid if cid is not None else cid_text))
    else:
        cid = ctx.names.get(cname) if cname else None
        if cid is None:
            found = ctx.category_name(cname or None)
            if isinstance(found, tuple):
                fail("category" if cname or "category" in cells else "category_id", found)
            else:
                cid = found
    # Geometry.
    o: dict[str, Any] = {"category_id": cid, "type": t}
    if t == "cuboid" and layout.cuboid:
        cuboid_cells(cells, layout, o, fail)
    elif three_d and t != "cuboid":
        points_cells(cells, layout, t, o, fail)
    elif layout.cuboid:
        fail("type", (R_INVALID, "rows with cuboid columns (x,y,z,length,...) are cuboids"))
    elif t == "cuboid":
        cuboid_cells(cells, layout, o, fail)
    else:
        pts_text = (cells.get("points") or "").strip()
        box_given = layout.box is not None and any((cells.get(c) or "").strip() for c in layout.box)
        if pts_text and box_given:
            fail("points", (R_INVALID, "give either the box columns or points, not both"))
        elif pts_text:
            pts = check_points(json_cell(pts_text), t)
            if isinstance(pts, tuple):
                fail("points", pts)
            else:
                o["points"] = pts
        elif box_given and t != "bbox":
            fail("points", (R_MISSING, f"a {t} needs a points column holding JSON"))
        elif box_given:
            assert layout.box is not None
            nums: list[Any] = []
            before = len(errs)
            for col in layout.box:
                v = parse_num((cells.get(col) or "").strip())
                if type(v) is tuple:
                    fail(col, v)
                nums.append(v)
            if len(errs) == before:
                box = check_bbox(nums, layout.box_format or ctx.fmt)
                if isinstance(box, tuple):
                    fail(",".join(layout.box), box)
                else:
                    o["points"] = box
        elif not layout.problems:
            need = "box columns or points" if t == "bbox" else "points"
            fail("points", (R_MISSING, f"a {t} needs {need}"))
        if ctx.norm and "points" in o:
            where = ",".join(layout.box) if box_given and layout.box else "points"
            scaled = _csv_scale(cells, o["points"], where, fail)
            if scaled is not None:
                o["points"] = scaled
    # Score, id, attributes.
    score: Any = None
    s_text = (cells.get("score") or "").strip()
    if s_text:
        score = parse_num(s_text)
        if type(score) is tuple:
            fail("score", score)
            score = None
    given: Any = None
    id_text = (cells.get("id") or "").strip()
    if id_text:
        given = parse_int(id_text)
        if given is None or given < 1:
            fail("id", (R_INVALID, f"should be a positive integer, got {id_text!r}"))
    attrs: dict[str, Any] = {}
    for col, attr in layout.attrs:
        text = cells.get(col) or ""
        if text == "":
            continue
        v = attr_cell(text)
        if not attr_value_ok(v):
            fail(
                col,
                (
                    R_ATTRIBUTES,
                    f"should be a string, number, boolean or list of strings, got {text!r}",
                ),
            )
        else:
            attrs[attr] = v
    if layout.attrs:
        o["attributes"] = attrs
    if ctx.osa is not None and score is not None and not errs:
        err = store_score(o, ctx.osa, score)
        if err is not None:
            fail(f"attr.{ctx.osa}", err)
    if errs:
        return None
    payload: dict[str, Any] = {"a": o}
    if score is not None:
        payload["s"] = score
    if given is not None:
        payload["i"] = given
    return payload


def input_order(items: list[tuple[Location, _T]]) -> list[tuple[Location, _T]]:
    """The parts of one label in input order: files in order of first appearance, lines
    ascending within a file (CSV groups, sequence and segmentation-sequence labels)."""
    rank: dict[str, int] = {}
    for loc, _ in items:
        rank.setdefault(loc.file, len(rank))
    return sorted(items, key=lambda it: (rank[it[0].file], it[0].line))


def convert_group(
    ctx: Context, key: str, items: list[tuple[Location, dict[str, Any]]]
) -> LabelJob | list[RowError]:
    """All CSV payloads of one (label set, sample) → one label, or one error per line."""
    labelset, ref_kind, ref = orjson.loads(key)
    ordered = input_order(items)
    locs = tuple(loc for loc, _ in ordered)
    bad: dict[int, RowError] = {}
    anns: list[Ann] = []
    for n, (loc, p) in enumerate(ordered):
        e = p.get("e")
        if e:
            field, reason, msg = e[0]
            if len(e) > 1:
                more = "; ".join(f"{f}: {m}" for f, _, m in e[1:])
                msg = f"{msg} (also {more})"
            bad[n] = RowError(loc, field or None, reason, msg)
            continue
        a = p["a"]
        s = p.get("s")
        min_score = ctx.min_score
        anns.append(
            Ann(
                a,
                a.get("type") == "cuboid",
                s,
                p.get("i"),
                min_score is None or s is None or s >= min_score,
            )
        )
    good_index = [n for n in range(len(ordered)) if n not in bad]
    if not bad:
        assembled = assemble(ctx, anns)
        if isinstance(assembled, Problem):
            prob = assembled
            n = good_index[prob.index]
            # Name lines, not positions among the label's annotations.
            other = locs[good_index[prob.other]]
            where = f"line {other.line}" if other.file == locs[n].file else str(other)
            bad[n] = RowError(
                locs[n], prob.field, prob.reason, prob.message.replace("{other}", where)
            )
        else:
            return LabelJob(
                sample_uuid=ref if ref_kind == "u" else None,
                sample_name=ref if ref_kind == "n" else None,
                labelset=labelset,
                label_status=ctx.options.label_status,
                attributes=assembled.label,
                score=assembled.score,
                locs=locs,
                filtered_annotations=assembled.filtered,
                object_scores_dropped=assembled.dropped,
                score_derived=assembled.score is not None,
            )
    return label_failed(locs, bad, labelset, ref_kind, ref)


def label_failed(
    locs: tuple[Location, ...], bad: dict[int, RowError], labelset: str, ref_kind: str, ref: str
) -> list[RowError]:
    """One error per line of a label that failed: ``bad`` holds the lines' own errors (by
    position in ``locs``); every other line is "not uploaded: line N of the same label
    failed" (sequence labels, :mod:`.sequences`, fail the same way)."""
    first = locs[min(bad)]
    sample = f"sample {ref}" if ref_kind == "u" else f"sample name {ref!r}"
    out: list[RowError] = []
    for n, loc in enumerate(locs):
        if n in bad:
            out.append(bad[n])
            continue
        where = f"line {first.line}" if first.file == loc.file else str(first)
        out.append(
            RowError(
                loc,
                None,
                R_LABEL_FAILED,
                f"not uploaded: {where} of the same label ({sample}, label set {labelset}) "
                "failed, and a label is only sent whole",
            )
        )
    return out
