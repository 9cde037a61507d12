"""The dry run's fast way for sequence rows: rows checked when read, grouped as compact
objects with the raw row beside them (``Grouper.add_compact``), and labels planned from
them without being built (``seqplan.plan_sequence``). Each must agree with the full way:
the same labels (byte for byte), the same errors, the same failures-file rows."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from seqkit import CATEGORIES, categories_file, planned_and_full, sdk_model

from clikit import cli_env, run_cli, write_jsonl
from upload_preds.convert import Converter, ConvertOptions
from upload_preds.convert.categories import Categories
from upload_preds.grouping import Grouper
from upload_preds.pipeline import Preparer
from upload_preds.records import Failure, LabelJob, Location, PlannedLabelJob, Skip

CATS = Categories([(c["id"], c["name"]) for c in CATEGORIES], "image-vector-sequence")
NAMES = [c["name"] for c in CATEGORIES]


def _row(frame: int, track: int, category: str, score: float | None, x: float) -> dict[str, Any]:
    ann: dict[str, Any] = {"category": category, "bbox": [x, 2, x + 5.5, 9.25], "track_id": track}
    if score is not None:
        ann["score"] = score
    return {"sample_uuid": "u", "frame": frame, "annotations": [ann]}


# Rows of one sample that may break every cross-line rule: a frame past the count (5),
# a track whose category changes, an object (frame, track) given twice.
_rows = st.lists(
    st.builds(
        _row,
        st.integers(0, 6),
        st.integers(1, 3),
        st.sampled_from(NAMES),
        st.none() | st.sampled_from([0.1, 0.45, 0.5, 0.9, 1]),
        st.integers(-3, 40),
    ),
    min_size=1,
    max_size=12,
)


@settings(max_examples=300, deadline=None)
@given(rows=_rows, frames=st.sampled_from([None, 5, 7]), min_score=st.sampled_from([None, 0.5]))
def test_a_planned_label_is_the_full_paths_label(
    rows: list[dict[str, Any]], frames: int | None, min_score: float | None
) -> None:
    conv = Converter(ConvertOptions(min_score=min_score), CATS)
    rules = conv.sequence
    assert rules is not None
    assert rules.fast
    planned, full = planned_and_full(rules, rows, frames)
    if planned is None:
        return
    assert isinstance(full, LabelJob)
    for field in (
        "sample_uuid",
        "labelset",
        "score",
        "locs",
        "filtered_annotations",
        "object_scores_dropped",
        "score_derived",
    ):
        assert getattr(planned, field) == getattr(full, field), field
    assert planned.extra.get("frames_guessed") == full.extra.get("frames_guessed")
    counted = Counter(a["category_id"] for f in full.attributes["frames"] for a in f["annotations"])
    assert Counter(planned.plan_categories) == counted
    assert len(planned.plan_categories) == sum(counted.values())
    # Built when read: byte for byte the upload's label, and valid for the SDK.
    assert orjson.dumps(planned.attributes) == orjson.dumps(full.attributes)
    sdk_model("image-vector-sequence", planned.attributes)


def test_compact_lines_keep_their_raw_rows_in_memory_and_spilled(tmp_path: Path) -> None:
    rows = [
        {"sample_uuid": "u", "frame": n, "annotations": [], "note\t": "a\ttab\nand a newline"}
        for n in range(300)
    ]
    for budget in (1 << 30, 2000):  # all in memory; spilled, partitions split again
        with Grouper(budget, tmp_dir=str(tmp_path)) as grouper:
            for n, row in enumerate(rows):
                grouper.add_compact(f"k{n % 2}", Location("f", n + 1), [[n, 1]], row)
            grouper.add("k0", Location("f", 999), {"r": {"plain": 1}})
            assert grouper.spilled == (budget == 2000)
            got = dict(grouper.groups())
        assert [m[0].line for m in got["k1"]] == list(range(2, 301, 2))
        for loc, payload in got["k0"][:-1]:
            n = loc.line - 1
            assert payload["q"] == [[n, 1]]
            assert orjson.loads(payload["j"]) == rows[n]
        assert got["k0"][-1][1] == {"r": {"plain": 1}}


def _dry_items(path: Path, frames: int | None, on_duplicate: str = "error") -> list[Any]:
    conv = Converter(ConvertOptions(frames=frames), CATS)
    with Preparer([str(path)], conv, on_duplicate=on_duplicate) as prep:
        prep.single_pass(lambda job: None)
        return list(prep.items())


def _upload_items(path: Path, frames: int | None, on_duplicate: str = "error") -> list[Any]:
    conv = Converter(ConvertOptions(frames=frames), CATS)
    with Preparer([str(path)], conv, on_duplicate=on_duplicate) as prep:
        return list(prep.items())


def _outcomes(items: list[Any]) -> list[Any]:
    out: list[Any] = []
    for item in items:
        if isinstance(item, LabelJob):
            out.append(("label", item.sample_uuid, item.score, item.locs, item.attributes))
        elif isinstance(item, Failure):
            out.append(("failure", item.errors, item.rows))
        elif isinstance(item, Skip):
            out.append(("skip", item.message, item.rows))
    return out


def test_the_dry_run_plans_labels_and_reports_failures_as_the_upload(tmp_path: Path) -> None:
    good = [_row(f, 1 + f % 2, NAMES[f % 2], 0.5, 1.0 * f) for f in range(6)]
    for row in good:
        row["sample_uuid"] = "good"
    bad = [
        _row(0, 1, "car", 0.5, 1.0),
        _row(1, 1, "person", 0.5, 2.0),  # track 1 changes category
        _row(2, 2, "car", None, 3.0),
        _row(9, 2, "car", None, 3.0),  # out of range
        _row(2, 2, "car", None, 4.0),  # (2, 2) again
    ]
    shuffled = [bad[3], good[2], bad[0], good[0], bad[4], good[5], bad[1], good[1]]
    shuffled += [good[3], bad[2], good[4]]
    path = write_jsonl(tmp_path / "p.jsonl", shuffled)
    for on_duplicate in ("error", "last"):
        dry = _dry_items(path, 6, on_duplicate)
        planned = [i for i in dry if isinstance(i, PlannedLabelJob)]
        assert [j.sample_uuid for j in planned] == ["good"]
        upload = _upload_items(path, 6, on_duplicate)
        assert _outcomes(dry) == _outcomes(upload)
        failed = [i for i in dry if isinstance(i, Failure)]
        assert failed, on_duplicate
        # The failures file's rows are the input rows, each with its own error.
        rows = {loc.line: row for f in failed for loc, row in f.rows}
        assert rows == {n + 1: r for n, r in enumerate(shuffled) if r["sample_uuid"] == "u"}


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=_rows, order=st.randoms(use_true_random=False))
def test_dry_run_and_upload_agree_on_shuffled_rows(
    tmp_path: Path, rows: list[dict[str, Any]], order: Any
) -> None:
    order.shuffle(rows)
    path = write_jsonl(tmp_path / "p.jsonl", rows)
    for frames in (None, 5):
        assert _outcomes(_dry_items(path, frames)) == _outcomes(_upload_items(path, frames))


def test_the_plan_of_a_dry_run_counts_the_planned_labels(tmp_path: Path) -> None:
    cats = categories_file(tmp_path)
    rows = [_row(f, 1, "car", 0.9, 1.0 * f) for f in range(3)]
    rows += [_row(f, 2, "bike", 0.2, 2.0 * f) for f in range(3)]
    write_jsonl(tmp_path / "p.jsonl", rows)
    env = cli_env("http://127.0.0.1:9/", "")
    env.pop("SEGMENTS_API_KEY")
    res = run_cli(
        ["p.jsonl", "--categories", str(cats), "--dry-run", "--frames", "3", "--min-score", "0.5"],
        env=env,
        cwd=tmp_path,
    )
    assert res.code == 0, res.stderr
    assert re.search(r"labels +1 \(ground-truth 1\)", res.stderr), res.stderr
    assert re.search(r"annotations +3 \(bbox 3\)", res.stderr), res.stderr  # the cars
    assert re.search(r"filtered +3 annotations below", res.stderr), res.stderr  # the bikes
    assert re.search(r"rows read +6", res.stderr), res.stderr
