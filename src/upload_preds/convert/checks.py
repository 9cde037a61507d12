"""Shared checks of the converter: numbers, strings, attribute maps, scores, image sizes.

Every check returns the value or a ``(reason, message)`` pair (:data:`Err`);
the caller names the field as the user wrote it. The ``R_*`` reasons are
stable strings: the plan and the summary group errors by them.

* Numbers are finite JSON numbers: ``true``/``false`` are not numbers, floats
  must be finite, integers must fit in 64 bits (:func:`is_num`).
* Attribute maps (``image_attributes``, an annotation's ``attributes``) are
  flat: string keys to strings, booleans, finite numbers, lists of strings or
  null (:func:`check_flat_map`).
* Scores, label and annotation, must be finite numbers; no range is enforced,
  as neither the SDK (``score: Optional[float]``) nor the platform docs set one.
  A label without a score of its own takes one from its kept annotations'
  scores, the mean unless ``--score-from max|min|none`` says otherwise
  (:func:`derive_score`); annotation scores reach the label only through
  ``--object-score-attribute`` (:func:`store_score`).
* ``--normalized`` coordinates are fractions of the row's ``width``/``height``
  (:func:`scale_points`); values outside 0..1 are an error, not clamped.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable
from typing import Any

from upload_preds.records import Location, RowError

INF = math.inf
INT_MIN = -(2**63)
INT_MAX = 2**63 - 1

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


def is_num(v: Any) -> bool:
    """A finite JSON number (``true``/``false`` are not numbers)."""
    t = type(v)
    if t is float:
        return bool(-INF < v < INF)
    if t is int:
        return bool(INT_MIN <= v <= INT_MAX)
    return False


def num_err(v: Any) -> Err:
    if type(v) is float:
        return R_NON_FINITE, f"should be a finite number, got {v!r}"
    if type(v) is int:
        return R_INVALID, "number is too large"
    return R_INVALID, f"should be a number, got {short(v)}"


def short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def valid_labelset(v: Any) -> bool:
    return type(v) is str and bool(v.strip()) and "/" not in v


def valid_ref(v: Any) -> bool:
    return type(v) is str and bool(v.strip()) and "/" not in v


def attr_value_ok(x: Any) -> bool:
    t = type(x)
    if t is str or t is bool or x is None:
        return True
    if t is int or t is float:
        return is_num(x)
    if t is list:
        return all(type(s) is str for s in x)
    return False


def check_flat_map(v: Any) -> dict[str, Any] | tuple[str | None, str]:
    """An attributes map: string keys → string, boolean, number, list of strings or null.

    Returns the map, or ``(key or None, message)``.
    """
    if type(v) is not dict:
        return None, f"should be an object of name → value, got {short(v)}"
    for k, x in v.items():
        t = type(x)
        # The common values first, inline: this runs for every row's image attributes.
        if (t is str or t is bool or x is None) and type(k) is str:
            continue
        if type(k) is not str:
            return None, f"keys should be strings, got {short(k)}"
        if not attr_value_ok(x):
            return k, (
                "should be a string, boolean, finite number, list of strings or null, "
                f"got {short(x)}"
            )
    return v


def suggest_key(key: Any, allowed: Iterable[str]) -> str:
    close = difflib.get_close_matches(str(key), list(allowed), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def unknown_field(
    key: Any, allowed: Iterable[str], what: str = "unknown field", hint: str | None = None
) -> str:
    """The message of a key no rule knows: ``what``, the known keys, and ``hint`` (by
    default the closest known key, if any)."""
    known = sorted(allowed)
    return f"{what} (known: {', '.join(known)})" + (
        suggest_key(key, known) if hint is None else hint
    )


def store_score(o: dict[str, Any], name: str, score: Any) -> Err | None:
    """Put an annotation's score into its attributes under ``name`` (copying the map)."""
    attrs = o.get("attributes")
    if attrs is not None and name in attrs and attrs[name] != score:
        return R_ATTRIBUTES, (
            f"attribute {name!r} is already set to {short(attrs[name])}; "
            f"--object-score-attribute {name} would overwrite it with the score {score!r}"
        )
    o["attributes"] = {**(attrs or {}), name: score}
    return None


NORMALIZED_NEEDS_SIZE = "--normalized needs the image size in pixels: give the width and height"


def scale_points(pts: list[list[float]], size: tuple[int, int]) -> list[list[float]] | Err:
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


def score_key(score: float | None) -> float:
    return -INF if score is None else score


def image_size(
    data: dict[str, Any], loc: Location, errors: list[RowError]
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
                RowError(loc, key, R_INVALID, f"should be a positive integer, got {short(v)}")
            )
        else:
            out.append(v)
    return (out[0], out[1]) if len(out) == 2 else None


def derive_score(scores: list[float], how: str) -> float | None:
    """A label score from its annotations' scores, as ``--score-from`` says (``None`` for
    ``none`` or no scores)."""
    if how == "none" or not scores:
        return None
    if how == "max":
        return max(scores)
    if how == "min":
        return min(scores)
    # Summed left to right, as the fast path (fast.py) sums them as it goes: the same
    # float either way (math.fsum can round differently in the last bit).
    total = 0.0
    for s in scores:
        total += s
    return total / len(scores)


def checked_image_attributes(data: dict[str, Any], loc: Location, errors: list[RowError]) -> Any:
    """The row's ``image_attributes`` (``None`` when absent); a problem is appended to
    ``errors`` and the value is returned all the same (the row fails anyway)."""
    image_attributes = data.get("image_attributes")
    if image_attributes is not None:
        checked = check_flat_map(image_attributes)
        if type(checked) is tuple:
            key, msg = checked
            field = "image_attributes" if key is None else f"image_attributes.{key}"
            errors.append(RowError(loc, field, R_ATTRIBUTES, msg))
    return image_attributes
