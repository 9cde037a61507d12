"""The values that flow through the pipeline, shared by every stage.

``readers`` yields :class:`Record` (one parsed input record with its source
location), :class:`RowError` (a record that could not even be parsed) and
:class:`Notice` (a remark that fails nothing, such as a skipped blank line);
``convert`` turns records into :class:`LabelJob` (one Segments label, ready to
send) or :class:`RowError`; the pipeline hands out each label, or a
:class:`Failure` (records that produce no label, with every reason) or a
:class:`Skip` (records deliberately not uploaded). Plain slotted dataclasses and named tuples, not
pydantic models: millions of them are created, and they carry already-validated
data. :class:`Location` and :class:`Record`, made once per input record, are
named tuples because a frozen dataclass's ``__init__`` (``object.__setattr__``
per field) costs several times as much; hot readers may even build them with
``tuple.__new__(Location, (file, line))``, which skips the Python-level
``__new__``. They stay immutable and hashable, and compare field by field.
:class:`PlannedLabelJob` is the dry run's :class:`LabelJob`: checked in full,
its annotation objects built only when its ``attributes`` are read.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, Literal, NamedTuple

Format = Literal["jsonl", "json", "csv", "tsv"]
FORMATS: tuple[Format, ...] = ("jsonl", "json", "csv", "tsv")

STDIN_NAME = "<stdin>"


class Location(NamedTuple):
    """Where a record came from: a display file name and a 1-based physical line."""

    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


class Record(NamedTuple):
    """One input record.

    ``data`` is the parsed JSON object for JSON/JSONL rows, or the cells of one
    CSV/TSV record as ``{column: text}`` (one annotation per CSV record).
    """

    loc: Location
    fmt: Format
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class RowError:
    """Why one record (or one label built from several CSV records) was rejected.

    ``field`` names the offending field as the user wrote it
    (``annotations[2].bbox`` in JSON, the column name in CSV), or ``None`` when
    the problem is the row as a whole. ``reason`` is a short, stable key that
    groups errors in the summary (``"unknown category"``, ``"invalid JSON"``).
    ``message`` says what is wrong and, where possible, what to do.
    ``raw`` is set by the readers for a record that could not be parsed at all
    (a JSONL line that is not JSON, a CSV record with a bad quote, a row with a
    key twice): the record's bytes as read, without the line terminator, so a
    failures file can hand the record back as the user wrote it. ``None`` for
    every record that parsed (its data is the record) and where the bytes are
    not at hand (a line over the length cap).
    """

    loc: Location
    field: str | None
    reason: str
    message: str
    raw: bytes | None = None

    def __str__(self) -> str:
        if self.field:
            return f"{self.loc}: {self.field}: {self.message}"
        return f"{self.loc}: {self.message}"


@dataclass(frozen=True, slots=True)
class Notice:
    """Something worth telling the user that does not fail a row (a blank line)."""

    loc: Location
    message: str

    def __str__(self) -> str:
        return f"{self.loc}: {self.message}"


@dataclass(slots=True)
class LabelJob:
    """One label to PUT: ``/labels/{sample_uuid}/{labelset}/`` with its body.

    Exactly one of ``sample_uuid`` / ``sample_name`` is set when it leaves the
    converter; the upload stage resolves names to uuids. ``attributes`` is the
    complete Segments label attributes object, JSON-ready. ``locs`` lists every
    source record that went into the label (several for grouped CSV rows),
    first one first.
    """

    sample_uuid: str | None
    sample_name: str | None
    labelset: str
    label_status: str
    attributes: dict[str, Any]
    score: float | None
    locs: Sequence[Location]
    # Counts for the plan: annotations dropped by --min-score, and whether
    # per-annotation scores were present but not stored anywhere.
    filtered_annotations: int = 0
    object_scores_dropped: bool = False
    extra: dict[str, Any] = field(default_factory=dict)
    # More counts for the plan: bboxes of complete attributes whose corners were put
    # in order, and whether ``score`` was derived from annotation scores (--score-from).
    bbox_reordered: int = 0
    score_derived: bool = False

    @property
    def loc(self) -> Location:
        return self.locs[0]

    @property
    def sample_ref(self) -> str:
        """The uuid when known, else the name: what the user would recognise."""
        return self.sample_uuid if self.sample_uuid is not None else str(self.sample_name)

    def body(self) -> dict[str, Any]:
        """The PUT body: attributes, label_status and score (only when given)."""
        out: dict[str, Any] = {"attributes": self.attributes, "label_status": self.label_status}
        if self.score is not None:
            out["score"] = self.score
        return out


#: Where a :class:`PlannedLabelJob` gets its attributes when they are asked for:
#: ``build(data, loc)`` returns the label attributes of ``data``.
AttributesBuilder = Callable[[Any, Location], dict[str, Any]]

# The slot descriptor behind LabelJob.attributes, which the property below shadows.
_LABEL_ATTRIBUTES: Any = LabelJob.__dict__["attributes"]


class PlannedLabelJob(LabelJob):
    """A :class:`LabelJob` checked in full whose attributes are built on first use.

    A dry run only counts labels: building each annotation object (a dict and
    three lists per box) costs more than checking it. The converter's plan
    mode checks a row exactly as it does for an upload and keeps, instead of
    the annotation objects, what the plan counts: ``plan_type`` (the type of
    every annotation) and ``plan_categories`` (their category ids in order).
    Reading :attr:`attributes` builds the real label from the row the first
    time (``build(data, loc)``), so a planned job is a complete job to anyone
    who asks: equality, ``body()`` and ``repr`` all see the built label.
    """

    __slots__ = ("_source", "plan_categories", "plan_type")

    plan_type: str
    plan_categories: list[Any]
    _source: tuple[AttributesBuilder, Any, Location] | None

    def __init__(
        self,
        sample_uuid: str | None,
        sample_name: str | None,
        labelset: str,
        label_status: str,
        score: float | None,
        locs: Sequence[Location],
        filtered_annotations: int,
        object_scores_dropped: bool,
        score_derived: bool,
        plan_type: str,
        plan_categories: list[Any],
        source: tuple[AttributesBuilder, Any, Location],
    ) -> None:
        # Made once per row of a dry run: plain slot stores, the attributes slot
        # left empty (LabelJob.__init__ would go through the property below).
        self.sample_uuid = sample_uuid
        self.sample_name = sample_name
        self.labelset = labelset
        self.label_status = label_status
        self.score = score
        self.locs = locs
        self.filtered_annotations = filtered_annotations
        self.object_scores_dropped = object_scores_dropped
        self.extra = {}
        self.bbox_reordered = 0
        self.score_derived = score_derived
        self.plan_type = plan_type
        self.plan_categories = plan_categories
        self._source = source

    @property
    def attributes(self) -> dict[str, Any]:
        try:
            attrs: dict[str, Any] = _LABEL_ATTRIBUTES.__get__(self)
        except AttributeError:  # not built yet
            source = self._source
            assert source is not None, "a planned job without attributes has a source"
            build, data, loc = source
            attrs = build(data, loc)
            _LABEL_ATTRIBUTES.__set__(self, attrs)
            self._source = None
        return attrs

    @attributes.setter
    def attributes(self, value: dict[str, Any] | None) -> None:
        _LABEL_ATTRIBUTES.__set__(self, value)

    def __eq__(self, other: object) -> bool:
        # Equal to the LabelJob that convert() makes of the same row.
        if not isinstance(other, LabelJob):
            return NotImplemented
        return all(getattr(self, f) == getattr(other, f) for f in _LABEL_FIELDS)

    __hash__ = None  # type: ignore[assignment]  # mutable, like LabelJob


_LABEL_FIELDS = tuple(f.name for f in fields(LabelJob))


@dataclass(slots=True)
class Failure:
    """Input records that produce no label, with every reason why.

    ``rows`` maps each source location to its original data (the JSON object,
    or the CSV cells), so that a failures file can be written in the input's
    own format and fed straight back in.
    """

    errors: tuple[RowError, ...]
    rows: tuple[tuple[Location, dict[str, Any]], ...]

    @property
    def loc(self) -> Location:
        return self.errors[0].loc


@dataclass(slots=True)
class Skip:
    """Input records deliberately not uploaded (e.g. superseded duplicates)."""

    reason: str
    message: str
    rows: tuple[tuple[Location, dict[str, Any]], ...]


def raw_rows(job: LabelJob) -> tuple[tuple[Location, dict[str, Any]], ...]:
    """The original input data of a job (for failures files)."""
    rows: tuple[tuple[Location, dict[str, Any]], ...] = job.extra.get("rows", ())
    return rows
