"""The search syntax: table-driven valid and invalid queries (with where the error points),
name resolution against a dataset, and property tests (render/parse round trip; any text
either parses or fails with a QueryError whose span lies inside the query)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from upload_preds.sandbox.search import (
    OPS,
    TOTAL,
    MetaTerm,
    NameTerm,
    Query,
    QueryError,
    Term,
    category_counts,
    compare,
    parse,
    parse_and_resolve,
    render_name,
)

VALID = [
    pytest.param("", (), id="empty-matches-all"),
    pytest.param("   ", (), id="blank"),
    pytest.param("ground-truth.car:>0", (("ground-truth", "car", ">", 0),), id="one-term"),
    pytest.param(
        "ground-truth.car:>0 predictions.car:=0",
        (("ground-truth", "car", ">", 0), ("predictions", "car", "=", 0)),
        id="issue-example",
    ),
    pytest.param(
        "  gt.traffic_light:>=2\tp.lane_marking:<=10  ",
        (("gt", "traffic_light", ">=", 2), ("p", "lane_marking", "<=", 10)),
        id="underscores-tabs-padding",
    ),
    pytest.param("a.b:<3", (("a", "b", "<", 3),), id="less-than"),
    pytest.param("a.b:=007", (("a", "b", "=", 7),), id="leading-zeros"),
    pytest.param(
        '"model.v3"."traffic light":>=1',
        (("model.v3", "traffic light", ">=", 1),),
        id="quoted-dot-and-space",
    ),
    pytest.param(r'"a\"b".c:>0', (('a"b', "c", ">", 0),), id="escaped-quote"),
    pytest.param(r'x."back\\slash":=1', (("x", "back\\slash", "=", 1),), id="escaped-backslash"),
    pytest.param("gt.voiture_été:>1", (("gt", "voiture_été", ">", 1),), id="unicode-bare"),
    pytest.param("gt.car:>0 gt.car:<5", (("gt", "car", ">", 0), ("gt", "car", "<", 5)), id="range"),
]


@pytest.mark.parametrize(("text", "expected"), VALID)
def test_valid_queries_parse(text: str, expected: tuple[tuple[str, str, str, int], ...]) -> None:
    q = parse(text)
    assert tuple((t.labelset, t.category, t.op, t.value) for t in q.terms) == expected
    assert parse(q.render()) == q


# (query, the text the error underlines, a phrase of the message)
INVALID = [
    pytest.param("gt.car>0", ">0", "between the category and the operator", id="no-colon"),
    pytest.param("gt.car", "", "expected ':'", id="ends-after-category"),
    pytest.param("gt.car:", "", "expected an operator", id="no-operator"),
    pytest.param("gt.car:!=1", "!=1", "expected an operator", id="not-equal"),
    pytest.param("gt.car:>", "", "whole number", id="no-number"),
    pytest.param("gt.car:>x", "x", "whole number", id="letters"),
    pytest.param("gt.car:>-1", "-1", "whole number", id="negative"),
    pytest.param("gt.car:>1.5", "1.5", "no sign, decimals", id="decimal"),
    pytest.param("gt.car:==1", "==", "use '='", id="double-equals"),
    pytest.param("gt.car:=>1", "=>", "not an operator", id="reversed-operator"),
    pytest.param("gt.car:>0 AND p.car:=0", "AND", "AND", id="and-keyword"),
    pytest.param("gt.car:>0 OR p.car:=0", "OR", "not supported", id="or-keyword"),
    pytest.param("model.v3.car:>0", "model.v3.car:>0", "quote a name", id="unquoted-dot"),
    pytest.param('"model.v3.car:>0', '"model.v3.car:>0', "unterminated", id="unterminated-quote"),
    pytest.param('"".car:>0', '""', "empty label set", id="empty-quoted"),
    pytest.param(r'"a\n".car:>0', r"\n", "escaped", id="bad-escape"),
    pytest.param("gt.car:>0 p.truck:=", "", "whole number", id="second-term-bad"),
    pytest.param(".car:>0", ".", "expected a label set name", id="starts-with-dot"),
    pytest.param("gt.:>0", ":", "expected a category name", id="empty-category"),
    pytest.param("camera:>front", ">front", "expected a number after '>'", id="meta-op-text"),
    pytest.param("camera:", "", "expected a value", id="meta-no-value"),
    pytest.param("camera:[a,b", "[a,b", "close the list", id="meta-open-list"),
    pytest.param("gt.car:[1,x]", "[1,x]", "expected an operator", id="count-list-text"),
    pytest.param("img>3", ">3", "expected ':'", id="name-then-operator"),
]


@pytest.mark.parametrize(("text", "underlined", "phrase"), INVALID)
def test_invalid_queries_point_at_the_bad_part(text: str, underlined: str, phrase: str) -> None:
    with pytest.raises(QueryError) as info:
        parse(text)
    e = info.value
    assert phrase in e.message
    assert text[e.start : e.end] == underlined
    # The pointer line puts its carets under that part.
    query_line, caret_line = e.pointer().splitlines()
    assert query_line == "  " + text
    assert caret_line.index("^") - 2 == e.start
    assert str(e).startswith(f"column {e.start + 1}:")


LABELSETS = ["ground-truth", "predictions", "model.v3"]
CATEGORIES = {"car": 1, "pedestrian": 3, "traffic light": 5, "Truck": 2}

RESOLVE_ERRORS = [
    pytest.param(
        "ground_truth.car:>0", "ground_truth", "did you mean ground-truth", id="labelset-typo"
    ),
    pytest.param("gt.car:>0", "gt", "label sets: ground-truth, predictions", id="labelset-unknown"),
    pytest.param("predictions.cars:>0", "cars", "did you mean car", id="category-typo"),
    pytest.param("predictions.truck:>0", "truck", "case-sensitive", id="category-case"),
    pytest.param(
        'ground-truth.car:>0 "model.v3".bus:=0', "bus", "has no category 'bus'", id="second-term"
    ),
    pytest.param("car:>0", "car", "'car' is a category: write LABELSET.car:>0", id="no-labelset"),
    pytest.param("camra:front", "camra", "did you mean camera", id="metadata-typo"),
    pytest.param(
        'predictions."total_count":>0', '"total_count"', "total_count counts them all", id="quoted"
    ),
]


@pytest.mark.parametrize(("text", "underlined", "phrase"), RESOLVE_ERRORS)
def test_unknown_names_point_at_the_name(text: str, underlined: str, phrase: str) -> None:
    with pytest.raises(QueryError) as info:
        parse_and_resolve(
            text,
            dataset="o/d",
            labelsets=LABELSETS,
            categories=CATEGORIES,
            metadata_keys=["camera", "sequence"],
        )
    assert text[info.value.start : info.value.end] == underlined
    assert phrase in info.value.message


def test_resolve_maps_category_names_to_ids() -> None:
    resolved = parse_and_resolve(
        '"model.v3"."traffic light":>=1 predictions.car:=0',
        dataset="o/d",
        labelsets=LABELSETS,
        categories=CATEGORIES,
    )
    assert [(r.term.labelset, r.category_id) for r in resolved.counts] == [
        ("model.v3", 5),
        ("predictions", 1),
    ]


def test_the_platforms_term_kinds_parse_and_resolve() -> None:
    """total_count, metadata (numbers, text, lists), count lists and name words, side by side."""
    text = (
        "predictions.total_count:>2 ground-truth.car:[1,2] camera:front,rear "
        'sequence:>=2 sequence:1.0 img_00 "two words" camera:="a b"'
    )
    q = parse(text)
    assert parse(q.render()) == q
    resolved = parse_and_resolve(
        text,
        dataset="o/d",
        labelsets=LABELSETS,
        categories=CATEGORIES,
        metadata_keys=["camera", "sequence"],
    )
    total, cars = resolved.counts
    assert (total.category_id, total.term.op, total.term.value) == (None, ">", 2)
    assert (cars.category_id, cars.term.values) == (1, (1, 2))
    assert [(m.key, m.op, m.texts) for m in resolved.metadata] == [
        ("camera", "in", ("front", "rear")),
        ("sequence", ">=", ("2",)),
        ("sequence", "in", ("1.0",)),
        ("camera", "in", ("a b",)),
    ]
    assert [n.text for n in resolved.names] == ["img_00", "two words"]


@pytest.mark.parametrize(
    ("value", "term", "expected"),
    [
        (3, "k:>2", True), (2, "k:>2", False), ("3.5", "k:>=3.5", True), ("x", "k:>0", False),
        (True, "k:>0", False), (1, "k:1.0", True), (1.0, "k:1", True), ("1", "k:1", True),
        ("front", "k:front", True), ("Front", "k:front", False), ("rear", "k:[front,rear]", True),
        (True, "k:true", True), (None, "k:null", True), (0, "k:=0", True), ([1], "k:1", False),
    ],
)  # fmt: skip
def test_metadata_values_compare_as_the_docstring_says(
    value: object, term: str, expected: bool
) -> None:
    (t,) = parse(term).terms
    assert isinstance(t, MetaTerm)
    assert t.holds({"k": value}) is expected
    assert t.holds({"other": value}) is False  # a sample without the key never matches


@pytest.mark.parametrize(
    ("count", "op", "value", "expected"),
    [
        (1, ">", 0, True), (0, ">", 0, False), (2, ">=", 2, True), (1, ">=", 2, False),
        (0, "<", 1, True), (1, "<", 1, False), (3, "<=", 3, True), (4, "<=", 3, False),
        (0, "=", 0, True), (1, "=", 0, False),
    ],
)  # fmt: skip
def test_compare(count: int, op: str, value: int, expected: bool) -> None:
    assert compare(count, op, value) is expected


# -- properties --------------------------------------------------------------------

names = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=12
)
terms = st.builds(
    Term,
    labelset=names,
    category=names,
    op=st.sampled_from(OPS),
    value=st.integers(min_value=0, max_value=10**6),
)
count_lists = st.builds(
    lambda t, vs, total: Term(
        t.labelset, TOTAL if total else t.category, "=", vs[0], values=tuple(vs), total=total
    ),
    terms,
    st.lists(st.integers(0, 99), min_size=2, max_size=4, unique=True),
    st.booleans(),
)
values = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=8
)
meta_terms = st.one_of(
    st.builds(
        MetaTerm,
        key=names,
        op=st.just("in"),
        texts=st.lists(values, min_size=1, max_size=3, unique=True).map(tuple),
    ),
    st.builds(
        MetaTerm,
        key=names,
        op=st.sampled_from([">", ">=", "<", "<="]),
        texts=st.sampled_from(["0", "2.5", "-3", "1e3"]).map(lambda n: (n,)),
    ),
)
name_terms = st.builds(NameTerm, text=names)
queries = st.builds(
    Query,
    terms=st.lists(st.one_of(terms, count_lists, meta_terms, name_terms), max_size=5).map(tuple),
)


@given(queries)
@settings(max_examples=300)
def test_parse_of_render_is_identity(q: Query) -> None:
    assert parse(q.render()) == q


@given(names)
def test_render_name_quotes_exactly_when_needed(name: str) -> None:
    rendered = render_name(name)
    assert (rendered == name) != rendered.startswith('"')
    assert parse(f"{rendered}.{rendered}:=1").terms[0].labelset == name


@given(st.text(alphabet=st.sampled_from(list('ab.:<>=" \\0123-_,[]')), max_size=30))
@settings(max_examples=500)
def test_any_text_parses_or_points_inside_it(text: str) -> None:
    try:
        q = parse(text)
    except QueryError as e:
        error: QueryError | None = e
    else:
        error = None
        assert parse(q.render()) == q
    if error is not None:
        assert 0 <= error.start < error.end <= len(text) + 1
        assert error.message


def test_category_counts_of_every_label_shape() -> None:
    image = {"annotations": [{"category_id": 1}, {"category_id": 1}, {"category_id": 4}]}
    sequence = {
        "frames": [
            {"annotations": [{"category_id": 1, "track_id": 7}, {"category_id": 2, "track_id": 8}]},
            {"annotations": [{"category_id": 1, "track_id": 7}, {"category_id": 1, "track_id": 9}]},
        ]
    }
    multi = {"sensors": [{"name": "a", "attributes": image}, {"name": "b", "attributes": sequence}]}
    assert category_counts(image) == {1: 2, 4: 1}
    assert category_counts(sequence) == {1: 2, 2: 1}
    assert category_counts(multi) == {1: 4, 4: 1, 2: 1}
    assert category_counts({"format_version": "0.1"}) == {}
