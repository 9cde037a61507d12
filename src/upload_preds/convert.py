"""Input records → Segments labels (:class:`~upload_preds.records.LabelJob`).

Pure functions of the record, the :class:`ConvertOptions` and the dataset's
:class:`~upload_preds.categories.Categories`: no I/O.

JSON/JSONL rows go through :meth:`Converter.convert`, one row → one label or
all of that row's :class:`~upload_preds.records.RowError` values. A row either
carries ``attributes`` (a complete label of any task type, validated strictly
with the pydantic models of :mod:`upload_preds.models`) or the shorthand
``annotations`` list, which is checked by hand-written code with plain type
tests, never by pydantic (a million rows of boxes would cost more in pydantic
than in parsing the JSON). Two layers:

* ``Converter._fast`` handles the common row (boxes with float coordinates,
  categories by name or id, float scores, flat attribute maps, no explicit
  ids) in one tight loop and gives up (``None``) at the first thing it does not
  handle, error or not. It only has to be right when it answers; a property
  test checks that it then agrees with the full path.
* ``Converter._convert`` applies every rule and collects every error of the
  row. Each rule has one implementation (``_bbox``, ``_points``, ``_vec``,
  ``_flat_map``...) shared with the CSV path; it returns the value or a
  ``(reason, message)`` tuple, and the caller names the field as the user
  wrote it (``annotations[2].bbox``, or the CSV column).

CSV/TSV records hold one annotation each. :meth:`Converter.csv_part` turns a
record into ``(group key, payload)``: the key names (label set, sample), the
payload is the checked annotation (or the line's errors) as plain JSON so the
grouping stage may spill it to disk; it also has a fast path for box records.
:meth:`Converter.convert_group` turns all payloads of one key into one label;
if any line is bad the whole label fails, and every line gets exactly one
error (its own, or "not uploaded because line N of the same label failed").

Rules worth knowing (also in the README):

* Annotation ids: given ids must be unique positive integers within a label;
  missing ids are numbered 1, 2, 3... in input order, skipping ids given
  explicitly to other annotations of the label (``[id 2, -, -]`` → 2, 1, 3).
  For CSV, input order is file order then line order, so a shuffled file gets
  the same annotations with other ids.
* A bbox becomes ``[[min x, min y], [max x, max y]]`` whatever corner order.
* ``--min-score`` drops scored annotations below it (unscored ones are kept;
  dropped ones are still validated); ``--score-from`` derives a missing label
  score from the kept annotations' scores; annotation scores reach the label
  only through ``--object-score-attribute``.
* Scores, label and annotation, must be finite numbers; no range is enforced,
  as neither the SDK (``score: Optional[float]``) nor the platform docs set one.
* CSV cells: empty means absent; numbers are read as floats; ``attr.<name>``
  cells are typed by :func:`_attr_cell` (``true``/``false``, JSON numbers,
  ``null``, JSON lists and quoted strings; anything else stays text).
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from upload_preds import masks
from upload_preds.categories import Categories
from upload_preds.errors import UsageError
from upload_preds.models import (
    LABEL_KIND_NAMES,
    LABEL_STATUSES,
    TASK_TYPES,
    label_kind,
    validate_attributes,
)
from upload_preds.records import LabelJob, Location, PlannedLabelJob, Record, RowError

__all__ = [
    "BBOX_FORMATS",
    "CSV_COLUMNS",
    "ConvertOptions",
    "Converter",
    "csv_header_problems",
]

BboxFormat = Literal["xyxy", "xywh", "cxcywh"]
ScoreFrom = Literal["max", "mean", "min"]
BBOX_FORMATS: tuple[str, ...] = ("xyxy", "xywh", "cxcywh")

_INF = math.inf
_INT_MIN = -(2**63)
_INT_MAX = 2**63 - 1

# Stable reasons: the plan groups errors by them.
R_UNKNOWN_FIELD = "unknown field"
R_MISSING = "missing field"
R_INVALID = "invalid value"
R_SAMPLE = "invalid sample reference"
R_CATEGORY = "unknown category"
R_CATEGORY_ID = "unknown category id"
R_NO_CATEGORIES = "category names need categories"
R_BBOX = "invalid bbox"
R_ZERO_AREA = "zero-area bbox"
R_POINTS = "invalid points"
R_CUBOID = "invalid cuboid"
R_NON_FINITE = "non-finite number"
R_DUPLICATE_ID = "duplicate annotation id"
R_ATTRIBUTES = "invalid attributes"
R_MIXED = "mixed annotation kinds"
R_TASK_TYPE = "wrong shape for the task type"
R_LABEL_FORMAT = "invalid label attributes"
R_COLUMNS = "bad CSV columns"
R_LABEL_FAILED = "another line of the label failed"

Err = tuple[str, str]  # (reason, message)


@dataclass(frozen=True)
class ConvertOptions:
    """The conversion settings (flags). Invalid values raise :class:`UsageError`."""

    default_labelset: str = "ground-truth"
    label_status: str = "PRELABELED"
    bbox_format: BboxFormat = "xyxy"
    min_score: float | None = None
    score_from: ScoreFrom | None = None
    object_score_attribute: str | None = None
    #: 2-D coordinates are fractions of the image size (0..1), scaled by the row's
    #: ``width``/``height`` (JSON fields or CSV columns).
    normalized: bool = False

    def __post_init__(self) -> None:
        if not _valid_labelset(self.default_labelset):
            raise UsageError(
                f"--labelset {self.default_labelset!r} is not a usable label set name",
                hint="give a non-empty name without '/'",
            )
        status = str(self.label_status).upper()
        if status not in LABEL_STATUSES:
            raise UsageError(
                f"--label-status {self.label_status!r} is not a label status",
                hint="use one of " + ", ".join(LABEL_STATUSES),
            )
        object.__setattr__(self, "label_status", status)
        if self.bbox_format not in BBOX_FORMATS:
            raise UsageError(
                f"--bbox-format {self.bbox_format!r} is not a bbox format",
                hint="use one of " + ", ".join(BBOX_FORMATS),
            )
        if self.min_score is not None and not _is_num(self.min_score):
            raise UsageError(f"--min-score {self.min_score!r} is not a finite number")
        if self.score_from not in (None, "max", "mean", "min"):
            raise UsageError(
                f"--score-from {self.score_from!r} is not supported", hint="use max, mean or min"
            )
        if self.object_score_attribute is not None and not self.object_score_attribute.strip():
            raise UsageError("--object-score-attribute needs a non-empty attribute name")


# --- small checks shared by every path ------------------------------------------------


def _is_num(v: Any) -> bool:
    """A finite JSON number (``true``/``false`` are not numbers)."""
    t = type(v)
    if t is float:
        return bool(-_INF < v < _INF)
    if t is int:
        return bool(_INT_MIN <= v <= _INT_MAX)
    return False


def _num_err(v: Any) -> Err:
    if type(v) is float:
        return R_NON_FINITE, f"should be a finite number, got {v!r}"
    if type(v) is int:
        return R_INVALID, "number is too large"
    return R_INVALID, f"should be a number, got {_short(v)}"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _valid_labelset(v: Any) -> bool:
    return type(v) is str and bool(v.strip()) and "/" not in v


def _valid_ref(v: Any) -> bool:
    return type(v) is str and bool(v.strip()) and "/" not in v


def _bbox(v: Any, fmt: str) -> list[list[float]] | Err:
    """Four numbers in ``fmt`` → ``[[min x, min y], [max x, max y]]``."""
    if type(v) is not list or len(v) != 4:
        return R_BBOX, f"should be a list of 4 numbers ({_FMT_HELP[fmt]}), got {_short(v)}"
    a, b, c, d = v
    # Fast path: four finite floats (what model outputs almost always are).
    if not (
        type(a) is float
        and type(b) is float
        and type(c) is float
        and type(d) is float
        and -_INF < a < _INF
        and -_INF < b < _INF
        and -_INF < c < _INF
        and -_INF < d < _INF
    ):
        for x in v:
            if not _is_num(x):
                reason, msg = _num_err(x)
                return reason, f"bbox {msg}"
    if fmt == "xyxy":
        if a > c:
            a, c = c, a
        if b > d:
            b, d = d, b
    else:
        if c < 0 or d < 0:
            return R_BBOX, (
                f"width and height should not be negative with --bbox-format {fmt}, got "
                f"{c!r}, {d!r}; if the numbers are two corners, use --bbox-format xyxy"
            )
        if fmt == "xywh":
            c = a + c
            d = b + d
        else:
            a, b, c, d = a - c / 2, b - d / 2, a + c / 2, b + d / 2
    if a == c or b == d:
        return R_ZERO_AREA, f"box has zero area ({_FMT_HELP[fmt]}: {_short(v)})"
    return [[a, b], [c, d]]


_FMT_HELP = {
    "xyxy": "x0, y0, x1, y1 with --bbox-format xyxy",
    "xywh": "x, y, width, height with --bbox-format xywh",
    "cxcywh": "centre x, centre y, width, height with --bbox-format cxcywh",
}

_MIN_POINTS = {"bbox": 2, "polygon": 3, "polyline": 2, "point": 1}
_POINTS_RULE = {
    "bbox": "two opposite corners",
    "polygon": "at least 3 points",
    "polyline": "at least 2 points",
    "point": "exactly one point",
}


def _points(v: Any, t: str) -> list[list[float]] | Err:
    """A list of ``[x, y]`` pairs with the count the shape needs."""
    if type(v) is not list:
        return R_POINTS, (
            f"should be a list of [x, y] points (a {t} needs {_POINTS_RULE[t]}), got {_short(v)}"
        )
    n = len(v)
    need = _MIN_POINTS[t]
    if n < need or (n != need and t in ("bbox", "point")):
        return R_POINTS, f"a {t} needs {_POINTS_RULE[t]}, got {n} point{'s' * (n != 1)}"
    out: list[list[float]] = []
    for i, p in enumerate(v):
        if type(p) is not list or len(p) != 2:
            return R_POINTS, f"point {i} should be [x, y], got {_short(p)}"
        x, y = p
        if not (_is_num(x) and _is_num(y)):
            reason, msg = _num_err(y if _is_num(x) else x)
            return reason, f"point {i}: {msg}"
        out.append([x, y])
    if t == "bbox":
        (a, b), (c, d) = out
        if a > c:
            a, c = c, a
        if b > d:
            b, d = d, b
        if a == c or b == d:
            return R_ZERO_AREA, f"box has zero area: {_short(v)}"
        return [[a, b], [c, d]]
    return out


def _vec(v: Any, keys: tuple[str, ...], what: str) -> dict[str, float] | Err:
    """``{"x":..,"y":..,"z":..}`` or ``[x, y, z]`` (or the quaternion form) → the object form."""
    if type(v) is list:
        if len(v) != len(keys):
            return R_CUBOID, f"{what} should be {len(keys)} numbers, got {_short(v)}"
        items = list(zip(keys, v, strict=True))
    elif type(v) is dict:
        if set(v) != set(keys):
            return (
                R_CUBOID,
                f"{what} should have exactly the keys {', '.join(keys)}, got {_short(v)}",
            )
        items = [(k, v[k]) for k in keys]
    else:
        return R_CUBOID, f"{what} should be an object {{{', '.join(keys)}}} or a list of numbers"
    for k, x in items:
        if not _is_num(x):
            reason, msg = _num_err(x)
            return reason, f"{what} {k}: {msg}"
    return dict(items)


def _attr_value_ok(x: Any) -> bool:
    t = type(x)
    if t is str or t is bool or x is None:
        return True
    if t is int or t is float:
        return _is_num(x)
    if t is list:
        return all(type(s) is str for s in x)
    return False


def _flat_map(v: Any) -> dict[str, Any] | tuple[str | None, str]:
    """An attributes map: string keys → string, boolean, number, list of strings or null.

    Returns the map, or ``(key or None, message)``.
    """
    if type(v) is not dict:
        return None, f"should be an object of name → value, got {_short(v)}"
    for k, x in v.items():
        t = type(x)
        # The common values first, inline: this runs for every row's image attributes.
        if (t is str or t is bool or x is None) and type(k) is str:
            continue
        if type(k) is not str:
            return None, f"keys should be strings, got {_short(k)}"
        if not _attr_value_ok(x):
            return k, (
                "should be a string, boolean, finite number, list of strings or null, "
                f"got {_short(x)}"
            )
    return v


def _suggest_key(key: Any, allowed: Iterable[str]) -> str:
    close = difflib.get_close_matches(str(key), list(allowed), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


# --- the row format -------------------------------------------------------------------

_ROW_KEYS = frozenset(
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
# Row fields of masks (see _mask_label) and the image size (masks, --normalized). Kept
# apart from _ROW_KEYS, which mirrors the row models of --print-schema (models.py).
_MASK_ROW_KEYS = frozenset({"mask_path", "mask_kind", "width", "height"})
_ALL_ROW_KEYS = _ROW_KEYS | _MASK_ROW_KEYS
_MASK_ANN_KEYS = frozenset({"id", "category_id", "category", "attributes", "score", "segmentation"})
_MASK_FILE_ANN_KEYS = frozenset({"id", "category_id", "category", "attributes"})
MASK_KINDS = ("instance", "class")
R_MASK = "invalid mask"
_ANN_COMMON = {"category_id", "category", "type", "score", "attributes", "id"}
_ANN_BBOX = frozenset(_ANN_COMMON | {"points", "bbox"})
_ANN_SHAPE = frozenset(_ANN_COMMON | {"points"})
_ANN_CUBOID = frozenset(_ANN_COMMON | {"position", "dimensions", "yaw", "rotation"})
_ANN_KEYS = _ANN_BBOX | _ANN_CUBOID
#: The keys each annotation type takes.
_ALLOWED = {
    "bbox": _ANN_BBOX,
    "polygon": _ANN_SHAPE,
    "polyline": _ANN_SHAPE,
    "point": _ANN_SHAPE,
    "cuboid": _ANN_CUBOID,
}
_SHAPES = ("bbox", "polygon", "polyline", "point", "cuboid")
_XYZ = ("x", "y", "z")
_QUAT = ("qx", "qy", "qz", "qw")

# What the fast path of Converter.convert handles.
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

# Label kinds the shorthand can produce.
_SHORTHAND_KINDS = {"vector": "2d", "pointcloud-cuboid": "cuboid"}


@dataclass(slots=True)
class _Problem:
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
class _Ann:
    """One checked annotation: the output object without its id, and what the label needs."""

    out: dict[str, Any]
    cuboid: bool
    score: float | None
    given_id: int | None
    kept: bool


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
        self.options = options
        self.categories = categories
        tt = task_type if task_type is not None else (categories and categories.task_type)
        self.task_type: str | None = tt or None
        self._kind = label_kind(self.task_type) if self.task_type else None
        if self.task_type is not None and self._kind is None:
            raise UsageError(
                f"the dataset's task type {self.task_type!r} is not one upload-preds can write "
                "labels for",
                hint="supported task types: " + ", ".join(sorted(TASK_TYPES)),
            )
        # Lookup tables for the hot path.
        self._ids: frozenset[int] | None = (
            frozenset(categories.ids) if categories is not None else None
        )
        self._names: dict[str, int] = {}
        if categories is not None:
            for name in categories.names:
                m = categories.lookup(name)
                if m is not None and m.exact:
                    self._names[name] = m.id
        self._fmt = options.bbox_format
        self._min = options.min_score
        self._osa = options.object_score_attribute
        self._csv_layouts: dict[tuple[str, ...], _CsvLayout] = {}
        # What a PlannedLabelJob builds its attributes with (one bound method).
        self._build_attributes = self._attributes_of
        # The fast path makes image vector labels only; it reads its settings in one go.
        self._norm = options.normalized
        self._fast_ok = self._kind in (None, "vector") and not self._norm
        self._fast_consts = (
            self._names,
            self._ids,
            self._min,
            self._osa,
            self._fmt,
            self._fmt == "xyxy",
            options.score_from is not None,
            options.default_labelset,
            options.label_status,
        )

    # --- JSON / JSONL rows ------------------------------------------------------------

    def convert(self, record: Record) -> LabelJob | list[RowError]:
        """One JSON/JSONL row → one label, or every problem of the row."""
        loc, _, data = record
        if self._fast_ok:
            # self._fast(data, loc) without its extra call: this runs per row.
            try:
                job = self._fast_try(data, loc)
            except (TypeError, ValueError, KeyError):
                job = None
            if job is not None:
                return job
        return self._convert(data, loc)

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
        if self._fast_ok:
            try:
                job = self._fast_try(data, loc, False)
            except (TypeError, ValueError, KeyError):
                job = None
            if job is not None:
                return job
        return self._convert(data, loc)

    def _fast(self, data: Any, loc: Location) -> LabelJob | None:
        """The common case only, in as few operations as possible: a shorthand row
        of bboxes with float coordinates, categories by name or id, float scores,
        optional attribute maps, no explicit ids.

        Returns ``None`` at the first thing it does not handle (anything else,
        including every kind of error); :meth:`_convert` then does the full job
        and reports every problem. So this path only needs to be right when it
        succeeds, and it must accept nothing that :meth:`_convert` would reject.
        Unknown keys are caught by counting: ``len(a)`` must equal the number of
        known keys found (an explicit ``null`` also falls back, harmlessly).
        """
        try:
            return self._fast_try(data, loc)
        except (TypeError, ValueError, KeyError):
            # An annotation that is not a dict, an unhashable category, a bbox that
            # does not unpack, a missing key: the full path explains it.
            return None

    def _fast_try(self, data: Any, loc: Location, build: bool = True) -> LabelJob | None:
        # Everything below may raise TypeError/ValueError/KeyError on odd input.
        # With build False (plan mode) the checks are the same; only the
        # annotation objects are not made (see PlannedLabelJob).
        if type(data) is not dict:
            return None
        names, ids, min_score, osa, fmt, xyxy, keep_scores, default_labelset, default_status = (
            self._fast_consts
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
            if score is not None and not (type(score) is float and -_INF < score < _INF):
                return None
            if image_attributes is not None and type(_flat_map(image_attributes)) is tuple:
                return None
            if status is None:
                status = default_status
            elif status not in LABEL_STATUSES:
                return None
        # "not x or x.isspace()" is "not x.strip()" without making a string.
        if uuid is not None:
            if (
                name is not None
                or type(uuid) is not str
                or "/" in uuid
                or not uuid
                or uuid.isspace()
            ):
                return None
        elif type(name) is not str or "/" in name or not name or name.isspace():
            return None
        flt = float
        inf = _INF
        # The annotation objects, or in plan mode their category ids.
        out: list[Any] = []
        append = out.append
        n = 0
        filtered = 0
        scored = False
        # Only what is needed is kept: the scores themselves for --score-from.
        scores: list[float] = []
        for a in anns:
            # Not a dict, no bbox, an unknown or unhashable category name:
            # TypeError / KeyError, handled by _fast.
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
                if at is not None and type(_flat_map(at)) is tuple:
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
                pts = _bbox(bb, fmt)
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
                scored = True
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
        if score is None and scores:
            how = self.options.score_from
            score = (
                max(scores)
                if how == "max"
                else min(scores)
                if how == "min"
                else math.fsum(scores) / len(scores)
            )
        if not build:
            return PlannedLabelJob(
                uuid,
                None if uuid is not None else name,
                labelset,
                status,
                score,
                (loc,),
                filtered,
                osa is None and (scored or filtered > 0),
                "bbox",
                out,
                (self._build_attributes, data, loc),
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
            osa is None and (scored or filtered > 0),
        )

    def _attributes_of(self, data: Any, loc: Location) -> dict[str, Any]:
        """The label attributes of a row that plan mode accepted, built now."""
        job = self._fast_try(data, loc, True)
        if job is None:  # not expected: the same row passed the same checks
            full = self._convert(data, loc)
            assert isinstance(full, LabelJob), full
            return full.attributes
        return job.attributes

    def _convert(self, data: Any, loc: Location) -> LabelJob | list[RowError]:
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
        if not data.keys() <= _ALL_ROW_KEYS:
            for k in data:
                if k not in _ALL_ROW_KEYS:
                    errors.append(
                        RowError(
                            loc,
                            str(k),
                            R_UNKNOWN_FIELD,
                            "unknown field (known: "
                            + ", ".join(sorted(_ALL_ROW_KEYS))
                            + ")"
                            + _suggest_key(k, _ALL_ROW_KEYS),
                        )
                    )
        uuid, name = self._sample(data, loc, errors)
        labelset = data.get("labelset")
        if labelset is None:
            labelset = self.options.default_labelset
        elif not _valid_labelset(labelset):
            errors.append(
                RowError(
                    loc,
                    "labelset",
                    R_INVALID,
                    f"should be a non-empty label set name without '/', got {_short(labelset)}",
                )
            )
        score = data.get("score")
        if score is not None and not _is_num(score):
            reason, msg = _num_err(score)
            errors.append(RowError(loc, "score", reason, msg))
        status = data.get("label_status")
        if status is None:
            status = self.options.label_status
        elif status not in LABEL_STATUSES:
            errors.append(
                RowError(
                    loc,
                    "label_status",
                    R_INVALID,
                    f"should be one of {', '.join(LABEL_STATUSES)}, got {_short(status)}",
                )
            )
        attributes = data.get("attributes")
        anns = data.get("annotations")
        job_extra: dict[str, Any] = {}
        filtered = 0
        dropped = False
        label: dict[str, Any] | None = None
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
                label = self._full_attributes(attributes, loc, errors)
        elif self._wants_mask(data, anns, loc, errors):
            built_mask = self._mask_label(data, anns, loc, errors)
            if built_mask is not None:
                label, bitmap, derived, filtered, dropped = built_mask
                job_extra["asset"] = bitmap
                if score is None:
                    score = derived
        elif anns is None:
            errors.append(
                RowError(
                    loc,
                    "annotations",
                    R_MISSING,
                    "a row needs 'annotations' (shorthand list of objects) or 'attributes' "
                    "(a complete Segments label)",
                )
            )
        else:
            built = self._shorthand(data, anns, loc, errors)
            if built is not None:
                label, derived, filtered, dropped, fixes = built
                if score is None:
                    score = derived
                if fixes:
                    job_extra["category_case_fixes"] = fixes
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
            filtered_annotations=filtered,
            object_scores_dropped=dropped,
            extra=job_extra,
        )

    def _sample(
        self, data: dict[str, Any], loc: Location, errors: list[RowError]
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
            if _valid_ref(uuid):
                return uuid, None
            errors.append(
                RowError(
                    loc,
                    "sample_uuid",
                    R_SAMPLE,
                    f"should be a non-empty string without '/', got {_short(uuid)}",
                )
            )
        elif name is not None:
            if _valid_ref(name):
                return None, name
            errors.append(
                RowError(
                    loc,
                    "sample_name",
                    R_SAMPLE,
                    f"should be a non-empty string without '/', got {_short(name)}",
                )
            )
        else:
            errors.append(
                RowError(loc, "sample_uuid", R_SAMPLE, "missing: give sample_uuid or sample_name")
            )
        return None, None

    # --- complete attributes ------------------------------------------------------------

    def _full_attributes(
        self, attributes: Any, loc: Location, errors: list[RowError]
    ) -> dict[str, Any] | None:
        normalized, problems = validate_attributes(attributes, self.task_type)
        for path, msg in problems:
            field = "attributes" + ("" if not path or path.startswith("[") else ".") + path
            errors.append(RowError(loc, field, R_LABEL_FORMAT, msg))
        if normalized is None:
            return None
        for path, lst in _annotation_lists(normalized, "attributes"):
            seen: dict[int, int] = {}
            for i, ann in enumerate(lst):
                ann_id = ann["id"]
                if ann_id in seen:
                    errors.append(
                        RowError(
                            loc,
                            f"{path}[{i}].id",
                            R_DUPLICATE_ID,
                            f"id {ann_id} is already used by {path}[{seen[ann_id]}]; ids must "
                            "be unique within a label",
                        )
                    )
                else:
                    seen[ann_id] = i
                if self._ids is not None and ann["category_id"] not in self._ids:
                    errors.append(
                        RowError(
                            loc,
                            f"{path}[{i}].category_id",
                            R_CATEGORY_ID,
                            self._unknown_id_message(ann["category_id"]),
                        )
                    )
        return normalized

    # --- segmentation masks -----------------------------------------------------------

    def _wants_mask(
        self, data: dict[str, Any], anns: Any, loc: Location, errors: list[RowError]
    ) -> bool:
        """Whether the row is a mask row: a segmentation dataset, or masks on an unknown one."""
        has_mask = "mask_path" in data or (
            type(anns) is list and any(type(a) is dict and "segmentation" in a for a in anns)
        )
        if self._kind is None or self._kind == "segmentation-bitmap":
            # Without masks, _shorthand explains what a segmentation row needs.
            return has_mask
        if has_mask:
            field = "mask_path" if "mask_path" in data else "annotations"
            errors.append(
                RowError(
                    loc,
                    field,
                    R_TASK_TYPE,
                    f"masks are for segmentation-bitmap datasets; this one is {self.task_type}",
                )
            )
        return False

    def _image_size(
        self, data: dict[str, Any], loc: Location, errors: list[RowError]
    ) -> tuple[int, int] | None:
        """The row's ``width`` and ``height`` (positive integers), when both are given."""
        out: list[int] = []
        for key in ("width", "height"):
            v = data.get(key)
            if v is None:
                continue
            if type(v) is float and v.is_integer():
                v = int(v)
            if type(v) is not int or v <= 0:
                errors.append(
                    RowError(loc, key, R_INVALID, f"should be a positive integer, got {_short(v)}")
                )
            else:
                out.append(v)
        return (out[0], out[1]) if len(out) == 2 else None

    def _mask_category(
        self, a: dict[str, Any], where: str, loc: Location, errors: list[RowError]
    ) -> int | None:
        cid = a.get("category_id")
        cname = a.get("category")
        if cid is not None and cname is not None:
            errors.append(
                RowError(loc, f"{where}.category", R_INVALID, "give either category_id or category")
            )
            return None
        if cid is not None:
            if type(cid) is not int or (self._ids is not None and cid not in self._ids):
                reason, msg = (
                    self._category_id_problem(cid)
                    if self.categories is not None or type(cid) is not int
                    else (R_CATEGORY_ID, "")
                )
                errors.append(RowError(loc, f"{where}.category_id", reason, msg))
                return None
            return cid
        hit = self._names.get(cname) if type(cname) is str else None
        if hit is not None:
            return hit
        found = self._category_name(cname)
        if type(found) is tuple:
            errors.append(RowError(loc, f"{where}.category", found[0], found[1]))
            return None
        assert type(found) is int
        return found

    def _mask_label(
        self, data: dict[str, Any], anns: Any, loc: Location, errors: list[RowError]
    ) -> tuple[dict[str, Any], masks.Bitmap, float | None, int, bool] | None:
        """A segmentation-bitmap label from ``mask_path`` or per-annotation ``segmentation``.

        Returns (attributes, bitmap, derived label score, filtered, scores
        dropped), or ``None`` when the row has errors (appended).
        """
        n_err = len(errors)
        size = self._image_size(data, loc, errors)
        image_attributes = data.get("image_attributes")
        if image_attributes is not None:
            checked = _flat_map(image_attributes)
            if type(checked) is tuple:
                key, msg = checked
                field = "image_attributes" if key is None else f"image_attributes.{key}"
                errors.append(RowError(loc, field, R_ATTRIBUTES, msg))
        kind = data.get("mask_kind", "instance")
        if kind not in MASK_KINDS:
            errors.append(
                RowError(
                    loc,
                    "mask_kind",
                    R_INVALID,
                    f"should be 'instance' (pixels are annotation ids) or 'class' (pixels are "
                    f"category ids), got {_short(kind)}",
                )
            )
            return None
        mask_path = data.get("mask_path")
        result: tuple[list[dict[str, Any]], masks.Canvas | Any, float | None, int, bool] | None
        if mask_path is not None:
            result = self._mask_file(mask_path, kind, anns, loc, errors)
        elif kind == "class":
            errors.append(
                RowError(loc, "mask_path", R_MISSING, "mask_kind 'class' needs mask_path")
            )
            return None
        else:
            result = self._mask_segments(anns, size, loc, errors)
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
        return label, bitmap, derived, filtered, dropped

    def _mask_file(
        self, mask_path: Any, kind: str, anns: Any, loc: Location, errors: list[RowError]
    ) -> tuple[list[dict[str, Any]], Any, float | None, int, bool] | None:
        if type(mask_path) is not str or not mask_path.strip():
            errors.append(
                RowError(
                    loc, "mask_path", R_INVALID, f"should be a file path, got {_short(mask_path)}"
                )
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
                if self._ids is not None and v not in self._ids:
                    errors.append(
                        RowError(
                            loc,
                            "mask_path",
                            R_CATEGORY_ID,
                            f"{mask_path}: pixel value {v} is not a category id of the dataset "
                            f"(it has: {self.categories.describe_ids() if self.categories else ''})",
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
        seen: dict[int, int] = {}
        for i, a in enumerate(anns):
            where = f"annotations[{i}]"
            if type(a) is not dict:
                errors.append(
                    RowError(loc, where, R_INVALID, f"should be an object, got {_short(a)}")
                )
                continue
            extra = [k for k in a if k not in _MASK_FILE_ANN_KEYS]
            for k in extra:
                why = (
                    "the pixels of a mask file cannot be filtered by score; leave low-score "
                    "instances out of the PNG"
                    if k == "score"
                    else "unknown field with mask_path (known: "
                    + ", ".join(sorted(_MASK_FILE_ANN_KEYS))
                    + ")"
                )
                errors.append(RowError(loc, f"{where}.{k}", R_UNKNOWN_FIELD, why))
            aid = a.get("id")
            if type(aid) is not int or not 0 < aid < masks.MAX_ID:
                errors.append(
                    RowError(
                        loc,
                        f"{where}.id",
                        R_INVALID,
                        f"should be the instance's pixel value, an integer from 1 to 2^24 - 1, "
                        f"got {_short(aid)}",
                    )
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
            cid = self._mask_category(a, where, loc, errors)
            at = a.get("attributes")
            if at is not None and type(_flat_map(at)) is tuple:
                errors.append(
                    RowError(loc, f"{where}.attributes", R_ATTRIBUTES, "should be a flat map")
                )
            if extra or cid is None:
                continue
            o: dict[str, Any] = {"id": aid, "category_id": cid}
            if at is not None:
                o["attributes"] = at
            out.append(o)
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
        self, anns: Any, size: tuple[int, int] | None, loc: Location, errors: list[RowError]
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
        osa = self._osa
        min_score = self._min
        given: set[int] = set()
        checked: list[tuple[int, dict[str, Any], Any, float | None]] = []
        filtered = 0
        scored = False
        for i, a in enumerate(anns):
            where = f"annotations[{i}]"
            if type(a) is not dict:
                errors.append(
                    RowError(loc, where, R_INVALID, f"should be an object, got {_short(a)}")
                )
                continue
            bad = False
            for k in a:
                if k not in _MASK_ANN_KEYS:
                    bad = True
                    errors.append(
                        RowError(
                            loc,
                            f"{where}.{k}",
                            R_UNKNOWN_FIELD,
                            "unknown field of a mask annotation (known: "
                            + ", ".join(sorted(_MASK_ANN_KEYS))
                            + ")"
                            + _suggest_key(k, _MASK_ANN_KEYS),
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
                            f"the bitmap), got {_short(aid)}",
                        )
                    )
                elif aid in given:
                    bad = True
                    errors.append(
                        RowError(loc, f"{where}.id", R_DUPLICATE_ID, f"id {aid} is used twice")
                    )
                else:
                    given.add(aid)
            cid = self._mask_category(a, where, loc, errors)
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
            if s is not None and not _is_num(s):
                bad = True
                reason, msg = _num_err(s)
                errors.append(RowError(loc, f"{where}.score", reason, msg))
                s = None
            at = a.get("attributes")
            if at is not None and type(_flat_map(at)) is tuple:
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
                    problem = _store_score(o, osa, s)
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
        order = sorted(range(len(checked)), key=lambda k: _score_key(checked[k][3]))
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
        scores = [s for *_, s in checked if s is not None]
        derived = None
        how = self.options.score_from
        if how is not None and scores:
            derived = (
                max(scores)
                if how == "max"
                else min(scores)
                if how == "min"
                else math.fsum(scores) / len(scores)
            )
        return out, canvas.image, derived, filtered, osa is None and (scored or filtered > 0)

    # --- shorthand --------------------------------------------------------------------

    def _shorthand(
        self,
        data: dict[str, Any],
        anns: Any,
        loc: Location,
        errors: list[RowError],
    ) -> tuple[dict[str, Any], float | None, int, bool, dict[str, str]] | None:
        """Check and convert a shorthand row; ``None`` when it has errors (appended)."""
        if self._kind is not None and self._kind not in _SHORTHAND_KINDS:
            errors.append(
                RowError(
                    loc,
                    "annotations",
                    R_TASK_TYPE,
                    f"the shorthand cannot express a {self.task_type} label; give the complete "
                    "label as 'attributes' instead"
                    + (
                        ", or masks: 'mask_path', or a 'segmentation' (COCO RLE or polygons) "
                        "in each annotation"
                        if self._kind == "segmentation-bitmap"
                        else ""
                    ),
                )
            )
            return None
        if type(anns) is not list:
            errors.append(
                RowError(
                    loc,
                    "annotations",
                    R_INVALID,
                    f"should be a list of objects, got {_short(anns)}",
                )
            )
            return None
        n_err = len(errors)
        image_attributes = data.get("image_attributes")
        if image_attributes is not None:
            checked = _flat_map(image_attributes)
            if type(checked) is tuple:
                key, msg = checked
                field = "image_attributes" if key is None else f"image_attributes.{key}"
                errors.append(RowError(loc, field, R_ATTRIBUTES, msg))
        size: tuple[int, int] | None = None
        if "width" in data or "height" in data or self._norm:
            size = self._image_size(data, loc, errors)
            if size is None and self._norm and len(errors) == n_err:
                errors.append(RowError(loc, "width", R_MISSING, _NORMALIZED_NEEDS_SIZE + " fields"))
        norm = size if self._norm else None
        fixes: dict[str, str] = {}
        out: list[_Ann] = []
        # Bound once: attribute lookups on self cost in a loop of millions.
        fmt = self._fmt
        ids = self._ids
        names = self._names
        min_score = self._min
        osa = self._osa
        for i, a in enumerate(anns):
            if type(a) is not dict:
                errors.append(
                    RowError(
                        loc, f"annotations[{i}]", R_INVALID, f"should be an object, got {_short(a)}"
                    )
                )
                continue
            bad = False
            t = a.get("type", "bbox")
            allowed = _ALLOWED.get(t) if type(t) is str else None
            if allowed is not None:
                if not a.keys() <= allowed:
                    bad = self._bad_keys(a, allowed, t, i, loc, errors)
            else:
                errors.append(
                    RowError(
                        loc,
                        f"annotations[{i}].type",
                        R_INVALID,
                        f"should be one of {', '.join(_SHAPES)}, got {_short(t)}",
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
                        RowError(
                            loc, f"annotations[{i}].category_id", *self._category_id_problem(cid)
                        )
                    )
            else:
                cname = a.get("category")
                cid = names.get(cname) if type(cname) is str else None
                if cid is None:
                    res = self._category_name(cname)
                    if isinstance(res, tuple):
                        bad = True
                        reason, msg = res
                        field = "category" if cname is not None else "category_id"
                        errors.append(RowError(loc, f"annotations[{i}].{field}", reason, msg))
                    else:
                        cid = res
                        fixes[str(cname)] = self._canonical(res)
            # Geometry.
            if t == "cuboid":
                cub = self._cuboid(a, i, loc, errors)
                if cub is None:
                    bad = True
                    o: dict[str, Any] = {}
                else:
                    o = {"category_id": cid, "type": "cuboid", **cub}
            else:
                bb = a.get("bbox") if t == "bbox" else None
                pts: Any
                if bb is not None:
                    if "points" in a:
                        pts = (R_INVALID, "give either bbox or points, not both")
                    else:
                        pts = _bbox(bb, fmt)
                    field = "bbox"
                else:
                    p = a.get("points")
                    field = "points"
                    if p is None:
                        need = "bbox or points" if t == "bbox" else "points"
                        pts = (R_MISSING, f"a {t} needs {need}")
                    else:
                        pts = _points(p, t)
                if type(pts) is not tuple and norm is not None:
                    pts = _scale(pts, norm)
                if type(pts) is tuple:
                    bad = True
                    errors.append(RowError(loc, f"annotations[{i}].{field}", pts[0], pts[1]))
                o = {"category_id": cid, "type": t, "points": pts}
            # Score, attributes, id.
            s = a.get("score")
            if s is not None and not _is_num(s):
                bad = True
                reason, msg = _num_err(s)
                errors.append(RowError(loc, f"annotations[{i}].score", reason, msg))
            at = a.get("attributes")
            if at is not None:
                checked = _flat_map(at)
                if type(checked) is tuple:
                    bad = True
                    key, msg = checked
                    f = f"annotations[{i}].attributes" + ("" if key is None else f".{key}")
                    errors.append(RowError(loc, f, R_ATTRIBUTES, msg))
                else:
                    o["attributes"] = at
            if osa is not None and s is not None and not bad:
                err = _store_score(o, osa, s)
                if err is not None:
                    bad = True
                    errors.append(RowError(loc, f"annotations[{i}].attributes.{osa}", *err))
            given = a.get("id")
            if given is not None and not (type(given) is int and 1 <= given <= _INT_MAX):
                bad = True
                errors.append(
                    RowError(
                        loc,
                        f"annotations[{i}].id",
                        R_INVALID,
                        f"should be a positive integer, got {_short(given)}",
                    )
                )
            if not bad:
                out.append(
                    _Ann(
                        o,
                        t == "cuboid",
                        s,
                        given,
                        min_score is None or s is None or s >= min_score,
                    )
                )
        if len(errors) > n_err:
            return None
        assembled = self._assemble(out)
        if isinstance(assembled, _Problem):
            p = assembled
            msg = p.message.replace("{other}", f"annotations[{p.other}]")
            errors.append(RowError(loc, f"annotations[{p.index}].{p.field}", p.reason, msg))
            return None
        label, score, filtered, dropped = assembled
        if image_attributes is not None:
            label["image_attributes"] = image_attributes
        return label, score, filtered, dropped, fixes

    def _bad_keys(
        self,
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
            if k in _ANN_KEYS:
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
                    msg += _suggest_key(k, allowed)
            errors.append(RowError(loc, f"annotations[{i}].{k}", R_UNKNOWN_FIELD, msg))
        return True

    def _cuboid(
        self, a: dict[str, Any], i: int, loc: Location, errors: list[RowError]
    ) -> dict[str, Any] | None:
        out: dict[str, Any] = {}
        ok = True
        for key, keys in (("position", _XYZ), ("dimensions", _XYZ), ("rotation", _QUAT)):
            v = a.get(key)
            if v is None:
                if key != "rotation":
                    ok = False
                    errors.append(
                        RowError(loc, f"annotations[{i}].{key}", R_MISSING, f"a cuboid needs {key}")
                    )
                continue
            res = _vec(v, keys, key)
            if type(res) is tuple:
                ok = False
                errors.append(RowError(loc, f"annotations[{i}].{key}", res[0], res[1]))
            else:
                out[key] = res
        dims = out.get("dimensions")
        if dims is not None and min(dims.values()) <= 0:
            ok = False
            errors.append(
                RowError(
                    loc,
                    f"annotations[{i}].dimensions",
                    R_CUBOID,
                    f"dimensions should all be greater than 0, got {_short(a['dimensions'])}",
                )
            )
        yaw = a.get("yaw")
        if yaw is None:
            ok = False
            errors.append(RowError(loc, f"annotations[{i}].yaw", R_MISSING, "a cuboid needs yaw"))
        elif not _is_num(yaw):
            ok = False
            reason, msg = _num_err(yaw)
            errors.append(RowError(loc, f"annotations[{i}].yaw", reason, msg))
        else:
            out["yaw"] = yaw
        if not ok:
            return None
        # The label format's key order: position, dimensions, yaw, rotation.
        ordered = {"position": out["position"], "dimensions": out["dimensions"], "yaw": yaw}
        if "rotation" in out:
            ordered["rotation"] = out["rotation"]
        return ordered

    # --- categories -----------------------------------------------------------------

    def _category_name(self, cname: Any) -> int | Err:
        """A category name that is not an exact hit: case-insensitive match or an error."""
        if cname is None:
            return R_MISSING, "give category_id or category (a name)"
        if type(cname) is not str or not cname:
            return R_INVALID, f"should be a category name (a string), got {_short(cname)}"
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

    def _canonical(self, cid: int) -> str:
        assert self.categories is not None  # only reached through a categories lookup
        return self.categories.name_of(cid) or str(cid)

    def _category_id_problem(self, cid: Any) -> Err:
        if type(cid) is not int:
            return R_INVALID, f"should be an integer, got {_short(cid)}"
        return R_CATEGORY_ID, self._unknown_id_message(cid)

    def _unknown_id_message(self, cid: Any) -> str:
        assert self.categories is not None
        return (
            f"category id {cid!r} is not in the dataset (it has: {self.categories.describe_ids()})"
        )

    # --- assembling a label -----------------------------------------------------------

    def _assemble(
        self, anns: Sequence[_Ann]
    ) -> tuple[dict[str, Any], float | None, int, bool] | _Problem:
        """Checked annotations → (attributes, derived score, filtered, scores dropped),
        or the first label-level problem."""
        # One kind per label: cuboids or 2-D shapes, as the task type says.
        if anns:
            want = self._kind
            first_cuboid = anns[0].cuboid if want is None else want == "pointcloud-cuboid"
            for i, a in enumerate(anns):
                if a.cuboid != first_cuboid:
                    return _Problem(i, "type", *self._kind_error(a, anns[0]))
        given = [a.given_id for a in anns if a.given_id is not None]
        if given:
            seen: dict[int, int] = {}
            for i, a in enumerate(anns):
                if a.given_id is None:
                    continue
                if a.given_id in seen:
                    return _Problem(
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
        cuboid = self._kind == "pointcloud-cuboid" or (
            self._kind is None and bool(anns) and anns[0].cuboid
        )
        label: dict[str, Any] = {"format_version": "0.2" if cuboid else "0.1", "annotations": out}
        scores = [a.score for a in kept if a.score is not None]
        score: float | None = None
        how = self.options.score_from
        if how is not None and scores:
            if how == "max":
                score = max(scores)
            elif how == "min":
                score = min(scores)
            else:
                score = math.fsum(scores) / len(scores)
        dropped = self._osa is None and any(a.score is not None for a in anns)
        return label, score, filtered, dropped

    def _kind_error(self, a: _Ann, first: _Ann) -> Err:
        shape = a.out.get("type", "cuboid")
        if self._kind is not None:
            need = "cuboids" if self._kind == "pointcloud-cuboid" else "2-D shapes"
            return R_TASK_TYPE, (
                f"a {shape} cannot go in a {LABEL_KIND_NAMES[self._kind]} label (task type "
                f"{self.task_type}): it takes {need}"
            )
        return R_MIXED, (
            f"a label cannot mix cuboids with 2-D shapes: this is a {shape}, {{other}} is a "
            f"{first.out.get('type')}"
        )

    # --- CSV / TSV -----------------------------------------------------------------------

    def csv_part(self, record: Record) -> tuple[str, dict[str, Any]] | RowError:
        """One CSV/TSV record → (group key, JSON payload), or an error when the record
        names no usable sample (so it belongs to no label).

        A record with a usable sample but a bad annotation still returns its key: the
        payload then holds the errors, so that :meth:`convert_group` fails the whole
        label rather than upload it without this annotation.
        """
        loc = record.loc
        cells = record.data
        layout = self._csv_layouts.get(tuple(cells))
        if layout is None:
            layout = _CsvLayout(list(cells), self._fmt)
            if len(self._csv_layouts) < 64:
                self._csv_layouts[tuple(cells)] = layout
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
            return RowError(
                loc, col, R_SAMPLE, "empty: every line needs a sample_uuid or sample_name"
            )
        if "/" in ref:
            col = "sample_uuid" if ref_kind == "u" else "sample_name"
            return RowError(loc, col, R_SAMPLE, f"should not contain '/', got {_short(ref)}")
        labelset = (cells.get("labelset") or "").strip() or self.options.default_labelset
        if "/" in labelset:
            return RowError(
                loc,
                "labelset",
                R_INVALID,
                f"should be a label set name without '/', got {labelset!r}",
            )
        key = orjson.dumps([labelset, ref_kind, ref]).decode()
        if layout.fast and not self._norm:
            fast = self._csv_fast(cells, layout)
            if fast is not None:
                return key, fast
        errs: list[list[str]] = [[c, R_COLUMNS, m] for c, m in layout.problems]
        payload = self._csv_annotation(cells, layout, errs)
        if errs:
            return key, {"e": errs}
        assert payload is not None
        return key, payload

    def _csv_fast(self, cells: dict[str, Any], layout: _CsvLayout) -> dict[str, Any] | None:
        """The common CSV record (a box, a category, maybe a score and attribute
        columns), or ``None`` for anything else; like :meth:`_fast` for JSON rows,
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
            pts = _bbox([a, b, c, d], layout.box_format or self._fmt)
            if type(pts) is tuple:
                return None
        cname = cells.get("category")
        if cname:
            cid = self._names.get(cname)
            if cid is None or cells.get("category_id"):
                return None
        else:
            text = cells.get("category_id")
            if not text or not text.isdigit():
                return None
            cid = int(text)
            if self._ids is not None and cid not in self._ids:
                return None
        o: dict[str, Any] = {"category_id": cid, "type": "bbox", "points": pts}
        if layout.attrs:
            attrs: dict[str, Any] = {}
            for col, attr in layout.attrs:
                text = cells[col]
                if text:
                    v = _attr_cell(text)
                    if not _attr_value_ok(v):
                        return None
                    attrs[attr] = v
            o["attributes"] = attrs
        payload: dict[str, Any] = {"a": o}
        if s is not None:
            payload["s"] = s
            osa = self._osa
            if osa is not None and _store_score(o, osa, s) is not None:
                return None
        return payload

    def _csv_scale(
        self,
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
                fail(col, (R_MISSING, _NORMALIZED_NEEDS_SIZE + " columns"))
                return None
            v = _parse_num(text)
            if isinstance(v, tuple) or not (v.is_integer() and v > 0):
                fail(col, (R_INVALID, f"should be the image {col} in pixels, got {text!r}"))
                return None
            size.append(int(v))
        scaled = _scale(pts, (size[0], size[1]))
        if isinstance(scaled, tuple):
            fail(where, scaled)
            return None
        return scaled

    def _csv_annotation(
        self, cells: dict[str, Any], layout: _CsvLayout, errs: list[list[str]]
    ) -> dict[str, Any] | None:
        def fail(col: str, e: Err | tuple[str, str]) -> None:
            errs.append([col, e[0], e[1]])

        t = (cells.get("type") or "").strip() or ("cuboid" if layout.cuboid else "bbox")
        if t not in _SHAPES:
            fail("type", (R_INVALID, f"should be one of {', '.join(_SHAPES)}, got {t!r}"))
            return None
        # Category.
        cid_text = (cells.get("category_id") or "").strip()
        cname = (cells.get("category") or "").strip()
        cid: Any = None
        fix: list[str] | None = None
        if cid_text and cname:
            fail("category", (R_INVALID, "give either category_id or category, not both"))
        elif cid_text:
            cid = _parse_int(cid_text)
            if cid is None or (self._ids is not None and cid not in self._ids):
                fail("category_id", self._category_id_problem(cid if cid is not None else cid_text))
        else:
            cid = self._names.get(cname) if cname else None
            if cid is None:
                found = self._category_name(cname or None)
                if isinstance(found, tuple):
                    fail("category" if cname or "category" in cells else "category_id", found)
                else:
                    cid = found
                    fix = [cname, self._canonical(found)]
        # Geometry.
        o: dict[str, Any] = {"category_id": cid, "type": t}
        if t == "cuboid" and layout.cuboid:
            cub: dict[str, float] = {}
            for col in _CUBOID_COLUMNS:
                num = _parse_num((cells.get(col) or "").strip())
                if isinstance(num, tuple):
                    fail(col, num)
                elif col in ("length", "width", "height") and num <= 0:
                    fail(col, (R_CUBOID, f"should be greater than 0, got {num!r}"))
                else:
                    cub[col] = num
            if len(cub) == len(_CUBOID_COLUMNS):
                o["position"] = {"x": cub["x"], "y": cub["y"], "z": cub["z"]}
                o["dimensions"] = {"x": cub["length"], "y": cub["width"], "z": cub["height"]}
            yaw = _parse_num((cells.get("yaw") or "").strip())
            if isinstance(yaw, tuple):
                fail("yaw", yaw)
            elif "position" in o:
                o["yaw"] = yaw
            text = (cells.get("rotation") or "").strip()
            if text:
                rot = _vec(_json_cell(text), _QUAT, "rotation")
                if isinstance(rot, tuple):
                    fail("rotation", rot)
                else:
                    o["rotation"] = rot
        elif layout.cuboid:
            fail("type", (R_INVALID, "rows with cuboid columns (x,y,z,length,...) are cuboids"))
        elif t == "cuboid":
            for col, keys in (("position", _XYZ), ("dimensions", _XYZ), ("rotation", _QUAT)):
                text = (cells.get(col) or "").strip()
                if not text:
                    if col != "rotation":
                        fail(col, (R_MISSING, f"a cuboid needs a {col} column holding JSON"))
                    continue
                vec = _vec(_json_cell(text), keys, col)
                if isinstance(vec, tuple):
                    fail(col, vec)
                elif col == "dimensions" and min(vec.values()) <= 0:
                    fail(col, (R_CUBOID, f"dimensions should all be greater than 0, got {text}"))
                else:
                    o[col] = vec
            yaw = _parse_num((cells.get("yaw") or "").strip())
            if isinstance(yaw, tuple):
                fail("yaw", yaw)
            elif "position" in o and "dimensions" in o:
                rot = o.pop("rotation", None)
                o["yaw"] = yaw
                if rot is not None:
                    o["rotation"] = rot
            if layout.box is not None and any((cells.get(c) or "").strip() for c in layout.box):
                fail(layout.box[0], (R_INVALID, "box columns do not apply to a cuboid"))
        else:
            pts_text = (cells.get("points") or "").strip()
            box_given = layout.box is not None and any(
                (cells.get(c) or "").strip() for c in layout.box
            )
            if pts_text and box_given:
                fail("points", (R_INVALID, "give either the box columns or points, not both"))
            elif pts_text:
                pts = _points(_json_cell(pts_text), t)
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
                    v = _parse_num((cells.get(col) or "").strip())
                    if type(v) is tuple:
                        fail(col, v)
                    nums.append(v)
                if len(errs) == before:
                    box = _bbox(nums, layout.box_format or self._fmt)
                    if isinstance(box, tuple):
                        fail(",".join(layout.box), box)
                    else:
                        o["points"] = box
            elif not layout.problems:
                need = "box columns or points" if t == "bbox" else "points"
                fail("points", (R_MISSING, f"a {t} needs {need}"))
            if self._norm and "points" in o:
                where = ",".join(layout.box) if box_given and layout.box else "points"
                scaled = self._csv_scale(cells, o["points"], where, fail)
                if scaled is not None:
                    o["points"] = scaled
        # Score, id, attributes.
        score: Any = None
        s_text = (cells.get("score") or "").strip()
        if s_text:
            score = _parse_num(s_text)
            if type(score) is tuple:
                fail("score", score)
                score = None
        given: Any = None
        id_text = (cells.get("id") or "").strip()
        if id_text:
            given = _parse_int(id_text)
            if given is None or given < 1:
                fail("id", (R_INVALID, f"should be a positive integer, got {id_text!r}"))
        attrs: dict[str, Any] = {}
        for col, attr in layout.attrs:
            text = cells.get(col) or ""
            if text == "":
                continue
            v = _attr_cell(text)
            if not _attr_value_ok(v):
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
        if self._osa is not None and score is not None and not errs:
            err = _store_score(o, self._osa, score)
            if err is not None:
                fail(f"attr.{self._osa}", err)
        if errs:
            return None
        payload: dict[str, Any] = {"a": o}
        if score is not None:
            payload["s"] = score
        if given is not None:
            payload["i"] = given
        if fix is not None:
            payload["cf"] = fix
        return payload

    def convert_group(
        self, key: str, items: list[tuple[Location, dict[str, Any]]]
    ) -> LabelJob | list[RowError]:
        """All CSV payloads of one (label set, sample) → one label, or one error per line."""
        labelset, ref_kind, ref = orjson.loads(key)
        # Input order: files in order of first appearance, lines ascending within a file.
        rank: dict[str, int] = {}
        for loc, _ in items:
            rank.setdefault(loc.file, len(rank))
        ordered = sorted(items, key=lambda it: (rank[it[0].file], it[0].line))
        locs = tuple(loc for loc, _ in ordered)
        bad: dict[int, RowError] = {}
        anns: list[_Ann] = []
        fixes: dict[str, str] = {}
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
            min_score = self._min
            anns.append(
                _Ann(
                    a,
                    a.get("type") == "cuboid",
                    s,
                    p.get("i"),
                    min_score is None or s is None or s >= min_score,
                )
            )
            cf = p.get("cf")
            if cf:
                fixes[cf[0]] = cf[1]
        good_index = [n for n in range(len(ordered)) if n not in bad]
        if not bad:
            assembled = self._assemble(anns)
            if isinstance(assembled, _Problem):
                prob = assembled
                n = good_index[prob.index]
                # Name lines, not positions among the label's annotations.
                other = locs[good_index[prob.other]]
                where = f"line {other.line}" if other.file == locs[n].file else str(other)
                bad[n] = RowError(
                    locs[n], prob.field, prob.reason, prob.message.replace("{other}", where)
                )
            else:
                label, score, filtered, dropped = assembled
                extra: dict[str, Any] = {"category_case_fixes": fixes} if fixes else {}
                return LabelJob(
                    sample_uuid=ref if ref_kind == "u" else None,
                    sample_name=ref if ref_kind == "n" else None,
                    labelset=labelset,
                    label_status=self.options.label_status,
                    attributes=label,
                    score=score,
                    locs=locs,
                    filtered_annotations=filtered,
                    object_scores_dropped=dropped,
                    extra=extra,
                )
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


def _store_score(o: dict[str, Any], name: str, score: Any) -> Err | None:
    """Put an annotation's score into its attributes under ``name`` (copying the map)."""
    attrs = o.get("attributes")
    if attrs is not None and name in attrs and attrs[name] != score:
        return R_ATTRIBUTES, (
            f"attribute {name!r} is already set to {_short(attrs[name])}; "
            f"--object-score-attribute {name} would overwrite it with the score {score!r}"
        )
    o["attributes"] = {**(attrs or {}), name: score}
    return None


_NORMALIZED_NEEDS_SIZE = "--normalized needs the image size in pixels: give the width and height"


def _scale(pts: list[list[float]], size: tuple[int, int]) -> list[list[float]] | Err:
    """Normalized points (0..1) → pixels; values outside 0..1 are an error, not clamped."""
    w, h = size
    out: list[list[float]] = []
    for x, y in pts:
        if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
            return R_INVALID, (
                f"--normalized: coordinates should be between 0 and 1, got [{x!r}, {y!r}]; "
                "drop --normalized for pixel coordinates"
            )
        out.append([x * w, y * h])
    return out


def _score_key(score: float | None) -> float:
    return -_INF if score is None else score


def _annotation_lists(
    label: dict[str, Any], base: str
) -> Iterable[tuple[str, list[dict[str, Any]]]]:
    """Every annotations list in a (validated) label: top level, frames, sensors."""
    if isinstance(label.get("annotations"), list):
        yield f"{base}.annotations", label["annotations"]
    for f, frame in enumerate(label.get("frames") or ()):
        if isinstance(frame, dict) and isinstance(frame.get("annotations"), list):
            yield f"{base}.frames[{f}].annotations", frame["annotations"]
    for s, sensor in enumerate(label.get("sensors") or ()):
        attrs = sensor.get("attributes") if isinstance(sensor, dict) else None
        if isinstance(attrs, dict):
            yield from _annotation_lists(attrs, f"{base}.sensors[{s}].attributes")


# --- CSV cells ---------------------------------------------------------------------------

_INT_RE = re.compile(r"[+-]?\d+\Z")
_NUM_RE = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?\Z")


def _parse_int(text: str) -> int | None:
    if _INT_RE.match(text):
        v = int(text)
        if _INT_MIN <= v <= _INT_MAX:
            return v
    return None


def _parse_num(text: str) -> float | Err:
    """A number cell (decimal or scientific notation, finite) → a float."""
    if not text:
        return R_MISSING, "empty: a number is needed"
    try:
        v = float(text)
    except ValueError:
        return R_INVALID, f"should be a number, got {text!r}"
    if not math.isfinite(v):
        return R_NON_FINITE, f"should be a finite number, got {text!r}"
    return v


def _json_cell(text: str) -> Any:
    """A cell holding JSON (points, position...); invalid JSON becomes the text itself,
    which the shape check then reports with the value it got."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return text


def _attr_cell(text: str) -> Any:
    """An ``attr.<name>`` cell → a typed value.

    ``true``/``false`` (any case) → boolean; a JSON number (``3``, ``-0.5``,
    ``1e3``) → number; ``null`` → null; a JSON list (``["a", "b"]``) or a JSON
    string (``"007"``, to keep text that would otherwise parse) → that value;
    anything else → the text unchanged.
    """
    low = text.strip().lower()
    if low == "true":
        return True
    if low == "false":
        return False
    if low == "null":
        return None
    s = text.strip()
    if _NUM_RE.match(s):
        iv = _parse_int(s)
        if iv is not None:
            return iv
        v = float(s)
        return v if math.isfinite(v) else text
    if s[:1] in ('"', "["):
        try:
            return orjson.loads(s)
        except orjson.JSONDecodeError:
            return text
    return text


# Column sets for a box, and the --bbox-format each one means.
_BOX_COLUMNS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("x0", "y0", "x1", "y1"), "xyxy"),
    (("xmin", "ymin", "xmax", "ymax"), "xyxy"),
    (("x", "y", "w", "h"), "xywh"),
    (("cx", "cy", "w", "h"), "cxcywh"),
)
_CSV_PLAIN = (
    "sample_uuid",
    "sample_name",
    "labelset",
    "category",
    "category_id",
    "type",
    "points",
    "score",
    "id",
    "position",
    "dimensions",
    "yaw",
    "rotation",
    # The image size (--normalized); in a cuboid layout, the cuboid's width and height.
    "width",
    "height",
)
#: Point-cloud cuboids as plain columns: position x,y,z, dimensions length (x),
#: width (y), height (z); with the ``yaw`` column.
_CUBOID_COLUMNS = ("x", "y", "z", "length", "width", "height")
#: Every column name the CSV/TSV input understands (besides ``attr.<name>``).
CSV_COLUMNS: tuple[str, ...] = _CSV_PLAIN + tuple(
    sorted({c for cols, _ in _BOX_COLUMNS for c in cols} | {"z", "length"})
)


class _CsvLayout:
    """What a CSV header means: box columns, attribute columns, problems. Cached per header."""

    __slots__ = ("attrs", "box", "box_format", "cuboid", "fast", "problems")

    def __init__(self, columns: list[str], fmt: str) -> None:
        self.problems: list[tuple[str, str]] = []
        self.attrs: list[tuple[str, str]] = []
        self.box: tuple[str, ...] | None = None
        self.box_format: str | None = None
        present = set(columns)
        # Cuboid columns (x,y,z,length,width,height): z or length says so; their x and y
        # are then a position, not box columns.
        self.cuboid = bool(present & {"z", "length"})
        if self.cuboid:
            missing = [c for c in _CUBOID_COLUMNS if c not in present]
            if missing:
                self.problems.append(
                    (
                        missing[0],
                        f"incomplete cuboid columns: missing {', '.join(missing)} (a cuboid "
                        "needs x,y,z,length,width,height and yaw)",
                    )
                )
            for col in ("position", "dimensions"):
                if col in present:
                    self.problems.append(
                        (col, f"give the cuboid as x,y,z,length,width,height or {col} (JSON), "
                         "not both")
                    )  # fmt: skip
            present = present - {"x", "y"}
        for cols, box_fmt in _BOX_COLUMNS:
            if present.issuperset(cols):
                if self.box is not None:
                    continue  # x,y,w,h and cx,cy,w,h both present: reported below
                self.box, self.box_format = cols, box_fmt
        if self.box is not None:
            if self.box_format != fmt:
                self.problems.append(
                    (
                        ",".join(self.box),
                        f"columns {','.join(self.box)} hold a box as {_FMT_HELP[self.box_format or fmt].split(' with ')[0]}, "
                        f"but --bbox-format is {fmt}: pass --bbox-format {self.box_format}",
                    )
                )
            others = [
                c for cols, _ in _BOX_COLUMNS if cols != self.box for c in cols if c in present
            ]
            extra = sorted(set(others) - set(self.box))
            if extra:
                self.problems.append(
                    (
                        extra[0],
                        f"box columns {', '.join(extra)} conflict with {','.join(self.box)}: keep one set",
                    )
                )
        else:
            partial = sorted({c for cols, _ in _BOX_COLUMNS for c in cols if c in present})
            if partial:
                self.problems.append(
                    (
                        partial[0],
                        f"incomplete box columns ({', '.join(partial)}): use x0,y0,x1,y1 or "
                        "xmin,ymin,xmax,ymax (--bbox-format xyxy), x,y,w,h (xywh) or "
                        "cx,cy,w,h (cxcywh)",
                    )
                )
        known = set(CSV_COLUMNS)
        for c in columns:
            if c.startswith("attr."):
                if len(c) > 5:
                    self.attrs.append((c, c[5:]))
                else:
                    self.problems.append((c, "an attribute column needs a name: attr.<name>"))
            elif c not in known:
                self.problems.append(
                    (
                        c,
                        "unknown column"
                        + _suggest_key(c, known)
                        + " (attribute columns are attr.<name>)",
                    )
                )
        if "sample_uuid" not in present and "sample_name" not in present:
            self.problems.append(("sample_uuid", "missing column: sample_uuid or sample_name"))
        if "category" not in present and "category_id" not in present:
            self.problems.append(("category", "missing column: category or category_id"))
        # Records of this header may take Converter._csv_fast: boxes only.
        self.fast = (
            not self.problems
            and self.box is not None
            and not present & {"type", "points", "id", "position", "dimensions", "yaw", "rotation"}
        )


def csv_header_problems(columns: Sequence[str], options: ConvertOptions) -> list[tuple[str, str]]:
    """Problems of a CSV/TSV header as ``(column, message)``, for failing fast before
    reading the rows; every row of such a file would fail with the same errors."""
    return list(_CsvLayout(list(columns), options.bbox_format).problems)
