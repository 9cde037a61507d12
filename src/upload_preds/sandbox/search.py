"""The search syntax of the review page and ``upload-preds-sandbox search``: parse, render, resolve.

A query is terms joined by spaces, all of which must hold (AND). Four kinds
of term, the ones the platform's "search within a dataset" box takes::

    ground-truth.car:>0 predictions.car:=0     objects of a category in a label set
    predictions.total_count:>=3                objects of any category in a label set
    camera:front  sequence:>=2  camera:front,rear  sequence:[1,2]   sample metadata
    img_00  "front cam"                        the sample name contains the text

* ``LABELSET.CATEGORY:COND`` (and ``LABELSET.total_count:COND``) compare the
  number of objects of that category (of all categories) in the sample's
  label of that label set; a sample without a label counts 0. COND is
  ``OP N`` with OP one of ``>``, ``>=``, ``<``, ``<=``, ``=`` and N a whole
  number ≥ 0, or a list of whole numbers ``1,2`` / ``[1,2]`` (any of them).
* ``KEY:COND`` compares the sample's metadata value under KEY: ``OP NUMBER``
  compares numerically (a metadata value that is a number, or text that
  reads as one; anything else does not match); a value or a list of values
  ``a,b`` / ``[a,b]`` matches when the metadata equals any of them, numbers
  compared as numbers (``sequence:1`` matches ``1`` and ``1.0``), ``true``,
  ``false`` and ``null`` as JSON's. A sample without the key never matches.
* A term with no ``:`` matches samples whose name contains it, ignoring case.

A name or value is written bare when it has no whitespace, ``.``, ``:``,
``"``, ``\\``, ``<``, ``>``, ``=``, ``,``, ``[`` or ``]``; otherwise in double quotes,
with ``\\"`` and ``\\\\`` inside (label set names may contain dots, category
names anything). The empty query matches every sample. ``total_count`` is
the word for "all categories"; a category that is really named so is
written quoted, ``gt."total_count":>0``.

:func:`parse` is purely syntactic and needs no dataset; :func:`resolve` then
checks the names against a dataset (label sets, category names → ids,
metadata keys). Both raise :class:`QueryError`, which carries the character
span of the bad part, so every front end can point at it:
:meth:`QueryError.pointer` draws the query with a caret line under the span,
the page underlines it. :func:`render` writes a query back in canonical form;
``parse(render(q)) == q``.

:func:`category_counts` counts the objects per category of one label's
attributes; the store keeps its result next to every label so a search reads
one small JSON object per label instead of every annotation.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

OPS: tuple[str, ...] = (">=", "<=", ">", "<", "=")
TOTAL = "total_count"
SYNTAX_HINT = (
    "write LABELSET.CATEGORY:OP N (e.g. ground-truth.car:>0), KEY:VALUE for metadata, "
    "or a word of the sample name"
)
_SPACE = re.compile(r"\s+")
_BARE = re.compile(r'[^\s.:"\\<>=,\[\]]+')
# Metadata values may hold dots and colons (versions, times): only the list
# and quoting characters end them.
_BARE_VALUE = re.compile(r'[^\s,"\\\[\]]+')
_DIGITS = re.compile(r"[0-9]+")
_NUMBER = re.compile(r"[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")
_WORD = re.compile(r"\S+")
_Span = tuple[int, int]
T = TypeVar("T")


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
    """One ``LABELSET.CATEGORY:COND`` condition. The spans are where it was written (not compared).

    ``values`` non-empty: the count must be one of them (``op`` is then ``=``
    and ``value`` the first). ``total``: count every category
    (``LABELSET.total_count``); ``category`` is then ``total_count``.
    """

    labelset: str
    category: str
    op: str
    value: int
    span: _Span = field(default=(0, 0), compare=False)
    labelset_span: _Span = field(default=(0, 0), compare=False)
    category_span: _Span = field(default=(0, 0), compare=False)
    values: tuple[int, ...] = ()
    total: bool = False

    def holds(self, count: int) -> bool:
        if self.values:
            return count in self.values
        return compare(count, self.op, self.value)

    @property
    def key(self) -> str:
        """``labelset.category`` as written canonically (the column name in results)."""
        category = TOTAL if self.total else render_name(self.category, reserved=True)
        return f"{render_name(self.labelset)}.{category}"

    def render(self) -> str:
        if self.values:
            return f"{self.key}:[{','.join(map(str, self.values))}]"
        return f"{self.key}:{self.op}{self.value}"


@dataclass(frozen=True, slots=True)
class MetaTerm:
    """``KEY:OP NUMBER`` (``numbers`` holds the one number) or ``KEY:V1,V2`` (``op`` is ``in``)."""

    key: str
    op: str
    texts: tuple[str, ...]
    span: _Span = field(default=(0, 0), compare=False)
    key_span: _Span = field(default=(0, 0), compare=False)

    def holds(self, metadata: Any) -> bool:
        """Whether a sample's metadata (a dict, or anything else: no match) satisfies the term."""
        if not isinstance(metadata, dict) or self.key not in metadata:
            return False
        return meta_matches(metadata[self.key], self.op, self.texts)

    def render(self) -> str:
        if self.op != "in":
            return f"{render_name(self.key)}:{self.op}{self.texts[0]}"
        values = ",".join(render_value(t) for t in self.texts)
        return (
            f"{render_name(self.key)}:[{values}]"
            if len(self.texts) > 1
            else (f"{render_name(self.key)}:{values}")
        )


