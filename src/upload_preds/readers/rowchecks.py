"""Checks of a parsed JSON row that the parsers cannot make: keys given twice, nesting depth.

orjson and :mod:`json` keep the last of a key given twice in one object
without a word, and accept nesting as deep as their recursion allows (orjson
1024 levels): a row whose ``sample_name`` is given twice would go to the
second sample, and a row 900 levels deep breaks later stages (writing it back,
pickling). Both are row errors here, with the row's raw text.

Both are found without slowing the common row down, in three tiers:

1. In the reader's loop, for every row (:func:`flat_keys` and two ``count``
   calls, all C underneath): every key in the text is followed by a ``:``, so
   colons >= keys written >= keys parsed >= the keys of the row and of the
   objects of its ``annotations`` list. When the text's colons equal the
   latter, all are equal: no key was lost. Then no other object holds a key
   (only empty ones can sit below), so the row is at most its count of ``[``
   plus 3 levels deep, and at most :data:`MAX_DEPTH` - 3 of them pass too.
2. :func:`row_problem`, for rows tier 1 cannot clear (objects in annotation
   attributes, complete labels, polygons): depth is measured exactly when the
   ``{`` and ``[`` count could exceed :data:`MAX_DEPTH`; then the parsed row
   is written back by orjson and its colons compared with the text's. When no
   colon is written as an escape (``\\u003a``), colons in strings are the
   same on both sides, so equal counts prove no key was lost.
3. Otherwise the row is parsed again with an ``object_pairs_hook`` that keeps
   every key, which names the repeated key and its path
   (``annotations[1].category``).
"""

from __future__ import annotations

import json
from typing import Any

import orjson

from upload_preds.readers.common import MAX_DEPTH, strip_eol
from upload_preds.records import Location, RowError

_DICT_LEN = dict.__len__


def flat_keys(row: dict[str, Any]) -> int:
    """Tier 1: the keys of ``row`` and of the objects of its ``annotations`` list, or
    -1 when one of those is not an object (then tier 2 decides)."""
    anns = row.get("annotations")
    if type(anns) is not list:
        return len(row)
    try:
        # dict.__len__ raises TypeError on anything but a dict, in C.
        return len(row) + sum(map(_DICT_LEN, anns))
    except TypeError:
        return -1


def row_problem(text: bytes | str, row: dict[str, Any], loc: Location) -> RowError | None:
    """Tiers 2 and 3 for a row tier 1 could not clear: too deep, or a key given twice.

    ``text`` is the row as written (a JSONL line, a JSON document's element),
    ``row`` what it parsed to. Rows the check passes are fine as they are.
    """
    raw = strip_eol(text) if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass")
    if raw.count(b"{") + raw.count(b"[") > MAX_DEPTH and _deeper_than(row, MAX_DEPTH):
        return too_deep(loc, raw)
    # Depth <= MAX_DEPTH here, far below the 254 levels orjson writes.
    if b"\\u003" not in raw and raw.count(b":") == orjson.dumps(row).count(b":"):
        return None
    # Parse again, keeping every key: only rows the cheap test flagged get here.
    tree = json.loads(text, object_pairs_hook=_pairs)
    found = _first_repeated(tree, "")
    if found is None:
        return None
    where, key = found
    return RowError(
        loc,
        f"{where}.{key}" if where else key,
        "duplicate key",
        f"the key {key!r} is given twice in one object; JSON keeps only the last value, "
        "so the other one would be lost: remove or rename one of them",
        raw,
    )


def too_deep(loc: Location, raw: bytes) -> RowError:
    return RowError(
        loc,
        None,
        "too deeply nested",
        f"the row nests objects and arrays more than {MAX_DEPTH} levels deep; "
        "a label needs far fewer: check how the row was written",
        raw,
    )


def _deeper_than(value: dict[str, Any], limit: int) -> bool:
    """Whether ``value`` nests objects and arrays more than ``limit`` levels deep."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        for child in node.values() if type(node) is dict else node:
            if type(child) is dict or type(child) is list:
                stack.append((child, depth + 1))
    return False


class _Repeats(dict[str, Any]):
    """An object of a re-parsed row that has ``key`` more than once."""

    key: str


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) == len(pairs):
        return out
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            marked = _Repeats(out)
            marked.key = key
            return marked
        seen.add(key)
    raise AssertionError("unreachable: fewer keys than pairs means a repeat")


def _first_repeated(value: Any, path: str) -> tuple[str, str] | None:
    """The path and key of the first object (in document order) with a repeated key."""
    if isinstance(value, _Repeats):
        return path, value.key
    if isinstance(value, dict):
        for key, child in value.items():
            found = _first_repeated(child, f"{path}.{key}" if path else key)
            if found is not None:
                return found
    elif type(value) is list:
        for i, child in enumerate(value):
            found = _first_repeated(child, f"{path}[{i}]")
            if found is not None:
                return found
    return None


def not_object(loc: Location, value: object, raw: bytes | None) -> RowError:
    kind = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number"
    )
    return RowError(
        loc, None, "not an object", f"expected a JSON object for the row, got {kind}", raw
    )
