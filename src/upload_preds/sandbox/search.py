"""The search syntax of the review page and ``upload-preds-sandbox search``: parse, render, resolve.

A query is terms joined by spaces, all of which must hold (AND)::

    ground-truth.car:>0 predictions.car:=0
    "model.v3"."traffic light":>=2

Each term is ``LABELSET.CATEGORY:OP N``: OP is one of ``>``, ``>=``, ``<``,
``<=``, ``=`` and N a whole number ≥ 0, compared with the number of objects
of that category in the sample's label of that label set (a sample without a
label in the set counts 0 of everything). A name is written bare when it
has no whitespace, ``.``, ``:``, ``"``, ``\\``, ``<``, ``>`` or ``=``; otherwise in double quotes,
with ``\\"`` and ``\\\\`` inside (label set names may contain dots, category
names anything). The empty query matches every sample.

:func:`parse` is purely syntactic and needs no dataset; :func:`resolve` then
checks the names against a dataset (label sets, category names → ids). Both
raise :class:`QueryError`, which carries the character span of the bad part,
so every front end can point at it: :meth:`QueryError.pointer` draws the
query with a caret line under the span, the page underlines it.
:func:`render` writes a query back in canonical form; ``parse(render(q)) == q``.

:func:`category_counts` counts the objects per category of one label's
attributes; the store keeps its result next to every label so a search reads
one small JSON object per label instead of every annotation.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

OPS: tuple[str, ...] = (">=", "<=", ">", "<", "=")
SYNTAX_HINT = "write LABELSET.CATEGORY:OP N, e.g. ground-truth.car:>0"
_SPACE = re.compile(r"\s+")
_BARE = re.compile(r'[^\s.:"\\<>=]+')
_DIGITS = re.compile(r"[0-9]+")
_WORD = re.compile(r"\S+")


class QueryError(ValueError):
    """A query that cannot be used; ``start``/``end`` delimit the bad part (0-based, end exclusive)."""

    def __init__(self, query: str, start: int, end: int, message: str) -> None:
        self.query = query
        self.start = max(0, min(start, len(query)))
        self.end = max(self.start + 1, min(end, len(query) + 1))
        self.message = message
        super().__init__(f"column {self.start + 1}: {message}")

    def pointer(self) -> str:
        """The query and a caret line under the bad part, for a terminal."""
        carets = "^" * (self.end - self.start)
        return f"  {self.query}\n  {' ' * self.start}{carets} {self.message}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "message": self.message,
            "start": self.start,
            "end": self.end,
            "column": self.start + 1,
            "pointer": self.pointer(),
        }


@dataclass(frozen=True, slots=True)
class Term:
    """One ``LABELSET.CATEGORY:OP N`` condition. The span is where it was written (not compared)."""

    labelset: str
    category: str
    op: str
    value: int
    span: tuple[int, int] = field(default=(0, 0), compare=False)
    labelset_span: tuple[int, int] = field(default=(0, 0), compare=False)
    category_span: tuple[int, int] = field(default=(0, 0), compare=False)

    def holds(self, count: int) -> bool:
        return compare(count, self.op, self.value)

    @property
    def key(self) -> str:
        """``labelset.category`` as written canonically (the column name in results)."""
        return f"{render_name(self.labelset)}.{render_name(self.category)}"

    def render(self) -> str:
        return f"{self.key}:{self.op}{self.value}"


@dataclass(frozen=True, slots=True)
class Query:
    terms: tuple[Term, ...] = ()

    def render(self) -> str:
        return " ".join(t.render() for t in self.terms)


@dataclass(frozen=True, slots=True)
class ResolvedTerm:
    """A term checked against a dataset: its category id is known."""

    term: Term
    category_id: int


def compare(count: int, op: str, value: int) -> bool:
    if op == ">":
        return count > value
    if op == ">=":
        return count >= value
    if op == "<":
        return count < value
    if op == "<=":
        return count <= value
    if op == "=":
        return count == value
    raise ValueError(f"unknown operator {op!r}")


def render_name(name: str) -> str:
    """A name as a query writes it: bare when it can be, else double-quoted."""
    if _BARE.fullmatch(name):
        return name
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render(query: Query) -> str:
    return query.render()


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def fail(self, start: int, end: int, message: str) -> QueryError:
        return QueryError(self.text, start, end, message)

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def word_end(self, start: int) -> int:
        m = _WORD.match(self.text, start)
        return m.end() if m else start + 1

    def name(self, what: str) -> tuple[str, tuple[int, int]]:
        start = self.pos
        if self.peek() == '"':
            out: list[str] = []
            i = start + 1
            while i < len(self.text):
                c = self.text[i]
                if c == '"':
                    self.pos = i + 1
                    if not out:
                        raise self.fail(start, self.pos, f"empty {what} name")
                    return "".join(out), (start, self.pos)
                if c == "\\":
                    nxt = self.text[i + 1 : i + 2]
                    if nxt not in ('"', "\\"):
                        raise self.fail(i, i + 2, 'only \\" and \\\\ can be escaped inside quotes')
                    out.append(nxt)
                    i += 2
                    continue
                out.append(c)
                i += 1
            raise self.fail(start, len(self.text), 'unterminated quote: close it with "')
        m = _BARE.match(self.text, self.pos)
        if m is None:
            c = self.peek()
            shown = repr(c) if c else "the end of the query"
            raise self.fail(
                start, start + 1, f"expected a {what} name, found {shown}; {SYNTAX_HINT}"
            )
        self.pos = m.end()
        return m.group(), (start, self.pos)

    def term(self) -> Term:
        start = self.pos
        labelset, ls_span = self.name("label set")
        if self.peek() != ".":
            if labelset.upper() in ("AND", "OR", "NOT") and self.peek() in ("", " ", "\t", "\n"):
                raise self.fail(
                    start,
                    self.pos,
                    f"{labelset!r} is not needed: terms separated by spaces must all hold "
                    "(AND); OR and NOT are not supported",
                )
            if self.peek() == ":":
                raise self.fail(
                    start,
                    self.pos,
                    f"{labelset!r} needs its label set: {SYNTAX_HINT} "
                    "(quote names that contain '.', e.g. \"model.v3\".car:>0)",
                )
            raise self.fail(
                start, self.word_end(start), f"expected '.' after the label set; {SYNTAX_HINT}"
            )
        self.pos += 1
        category, cat_span = self.name("category")
        if self.peek() != ":":
            if self.peek() == ".":
                raise self.fail(
                    start,
                    self.word_end(start),
                    "too many dots: quote a name that contains '.', "
                    'e.g. "model.v3".car:>0 or ground-truth."a.b":>0',
                )
            nxt = self.peek()
            what = (
                "between the category and the operator"
                if nxt and nxt in "<>="
                else "after the category"
            )
            raise self.fail(
                self.pos, self.word_end(self.pos), f"expected ':' {what}; {SYNTAX_HINT}"
            )
        self.pos += 1
        op_start = self.pos
        op = next((o for o in OPS if self.text.startswith(o, self.pos)), None)
        if op is None:
            raise self.fail(
                op_start,
                self.word_end(op_start),
                "expected an operator: one of >, >=, <, <=, = (e.g. car:>0)",
            )
        self.pos += len(op)
        num_start = self.pos
        m = _DIGITS.match(self.text, self.pos)
        if m is None:
            nxt = self.peek()
            if op == "=" and nxt == "=":
                raise self.fail(op_start, num_start + 1, "use '=' (not '==') for equality")
            if nxt in ("<", ">", "="):
                raise self.fail(op_start, num_start + 1, f"{op + nxt!r} is not an operator")
            raise self.fail(
                num_start,
                self.word_end(num_start),
                f"expected a whole number ≥ 0 after '{op}'",
            )
        self.pos = m.end()
        if self.pos < len(self.text) and not self.text[self.pos].isspace():
            raise self.fail(
                num_start,
                self.word_end(num_start),
                "expected a whole number ≥ 0 (no sign, decimals or units); "
                "separate terms with spaces",
            )
        return Term(labelset, category, op, int(m.group()), (start, self.pos), ls_span, cat_span)

    def query(self) -> Query:
        terms: list[Term] = []
        while True:
            m = _SPACE.match(self.text, self.pos)
            if m:
                self.pos = m.end()
            if self.pos >= len(self.text):
                return Query(tuple(terms))
            terms.append(self.term())


def parse(text: str) -> Query:
    """Parse a query; :class:`QueryError` points at the first problem."""
    return _Parser(text).query()


def _suggest(name: str, known: Iterable[str]) -> str:
    known = list(known)
    lower = {k.lower(): k for k in known}
    if name.lower() in lower:
        return f"; did you mean {render_name(lower[name.lower()])}? (names are case-sensitive)"
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
    if close:
        return "; did you mean " + " or ".join(render_name(c) for c in close) + "?"
    return ""


def resolve(
    query: Query,
    text: str,
    *,
    dataset: str,
    labelsets: Iterable[str],
    categories: Mapping[str, int],
) -> list[ResolvedTerm]:
    """Check a query parsed from ``text`` against a dataset's label sets and categories.

    ``categories`` maps category names to ids. Errors point into ``text``.
    """
    labelsets = list(labelsets)
    out: list[ResolvedTerm] = []
    for term in query.terms:
        if term.labelset not in labelsets:
            s, e = term.labelset_span
            raise QueryError(
                text,
                s,
                e,
                f"{dataset} has no label set {term.labelset!r}"
                + _suggest(term.labelset, labelsets)
                + f" (label sets: {', '.join(labelsets)})",
            )
        cid = categories.get(term.category)
        if cid is None:
            s, e = term.category_span
            raise QueryError(
                text,
                s,
                e,
                f"{dataset} has no category {term.category!r}"
                + _suggest(term.category, categories)
                + f" (categories: {', '.join(render_name(c) for c in categories)})",
            )
        out.append(ResolvedTerm(term, cid))
    return out


def parse_and_resolve(
    text: str, *, dataset: str, labelsets: Iterable[str], categories: Mapping[str, int]
) -> list[ResolvedTerm]:
    """:func:`parse` then :func:`resolve`."""
    return resolve(parse(text), text, dataset=dataset, labelsets=labelsets, categories=categories)


def category_counts(attributes: Any) -> dict[int, int]:
    """Objects per category id in one label's attributes (any task type).

    Image labels (vector, bitmap, cuboid): one object per entry of
    ``annotations``. Sequences: one object per track (``track_id``, else
    ``id``) seen in any frame. Multi-sensor labels: the sum over sensors.
    """
    counts: dict[int, int] = {}
    if not isinstance(attributes, dict):
        return counts
    anns = attributes.get("annotations")
    if isinstance(anns, list):
        for a in anns:
            cid = a.get("category_id") if isinstance(a, dict) else None
            if type(cid) is int:
                counts[cid] = counts.get(cid, 0) + 1
    frames = attributes.get("frames")
    if isinstance(frames, list):
        tracks: set[tuple[int, Any]] = set()
        for frame in frames:
            f_anns = frame.get("annotations") if isinstance(frame, dict) else None
            for a in f_anns if isinstance(f_anns, list) else ():
                if not isinstance(a, dict) or type(a.get("category_id")) is not int:
                    continue
                track = a.get("track_id", a.get("id"))
                tracks.add((a["category_id"], track if track is not None else id(a)))
        for cid, _ in tracks:
            counts[cid] = counts.get(cid, 0) + 1
    sensors = attributes.get("sensors")
    if isinstance(sensors, list):
        for sensor in sensors:
            sub = category_counts(sensor.get("attributes") if isinstance(sensor, dict) else None)
            for cid, n in sub.items():
                counts[cid] = counts.get(cid, 0) + n
    return counts
