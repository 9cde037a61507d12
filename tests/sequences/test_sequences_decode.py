"""The sequence rows' fast decoder (``convert/seqdecode.py``): the common tracker row
decoded and checked from its line's bytes by msgspec structs, taken by the JSONL reader
before ``orjson`` makes a dict of it (``SequenceGroups.taker``), the line kept as its
raw row. It must agree with the dict path (``seqfast.fast_objects``) whenever it takes
a line, decline every line that path declines or that would lose data (a key given
twice), and leave every outcome of a run as it was: labels byte for byte, errors and
failures-file rows, in the dry run and in the upload's two passes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from seqkit import CATEGORIES, sdk_model

from upload_preds.convert import Converter, ConvertOptions
from upload_preds.convert.categories import Categories
from upload_preds.convert.seqdecode import RowDecoder
from upload_preds.convert.seqfast import fast_objects
from upload_preds.pipeline import Preparer
from upload_preds.records import Failure, LabelJob, PlannedLabelJob, Skip

CATS = Categories([(c["id"], c["name"]) for c in CATEGORIES], "image-vector-sequence")
NAMES = [c["name"] for c in CATEGORIES]


def _rules(fmt: str = "xyxy") -> Any:
    rules = Converter(ConvertOptions(frames=8, bbox_format=fmt), CATS).sequence
    assert rules is not None
    assert rules.fast
    return rules


_number = st.one_of(
    st.integers(-50, 50),
    st.floats(-50, 50, allow_nan=False).map(lambda v: round(v, 2)),
    st.sampled_from([258.0, 2**63, -(2**63), 1e300, True]),
)
_good_ann = st.fixed_dictionaries(
    {
        "bbox": st.lists(
            st.integers(-50, 50) | st.sampled_from([0.5, 258.0, 7.25]), min_size=4, max_size=4
        ),
        "track_id": st.integers(1, 4),
    },
    optional={
        "score": st.sampled_from([0.5, 1, 0, 1e-7]),
        "is_keyframe": st.booleans(),
        "frame": st.sampled_from([0, 3]),
        "type": st.just("bbox"),
    },
).flatmap(
    lambda a: st.sampled_from([{**a, "category": n} for n in NAMES] + [{**a, "category_id": 2}])
)
# One thing wrong (or just unusual) with an annotation or a row, or nothing.
_ann_change = st.sampled_from(
    [
        None,
        None,
        None,
        ("category", "boat"),
        ("category", "a:b"),
        ("category", 3),
        ("category_id", 9),
        ("category_id", "1"),
        ("category_id", 1.0),
        ("track_id", 0),
        ("track_id", 2**63),
        ("track_id", 1.0),
        ("track_id", True),
        ("score", None),
        ("score", "0.5"),
        ("score", 2**63),
        ("score", True),
        ("is_keyframe", 1),
        ("frame", -1),
        ("frame", 2.0),
        ("frame", 7),
        ("type", "polygon"),
        ("attributes", {"occluded": True}),
        ("_error", "x"),
        ("id", 3),
    ]
)
_row_change = st.sampled_from(
    [
        None,
        None,
        ("frame", None),
        ("frame", -1),
        ("frame", 1.5),
        ("frame", "3"),
        ("extra", 1),
        ("labelset", "ground-truth"),
        ("sample_uuid", 7),
        ("sample_uuid", " u1"),
        ("annotations", {}),
    ]
)


@st.composite
def _row(draw: Any) -> dict[str, Any]:
    anns = []
    for a in draw(st.lists(_good_ann, max_size=3)):
        change = draw(_ann_change) if draw(st.integers(0, 3)) == 0 else None
        if change is not None:
            a = {**a, change[0]: change[1]}
        if draw(st.integers(0, 4)) == 0:
            a["bbox"] = draw(st.lists(_number, min_size=3, max_size=5))
        anns.append(a)
    row: dict[str, Any] = {"sample_uuid": draw(st.sampled_from(["u1", "u2"])), "annotations": anns}
    if draw(st.integers(0, 4)):
        row["frame"] = draw(st.sampled_from([0, 3]))
    change = draw(_row_change) if draw(st.integers(0, 3)) == 0 else None
    if change is not None:
        row[change[0]] = change[1]
    return row


# How a line may be written: as orjson writes it, with spaces and tabs, with a CRLF end,
# or with a key given twice (the first value is lost by every JSON parser).
_style = st.sampled_from(["orjson", "spaced", "tabs", "crlf", "repeat-first", "repeat-ann"])


def _line(row: dict[str, Any], style: str) -> bytes:
    if style == "spaced":
        return json.dumps(row, indent=None, separators=(" , ", " : ")).encode() + b"\n"
    if style == "tabs":
        return json.dumps(row, separators=(",\t", ":\t")).encode() + b"\n"
    text = orjson.dumps(row)
    if style == "crlf":
        return text + b"\r\n"
    if style == "repeat-first":
        return b'{"frame":1,' + text[1:] + b"\n"
    if style == "repeat-ann" and b'"track_id":' in text:
        return text.replace(b'"track_id":', b'"track_id":5,"track_id":', 1) + b"\n"
    return text + b"\n"


@settings(max_examples=1500, deadline=None)
@given(row=_row(), style=_style, fmt=st.sampled_from(["xyxy", "xywh", "cxcywh"]))
def test_the_decoder_takes_only_what_the_dict_path_takes_and_makes_the_same_objects(
    row: dict[str, Any], style: str, fmt: str
) -> None:
    rules = _rules(fmt)
    line = _line(row, style)
    got = RowDecoder(rules).decode(line)
    parsed = orjson.loads(line)  # what the reader would have made of the line
    lost = style.startswith("repeat") and line.count(b":") != json.dumps(parsed).count(":")
    if got is None:
        return  # declined: the full way reports (or takes) it as before
    assert not lost, "a key given twice must go the full way (its error names it)"
    assert "_error" not in orjson.dumps(parsed).decode(), "the failures file's key: full way"
    expected = fast_objects(rules, parsed)
    assert expected is not None, f"the decoder took a line the dict path declines: {line!r}"
    uuid, objs = got
    assert uuid == parsed["sample_uuid"]
    # Byte for byte: 258 stays an int, 258.0 a float, a box keeps its numbers.
    assert objs == orjson.dumps(expected)


@pytest.mark.parametrize(
    ("line", "why"),
    [
        (b'{"sample_uuid":"u","frame":1,"frame":2,"annotations":[]}', "row key twice"),
        (
            b'{"sample_uuid":"u","frame":1,"annotations":[{"category":"car","category":"bike",'
            b'"bbox":[1,2,3,4],"track_id":1}]}',
            "annotation key twice",
        ),
        (
            b'{"sample_uuid":"u","frame":1,"annotations":[{"category":"car","bbox":[1,2,3,4],'
            b'"track_id":1,"_error":"x"}]}',
            "a failures file's key",
        ),
        (
            b'{"sample_uuid":"u","frame":1,"annotations":[{"category":"car","bbox":[1,2,3,4],'
            b'"track_id":true}]}',
            "a boolean track id",
        ),
        (
            b'{"sample_uuid":"u","frame":1,"annotations":[{"category":"car","bbox":[1,2,3,4],'
            b'"track_id":1,"score":1e999}]}',
            "an infinite score",
        ),
        (
            b'{"sample_uuid":"u","frame":1,"annotations":[{"category":"car","bbox":[1,2,1,4],'
            b'"track_id":1}]}',
            "a box of zero width",
        ),
        (
            b'{"sample_uuid":"u","annotations":[{"category":"car","bbox":[1,2,3,4],"track_id":1}]}',
            "no frame",
        ),
        (
            b'{"sample_uuid":"u","frame":1,"annotations":[{"category":"car","bbox":[1,2,3,4],'
            b'"track_id":1,"frame":2}]}',
            "two frames",
        ),
        (b'{"sample_uuid":"u\xff","frame":1,"annotations":[]}', "invalid UTF-8"),
        (b'{"sample_uuid":"u","frame":1,"annotations":[]} x', "trailing characters"),
    ],
)
def test_the_decoder_declines_what_it_must_not_take(line: bytes, why: str) -> None:
    assert RowDecoder(_rules()).decode(line) is None, why


def _outcomes(items: list[Any], file: str) -> list[Any]:
    """Outcomes with locations named by line only (the reference is another file)."""

    def locs(rows: Any) -> Any:
        return [(loc.line, row) for loc, row in rows]

    out: list[Any] = []
    for item in items:
        if isinstance(item, LabelJob):
            lines = [loc.line for loc in item.locs]
            out.append(("label", item.sample_uuid, item.score, lines, item.attributes))
        elif isinstance(item, Failure):
            errs = [
                (e.loc.line, e.field, e.reason, e.message.replace(file, "F")) for e in item.errors
            ]
            out.append(("failure", errs, locs(item.rows)))
        elif isinstance(item, Skip):
            out.append(("skip", item.message.replace(file, "F"), locs(item.rows)))
    return out


def _items(path: Path, *, dry: bool, on_duplicate: str = "error") -> list[Any]:
    conv = Converter(ConvertOptions(frames=6), CATS)
    with Preparer([str(path)], conv, on_duplicate=on_duplicate) as prep:
        if dry:
            prep.single_pass(lambda job: None)
        return list(prep.items())


def _rows(sample: str, n: int) -> list[dict[str, Any]]:
    """Rows of one sample: one object a row, split rows of two objects, frames per object."""
    rows: list[dict[str, Any]] = []
    for f in range(n):
        box = [f * 3, 40.5, f * 3 + 80.0, 120.25] if f % 2 else [f * 3 + 80, 120, f, 40]
        anns = [{"category": "car", "bbox": box, "track_id": 1, "score": 0.5 + f / 20}]
        if f % 3 == 0:
            anns.append({"category_id": 2, "bbox": [1, 2, 3, 4], "track_id": 2, "frame": f})
        if f % 4 == 1:
            anns[0]["is_keyframe"] = False
            anns[0]["type"] = "bbox"
        rows.append({"sample_uuid": sample, "frame": f, "annotations": anns})
    return rows


def _write_both(tmp_path: Path, lines: list[bytes]) -> tuple[Path, Path]:
    """The lines as a JSONL file (the decoder's way) and as a JSON document whose element
    n starts on line n (the dict way: a document's rows never meet the decoder)."""
    jsonl = tmp_path / "p.jsonl"
    jsonl.write_bytes(b"".join(lines))
    doc = tmp_path / "p.json"
    body = [line.rstrip(b"\r\n") for line in lines]
    doc.write_bytes(b"[" + b",\n".join(body) + b"]\n")
    return jsonl, doc


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(order=st.randoms(use_true_random=False))
def test_runs_over_decoded_lines_give_the_dict_paths_outcomes(tmp_path: Path, order: Any) -> None:
    good = _rows("good", 6) + _rows("other", 5)
    broken = _rows("broken", 6)
    broken[2]["annotations"][0]["category"] = "person"  # track 1 changes category
    lines = [orjson.dumps(r) + b"\n" for r in good + broken]
    # Lines the decoder must decline, of samples whose labels are otherwise good.
    declined = _rows("declined", 6)
    lines += [
        orjson.dumps(declined[0]).replace(b'"frame":0,', b'"frame":5,"frame":0,') + b"\n",
        json.dumps(declined[1], separators=(",\t", ":")).encode() + b"\n",  # tabs
        orjson.dumps(declined[2]) + b"\r\n",
        orjson.dumps({**declined[3], "_error": "old"}) + b"\n",
        orjson.dumps(declined[4]).replace(b'"car"', b'"boat"') + b"\n",  # unknown category
        orjson.dumps(declined[5]) + b"\n",
    ]
    order.shuffle(lines)
    lines[-1] = lines[-1].rstrip(b"\r\n")  # the last line, without its end
    jsonl, doc = _write_both(tmp_path, lines)
    for dry in (True, False):
        for on_duplicate in ("error", "last"):
            fast = _items(jsonl, dry=dry, on_duplicate=on_duplicate)
            reference = _items(doc, dry=dry, on_duplicate=on_duplicate)
            assert _outcomes(fast, str(jsonl)) == _outcomes(reference, str(doc))
            labels = [i for i in fast if isinstance(i, LabelJob)]
            assert {j.sample_uuid for j in labels} == {"good", "other"}
            for job in labels:
                assert isinstance(job, PlannedLabelJob) == dry
                sdk_model("image-vector-sequence", job.attributes)