@dataclass(frozen=True, slots=True)
class NameTerm:
    """Text the sample name must contain, ignoring case."""

    text: str
    span: _Span = field(default=(0, 0), compare=False)

    def holds(self, name: str) -> bool:
        return self.text.casefold() in name.casefold()

    def render(self) -> str:
        return render_name(self.text, reserved=True)


AnyTerm = Term | MetaTerm | NameTerm


@dataclass(frozen=True, slots=True)
class Query:
    terms: tuple[AnyTerm, ...] = ()

    def render(self) -> str:
        return " ".join(t.render() for t in self.terms)


@dataclass(frozen=True, slots=True)
class ResolvedTerm:
    """A count term checked against a dataset: its category id is known (None: all categories)."""

    term: Term
    category_id: int | None


def compare(count: float, op: str, value: float) -> bool:
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


def _as_number(value: Any) -> float | None:
    """A metadata value as a number: JSON numbers, and text that reads as one; else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and _NUMBER.fullmatch(value.strip()):
        return float(value)
    return None


def meta_matches(value: Any, op: str, texts: tuple[str, ...]) -> bool:
    """One metadata value against ``OP NUMBER`` or a list of wanted values (op ``in``)."""
    if op != "in":
        number = _as_number(value)
        return number is not None and compare(number, op, float(texts[0]))
    if isinstance(value, bool) or value is None:
        shown = "null" if value is None else ("true" if value else "false")
        return shown in texts
    number = _as_number(value) if isinstance(value, int | float) else None
    for text in texts:
        if number is not None and _NUMBER.fullmatch(text):
            if number == float(text):
                return True
        elif isinstance(value, str) and value == text:
            return True
    return False


def render_name(name: str, *, reserved: bool = False) -> str:
    """A name as a query writes it: bare when it can be, else double-quoted.

    ``reserved``: also quote ``total_count`` and the words AND/OR/NOT, which
    bare would mean something else in that place.
    """
    if _BARE.fullmatch(name) and not (
        reserved and (name == TOTAL or name.upper() in ("AND", "OR", "NOT"))
    ):
        return name
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render_value(text: str) -> str:
    # A leading operator or bracket would be read as one: quote those too.
    if _BARE_VALUE.fullmatch(text) and text[0] not in "<>=[":
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


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

    def at_end_of_term(self) -> bool:
        return self.pos >= len(self.text) or self.text[self.pos].isspace()

    def word_end(self, start: int) -> int:
        m = _WORD.match(self.text, start)
        return m.end() if m else start + 1

    def quoted(self, what: str) -> tuple[str, _Span]:
        start = self.pos
        out: list[str] = []
        i = start + 1
        while i < len(self.text):
            c = self.text[i]
            if c == '"':
                self.pos = i + 1
                if not out:
                    raise self.fail(start, self.pos, f"empty {what}")
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

    def name(self, what: str) -> tuple[str, _Span, bool]:
        """A bare or quoted name; the flag says whether it was quoted."""
        start = self.pos
        if self.peek() == '"':
            text, span = self.quoted(f"{what} name")
            return text, span, True
        m = _BARE.match(self.text, self.pos)
        if m is None:
            c = self.peek()
            shown = repr(c) if c else "the end of the query"
            raise self.fail(
                start, start + 1, f"expected a {what} name, found {shown}; {SYNTAX_HINT}"
            )
        self.pos = m.end()
        return m.group(), (start, self.pos), False

    def end_of_term(self, start: int, what: str) -> None:
        if not self.at_end_of_term():
            raise self.fail(start, self.word_end(start), f"{what}; separate terms with spaces")

    def term(self) -> AnyTerm:
        start = self.pos
        first, first_span, quoted = self.name("label set")
        nxt = self.peek()
        if nxt == ".":
            return self.count_term(start, first, first_span)
        if nxt == ":":
            self.pos += 1
            return self.meta_term(start, first, first_span)
        if self.at_end_of_term():
            if not quoted and first.upper() in ("AND", "OR", "NOT"):
                raise self.fail(
                    start,
                    self.pos,
                    f"{first!r} is not needed: terms separated by spaces must all hold "
                    "(AND); OR and NOT are not supported",
                )
            return NameTerm(first, (start, self.pos))
        what = "between the name and the operator" if nxt in "<>=" else "after the name"
        raise self.fail(self.pos, self.word_end(self.pos), f"expected ':' {what}; {SYNTAX_HINT}")

    def count_term(self, start: int, labelset: str, ls_span: _Span) -> Term:
        self.pos += 1
        category, cat_span, quoted = self.name("category")
        total = category == TOTAL and not quoted
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
            values = self.count_list()
            if values is None:
                raise self.fail(
                    op_start,
                    self.word_end(op_start),
                    "expected an operator (one of >, >=, <, <=, =) and a whole number, "
                    "or a list of whole numbers (e.g. car:>0, car:2, car:[1,2])",
                )
            span = (start, self.pos)
            return Term(
                labelset,
                category,
                "=",
                values[0],
                span,
                ls_span,
                cat_span,
                values if len(values) > 1 else (),
                total,
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
        if not self.at_end_of_term():
            raise self.fail(
                num_start,
                self.word_end(num_start),
                "expected a whole number ≥ 0 (no sign, decimals or units); "
                "separate terms with spaces",
            )
        return Term(
            labelset, category, op, int(m.group()), (start, self.pos), ls_span, cat_span, (), total
        )

    def items(self, item: Callable[[], T | None], what: str) -> tuple[T, ...] | None:
        """``X``, ``X,Y,...`` or ``[X,Y,...]``: ``item`` reads one (None: not one here, which
        for the first item means "not a list" and puts the position back)."""
        list_start = self.pos
        bracket = self.peek() == "["
        if bracket:
            self.pos += 1
        out: list[T] = []
        while True:
            one = item()
            if one is None:
                self.pos = list_start
                return None
            out.append(one)
            if self.peek() != ",":
                break
            self.pos += 1
        if bracket:
            if self.peek() != "]":
                raise self.fail(list_start, self.word_end(list_start), "close the list with ']'")
            self.pos += 1
        self.end_of_term(list_start, f"expected {what} separated by ','")
        return tuple(dict.fromkeys(out))

    def count_list(self) -> tuple[int, ...] | None:
        """Whole numbers after the colon; None when there are none."""

        def number() -> int | None:
            m = _DIGITS.match(self.text, self.pos)
            if m is None:
                return None
            self.pos = m.end()
            return int(m.group())

        return self.items(number, "whole numbers ≥ 0")

    def meta_term(self, start: int, key: str, key_span: _Span) -> MetaTerm:
        op_start = self.pos
        op = next((o for o in OPS if self.text.startswith(o, self.pos)), None)
        if op is not None:
            self.pos += len(op)
            m = _NUMBER.match(self.text, self.pos)
            if op == "=" and m is None:
                # key:=text compares text, like key:text.
                return self.meta_list(start, key, key_span)
            if m is None or not (self.at_end_of_term_after(m.end())):
                raise self.fail(
                    op_start,
                    self.word_end(op_start),
                    f"expected a number after '{op}' (e.g. {render_name(key)}:{op}10); "
                    f"to match text write {render_name(key)}:VALUE",
                )
            self.pos = m.end()
            if op == "=":
                return MetaTerm(key, "in", (m.group(),), (start, self.pos), key_span)
            return MetaTerm(key, op, (m.group(),), (start, self.pos), key_span)
        return self.meta_list(start, key, key_span)

    def at_end_of_term_after(self, pos: int) -> bool:
        return pos >= len(self.text) or self.text[pos].isspace()

    def meta_list(self, start: int, key: str, key_span: _Span) -> MetaTerm:
        def value() -> str:
            if self.peek() == '"':
                return self.quoted("value")[0]
            m = _BARE_VALUE.match(self.text, self.pos)
            if m is None:
                raise self.fail(
                    self.pos,
                    self.word_end(self.pos),
                    f"expected a value after ':' (e.g. {render_name(key)}:front, "
                    f'{render_name(key)}:"two words", {render_name(key)}:[a,b] '
                    f"or {render_name(key)}:>=2)",
                )
            self.pos = m.end()
            return m.group()

        texts = self.items(value, "values")
        assert texts is not None  # value() raises instead of answering None
        return MetaTerm(key, "in", texts, (start, self.pos), key_span)

    def query(self) -> Query:
        terms: list[AnyTerm] = []
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


@dataclass(frozen=True, slots=True)
class Resolved:
    """A query checked against a dataset, its terms sorted by kind (each in written order)."""

    counts: tuple[ResolvedTerm, ...] = ()
    metadata: tuple[MetaTerm, ...] = ()
    names: tuple[NameTerm, ...] = ()


def resolve(
    query: Query,
    text: str,
    *,
    dataset: str,
    labelsets: Iterable[str],
    categories: Mapping[str, int],
    metadata_keys: Iterable[str] | None = None,
) -> Resolved:
    """Check a query parsed from ``text`` against a dataset's label sets, categories and
    metadata keys (the keys any sample has; None: not checked).

    ``categories`` maps category names to ids. Errors point into ``text``.
    """
    labelsets = list(labelsets)
    keys = None if metadata_keys is None else sorted(set(metadata_keys))
    counts: list[ResolvedTerm] = []
    metas: list[MetaTerm] = []
    names: list[NameTerm] = []
    for term in query.terms:
        if isinstance(term, NameTerm):
            names.append(term)
            continue
        if isinstance(term, MetaTerm):
            if keys is not None and term.key not in keys:
                s, e = term.key_span
                hint = (
                    f"; {term.key!r} is a category: write LABELSET.{render_name(term.key)}"
                    f"{term.render()[len(render_name(term.key)) :]}"
                    if term.key in categories
                    else _suggest(term.key, keys)
                )
                raise QueryError(
                    text,
                    s,
                    e,
                    f"no sample of {dataset} has metadata {term.key!r}{hint}"
                    f" (metadata keys: {', '.join(keys) or 'none'})",
                )
            metas.append(term)
            continue
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
        if term.total:
            counts.append(ResolvedTerm(term, None))
            continue
        cid = categories.get(term.category)
        if cid is None:
            s, e = term.category_span
            raise QueryError(
                text,
                s,
                e,
                f"{dataset} has no category {term.category!r}"
                + _suggest(term.category, [*categories, TOTAL])
                + f" (categories: {', '.join(render_name(c) for c in categories)};"
                f" {TOTAL} counts them all)",
            )
        counts.append(ResolvedTerm(term, cid))
    return Resolved(tuple(counts), tuple(metas), tuple(names))


def parse_and_resolve(
    text: str,
    *,
    dataset: str,
    labelsets: Iterable[str],
    categories: Mapping[str, int],
    metadata_keys: Iterable[str] | None = None,
) -> Resolved:
    """:func:`parse` then :func:`resolve`."""
    return resolve(
        parse(text),
        text,
        dataset=dataset,
        labelsets=labelsets,
        categories=categories,
        metadata_keys=metadata_keys,
    )


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
