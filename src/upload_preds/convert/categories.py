"""A dataset's categories: category names to ids, id checks, suggestions.

Built from a dataset's ``task_attributes`` (fetched with ``--dataset`` or read
from ``--categories FILE``). Lookups are dictionary hits: an exact name first,
then the name case-folded. A case-insensitive hit is reported back to the caller
(:class:`CategoryMatch` ``exact=False``) so that the plan can warn that ``Car``
was taken for ``car``; two categories whose names differ only in case make that
folded name ambiguous, and it is then not matched at all.

:meth:`Categories.from_file` accepts three shapes of JSON file:

* the ``task_attributes`` object itself (``{"categories": [...], ...}``);
* a whole dataset object (``{"task_type": ..., "task_attributes": {...}}``),
  as ``GET /datasets/{owner}/{name}/`` returns it, which also gives the task
  type;
* a sandbox manifest (``{"datasets": [one dataset object]}``), such as
  ``sample_data/dataset.json``.

A multi-sensor dataset declares its sensors in ``task_attributes.sensors``
(``[{"name", "task_type", "task_attributes"}]``), each with categories of its
own: :attr:`Categories.sensors` holds one :class:`SensorCategories` per sensor,
in the dataset's order (see :mod:`.multisensor`); its top-level ``categories``
may then be absent. A sensor without ``task_attributes`` of its own
(``{"name", "task_type"}``) has the dataset's top-level categories.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from upload_preds.errors import InputFileError
from upload_preds.labelmodels import TASK_TYPES

__all__ = ["Categories", "CategoryMatch", "SensorCategories"]


@dataclass(frozen=True, slots=True)
class CategoryMatch:
    """The result of a successful name lookup: the id and the name as the dataset spells it."""

    id: int
    name: str
    exact: bool


@dataclass(frozen=True, slots=True)
class SensorCategories:
    """One sensor of a multi-sensor dataset: its name, task type and own categories."""

    name: str
    task_type: str
    categories: Categories


class Categories:
    """The categories of one dataset, and its task type when known."""

    __slots__ = (
        "_by_folded",
        "_by_id",
        "_by_name",
        "_dup_names",
        "_folded_ambiguous",
        "sensors",
        "task_type",
    )

    def __init__(self, categories: Iterable[tuple[int, str]], task_type: str | None = None) -> None:
        """Build from ``(id, name)`` pairs. Raises ``ValueError`` on a duplicate id.

        Any task type is kept as given (the converter refuses the ones it cannot
        write, with a usage error); ``""`` means none, as in the SDK's ``TaskType.EMPTY``.
        """
        if task_type == "":
            task_type = None
        self.task_type: str | None = task_type
        #: The sensors of a multi-sensor dataset (empty for any other).
        self.sensors: tuple[SensorCategories, ...] = ()
        self._by_id: dict[int, str] = {}
        self._by_name: dict[str, int] = {}
        self._by_folded: dict[str, int] = {}
        # Names (exact, and case-folded) that more than one category carries: a
        # lookup by such a name cannot say which id is meant.
        self._dup_names: set[str] = set()
        self._folded_ambiguous: set[str] = set()
        for cat_id, name in categories:
            if cat_id in self._by_id:
                raise ValueError(
                    f"category id {cat_id} is used twice ({self._by_id[cat_id]!r} and {name!r})"
                )
            self._by_id[cat_id] = name
            if name in self._by_name:
                self._dup_names.add(name)
            self._by_name.setdefault(name, cat_id)
            folded = name.casefold()
            if folded in self._by_folded:
                self._folded_ambiguous.add(folded)
            self._by_folded.setdefault(folded, cat_id)

    # --- constructors ---------------------------------------------------------------

    @classmethod
    def from_task_attributes(cls, d: Any, task_type: str | None = None) -> Categories:
        """Build from a ``task_attributes`` object. Raises ``ValueError`` saying what is wrong."""
        if not isinstance(d, dict):
            raise ValueError(f"task_attributes should be a JSON object, not {type(d).__name__}")
        cats = d.get("categories")
        sensors = d.get("sensors")
        if cats is None and isinstance(sensors, list):
            cats = []  # a multi-sensor dataset: the categories are the sensors'
        if not isinstance(cats, list):
            raise ValueError("task_attributes has no 'categories' list")
        pairs: list[tuple[int, str]] = []
        for i, cat in enumerate(cats):
            if not isinstance(cat, dict):
                raise ValueError(f"categories[{i}] should be an object with 'id' and 'name'")
            cat_id, name = cat.get("id"), cat.get("name")
            if type(cat_id) is not int:
                raise ValueError(f"categories[{i}].id should be an integer, got {cat_id!r}")
            if not isinstance(name, str) or not name:
                raise ValueError(f"categories[{i}].name should be a non-empty string, got {name!r}")
            pairs.append((cat_id, name))
        if task_type is not None and not isinstance(task_type, str):
            raise ValueError(f"task_type should be a string, got {task_type!r}")
        out = cls(pairs, task_type)
        if sensors is not None:
            out.sensors = _sensors(sensors, pairs)
        return out

    @classmethod
    def from_file(cls, path: str | Path) -> Categories:
        """Read a JSON file: task_attributes, a dataset object, or a one-dataset manifest.

        Raises :class:`~upload_preds.errors.InputFileError` naming the file and the problem.
        """
        name = str(path)
        hint = (
            'pass a JSON file holding the dataset\'s task_attributes ({"categories": [...]}) '
            "or the dataset itself as GET /datasets/OWNER/NAME/ returns it"
        )
        try:
            raw = Path(path).read_bytes()
        except OSError as exc:
            raise InputFileError(name, f"cannot read the categories file: {exc.strerror}") from None
        try:
            doc = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise InputFileError(
                name, f"the categories file is not valid JSON: {exc}", hint=hint
            ) from None
        task_type: Any = None
        if isinstance(doc, dict) and "datasets" in doc and "categories" not in doc:
            datasets = doc["datasets"]
            if not isinstance(datasets, list) or len(datasets) != 1:
                count = len(datasets) if isinstance(datasets, list) else "no"
                raise InputFileError(
                    name,
                    f"the manifest holds {count} datasets; a categories file needs exactly one",
                    hint=hint,
                )
            doc = datasets[0]
        if isinstance(doc, dict) and "task_attributes" in doc:
            task_type = doc.get("task_type")
            doc = doc["task_attributes"]
        if task_type not in (None, "") and task_type not in TASK_TYPES:
            known = ", ".join(sorted(TASK_TYPES))
            raise InputFileError(
                name, f"unknown task type {task_type!r}; known task types: {known}", hint=hint
            )
        try:
            return cls.from_task_attributes(doc, task_type)
        except ValueError as exc:
            raise InputFileError(name, str(exc), hint=hint) from None

    # --- lookups ------------------------------------------------------------------------

    def lookup(self, name: str) -> CategoryMatch | None:
        """The category called ``name``: exactly, else case-insensitively; ``None`` when
        there is none, or when several categories carry that name."""
        cat_id = self._by_name.get(name)
        if cat_id is not None:
            return None if name in self._dup_names else CategoryMatch(cat_id, name, True)
        folded = name.casefold()
        if folded in self._folded_ambiguous:
            return None
        cat_id = self._by_folded.get(folded)
        if cat_id is None:
            return None
        return CategoryMatch(cat_id, self._by_id[cat_id], False)

    def is_ambiguous(self, name: str) -> bool:
        """Whether ``name`` fails to resolve because several categories carry it."""
        return name in self._dup_names or (
            name not in self._by_name and name.casefold() in self._folded_ambiguous
        )

    def has_id(self, cat_id: int) -> bool:
        return cat_id in self._by_id

    def name_of(self, cat_id: int) -> str | None:
        return self._by_id.get(cat_id)

    @property
    def ids(self) -> list[int]:
        return sorted(self._by_id)

    @property
    def names(self) -> list[str]:
        return list(self._by_id.values())

    def names_by_id(self) -> dict[int, str]:
        """Every category as id → name (a copy)."""
        return dict(self._by_id)

    def __len__(self) -> int:
        return len(self._by_id)

    def suggest(self, name: str, n: int = 3) -> list[str]:
        """Up to ``n`` known names closest to ``name``, closest first (may be empty)."""
        by_folded = {k.casefold(): k for k in self._by_id.values()}
        close = difflib.get_close_matches(name.casefold(), list(by_folded), n=n, cutoff=0.5)
        return [by_folded[c] for c in close]

    def describe_ids(self, limit: int = 12) -> str:
        """``1 car, 2 truck, ...`` for messages, shortened past ``limit`` entries."""
        items = [f"{i} {self._by_id[i]}" for i in self.ids]
        if len(items) > limit:
            return ", ".join(items[:limit]) + f", ... ({len(items)} in all)"
        return ", ".join(items)

    def __repr__(self) -> str:
        return f"Categories({len(self)} categories, task_type={self.task_type!r})"


def _sensors(sensors: Any, shared: list[tuple[int, str]]) -> tuple[SensorCategories, ...]:
    """``task_attributes.sensors`` → one entry per sensor (``shared``: the dataset's own
    categories, for sensors without theirs); ``ValueError`` naming the sensor."""
    if not isinstance(sensors, list):
        raise ValueError("task_attributes.sensors should be a list of sensors")
    out: list[SensorCategories] = []
    seen: set[str] = set()
    for i, s in enumerate(sensors):
        where = f"sensors[{i}]"
        if not isinstance(s, dict):
            raise ValueError(f"{where} should be an object with name, task_type, task_attributes")
        name, task_type = s.get("name"), s.get("task_type")
        if not isinstance(name, str) or not name:
            raise ValueError(f"{where}.name should be a non-empty string, got {name!r}")
        if name in seen:
            raise ValueError(f"{where}.name: two sensors are named {name!r}")
        seen.add(name)
        if not isinstance(task_type, str) or task_type not in TASK_TYPES:
            raise ValueError(f"{where}.task_type: unknown task type {task_type!r}")
        try:
            if s.get("task_attributes") is None:  # the dataset's categories
                cats = Categories(shared, task_type)
            else:
                cats = Categories.from_task_attributes(s["task_attributes"], task_type)
        except ValueError as exc:
            raise ValueError(f"{where} ({name}): {exc}") from None
        out.append(SensorCategories(name, task_type, cats))
    return tuple(out)
