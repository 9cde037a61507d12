"""Model class names → dataset category ids: ``--category-map`` and ``--skip-unknown-categories``.

Detectors name their classes (``person``, ``Car``, ``traffic light``); a
Segments label carries dataset category ids. :class:`CategoryResolver` turns
one class name into one outcome, once per distinct name (the answer is cached,
so a million detections of 80 classes cost 80 look-ups):

1. ``--category-map FILE`` renames the class (a JSON object ``{"person":
   "pedestrian", "cat": null}`` or a two-column CSV ``model,dataset`` whose
   empty second cell means null). A class mapped to ``null`` is dropped on
   purpose: :data:`SKIP_MAPPED_NULL`, counted, not a failure. Classes the map
   does not mention keep their own name.
2. The (renamed) name is looked up in the dataset's categories: exactly, else
   case-insensitively, which works but is reported once per class as a
   :class:`CaseWarning` so that a typo-level difference is seen.
3. A name the dataset does not have fails its rows (``unknown category``,
   with the closest names), or with ``--skip-unknown-categories`` is dropped
   and counted as :data:`SKIP_UNKNOWN`.

Without the dataset's categories (an offline run without ``--categories``) the
name is passed through unchanged and the converter reports what it can.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import orjson

from upload_preds.convert.categories import Categories
from upload_preds.errors import InputFileError

__all__ = [
    "SKIP_MAPPED_NULL",
    "SKIP_UNKNOWN",
    "CaseWarning",
    "CategoryResolver",
    "Resolved",
    "load_category_map",
]

SKIP_MAPPED_NULL = "category mapped to null"
SKIP_UNKNOWN = "unknown category skipped"


@dataclass(frozen=True, slots=True)
class Resolved:
    """One class's outcome: exactly one of ``category_id``, ``name``, ``skip``, ``error``.

    ``name`` is set (and ``category_id`` not) when no categories are known.
    """

    category_id: int | None = None
    name: str | None = None
    skip: str | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class CaseWarning:
    """A class that matched a category only when case is ignored."""

    cls: str
    category: str

    def __str__(self) -> str:
        return (
            f"class {self.cls!r} was taken for category {self.category!r} (the case differs); "
            "map it with --category-map to silence this"
        )


def load_category_map(path: str | Path) -> dict[str, str | None]:
    """Read a JSON object or a two-column CSV; raise :class:`InputFileError` on a bad file."""
    name = str(path)
    hint = 'give a JSON object {"model class": "dataset category" or null} or a two-column CSV'
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise InputFileError(name, f"cannot be read: {exc.strerror or exc}", hint=hint) from None
    text = raw.decode("utf-8-sig", errors="replace")
    if text.lstrip().startswith("{"):
        try:
            doc = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise InputFileError(name, f"is not valid JSON ({exc})", hint=hint) from None
        out: dict[str, str | None] = {}
        for key, value in doc.items():
            if value is not None and not (isinstance(value, str) and value.strip()):
                raise InputFileError(
                    name,
                    f"the class {key!r} maps to {value!r}; a target is a category name or null",
                    hint=hint,
                )
            out[key.strip()] = value.strip() if isinstance(value, str) else None
        return out
    out = {}
    for lineno, cells in enumerate(csv.reader(io.StringIO(text)), start=1):
        if not cells or all(not c.strip() for c in cells):
            continue
        if len(cells) != 2:
            raise InputFileError(
                name,
                f"line {lineno} has {len(cells)} cells; each line is: model class,dataset "
                "category (empty for null)",
                hint=hint,
            )
        src, dst = cells[0].strip(), cells[1].strip()
        if lineno == 1 and src.casefold() in ("model", "class", "source", "from"):
            continue  # a header line
        if src in out:
            raise InputFileError(name, f"line {lineno}: the class {src!r} is mapped twice")
        out[src] = dst or None
    return out


class CategoryResolver:
    """Resolves model class names; bind the dataset's categories with :meth:`bind`."""

    def __init__(
        self,
        category_map: dict[str, str | None] | None = None,
        *,
        skip_unknown: bool = False,
    ) -> None:
        self.category_map = category_map or {}
        self.skip_unknown = skip_unknown
        self.categories: Categories | None = None
        self._cache: dict[str, Resolved] = {}
        #: Case-only matches met so far, for the caller to report once each.
        self.case_warnings: list[CaseWarning] = []

    def bind(self, categories: Categories | None) -> None:
        self.categories = categories
        self._cache.clear()
        self.case_warnings.clear()

    def resolve(self, cls: str) -> Resolved:
        hit = self._cache.get(cls)
        if hit is None:
            hit = self._cache[cls] = self._resolve(cls)
        return hit

    def _resolve(self, cls: str) -> Resolved:
        name = cls.strip()
        if name in self.category_map:
            target = self.category_map[name]
            if target is None:
                return Resolved(skip=SKIP_MAPPED_NULL)
            name = target
        cats = self.categories
        if cats is None:
            return Resolved(name=name)
        match = cats.lookup(name)
        if match is not None:
            if not match.exact:
                self.case_warnings.append(CaseWarning(cls, match.name))
            return Resolved(category_id=match.id)
        if self.skip_unknown:
            return Resolved(skip=SKIP_UNKNOWN)
        shown = repr(cls) if name == cls else f"{cls!r} (mapped to {name!r})"
        if cats.is_ambiguous(name):
            return Resolved(error=f"several dataset categories are named {name!r} (up to case)")
        near = cats.suggest(name)
        hint = f"; did you mean {', '.join(repr(n) for n in near)}?" if near else ""
        return Resolved(
            error=f"class {shown} is not a category of the dataset{hint} (it has: "
            f"{cats.describe_ids()}); map it with --category-map, or pass "
            "--skip-unknown-categories to drop such objects"
        )
