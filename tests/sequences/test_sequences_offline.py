"""Sequence labels without a server: the grouping's order independence (property test),
the dry run and ``--output-labels`` with and without ``--frames``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from seqkit import CATEGORIES, box_row, categories_file, sdk_model

from clikit import run_cli, write_jsonl
from upload_preds.convert import Converter, ConvertOptions
from upload_preds.convert.categories import Categories
from upload_preds.pipeline import Preparer
from upload_preds.records import Failure, LabelJob

CATS = Categories([(c["id"], c["name"]) for c in CATEGORIES], "image-vector-sequence")
NAMES = [c["name"] for c in CATEGORIES]


def _labels(paths: list[Path], frames: int | None = None) -> dict[str, dict[str, Any]]:
    conv = Converter(ConvertOptions(frames=frames), CATS)
    out: dict[str, dict[str, Any]] = {}
    with Preparer([str(p) for p in paths], conv) as prep:
        for item in prep.items():
            assert not isinstance(item, Failure), item
            if isinstance(item, LabelJob):
                out[str(item.sample_name)] = {"attributes": item.attributes, "score": item.score}
    return out


# A tracker's output: per sample, tracks (category fixed per track) seen in some frames.
tracks = st.lists(
    st.tuples(
        st.sampled_from(["v1", "v2", "v3"]),
        st.integers(1, 6),  # track id
        st.sets(st.integers(0, 9), min_size=1, max_size=5),  # frames
        st.floats(0.05, 1.0),
    ),
    min_size=1,
    max_size=8,
    unique_by=lambda t: (t[0], t[1]),
)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(tracks=tracks, order=st.randoms(use_true_random=False), cut=st.floats(0, 1))
def test_shuffled_and_split_rows_give_the_labels_of_sorted_rows(
    tmp_path: Path, tracks: list[tuple[str, int, set[int], float]], order: Any, cut: float
) -> None:
    rows = [
        box_row(name, f, t, NAMES[t % len(NAMES)], round(score, 3))
        for name, t, frames, score in tracks
        for f in sorted(frames)
    ]
    rows.sort(key=lambda r: (r["sample_name"], r["frame"], r["annotations"][0]["track_id"]))
    sorted_file = write_jsonl(tmp_path / "sorted.jsonl", rows)
    expected = _labels([sorted_file], frames=10)
    shuffled = list(rows)
    order.shuffle(shuffled)
    k = min(max(1, int(len(shuffled) * cut)), len(shuffled) - 1)
    if len(shuffled) > 1:  # rows split across two files, the second given first
        one = write_jsonl(tmp_path / "one.jsonl", shuffled[:k])
        two = write_jsonl(tmp_path / "two.jsonl", shuffled[k:])
        got = _labels([two, one], frames=10)
    else:
        got = _labels([write_jsonl(tmp_path / "one.jsonl", shuffled)], frames=10)
    # Scores are means of the same numbers summed in another order: equal up to rounding.
    assert {n: v["attributes"] for n, v in got.items()} == {
        n: v["attributes"] for n, v in expected.items()
    }
    for n, v in got.items():
        assert abs(v["score"] - expected[n]["score"]) < 1e-9
        sdk_model("image-vector-sequence", v["attributes"])
        assert len(v["attributes"]["frames"]) == 10


def test_dry_run_without_a_frame_count_says_so(tmp_path: Path) -> None:
    cats = categories_file(tmp_path)
    write_jsonl(
        tmp_path / "p.jsonl", [box_row("v", 4, 1, "car", 0.9), box_row("v", 1, 1, "car", 0.5)]
    )
    res = run_cli(["p.jsonl", "--categories", str(cats), "--dry-run"], env=_env(), cwd=tmp_path)
    assert res.code == 0, res.stderr
    assert "1 sequence label(s) had no frame count" in res.stderr
    assert "highest frame index + 1" in res.stderr
    with_frames = run_cli(
        ["p.jsonl", "--categories", str(cats), "--dry-run", "--frames", "8"],
        env=_env(),
        cwd=tmp_path,
    )
    assert with_frames.code == 0, with_frames.stderr
    assert "had no frame count" not in with_frames.stderr


def test_output_labels_offline_are_sdk_valid_sequence_labels(tmp_path: Path) -> None:
    cats = categories_file(tmp_path, "pointcloud-cuboid-sequence")
    rows = [
        {
            "sample_name": "scan",
            "frame": f,
            "annotations": [
                {
                    "category": "car",
                    "type": "cuboid",
                    "position": {"x": f, "y": 0, "z": 0},
                    "dimensions": {"x": 4, "y": 2, "z": 1.5},
                    "yaw": 0.1,
                    "track_id": 3,
                    "score": 0.8,
                    "is_keyframe": f == 0,
                }
            ],
        }
        for f in (2, 0)
    ]
    write_jsonl(tmp_path / "p.jsonl", rows)
    res = run_cli(
        [
            "p.jsonl",
            "--categories",
            str(cats),
            "--frames",
            "5",
            "--output-labels",
            "labels.jsonl",
            "--object-score-attribute",
            "confidence",
        ],
        env=_env(),
        cwd=tmp_path,
    )
    assert res.code == 0, res.stderr
    (label,) = [json.loads(line) for line in (tmp_path / "labels.jsonl").read_text().splitlines()]
    attrs = label["attributes"]
    sdk_model("pointcloud-cuboid-sequence", attrs)
    assert len(attrs["frames"]) == 5
    assert [len(f["annotations"]) for f in attrs["frames"]] == [1, 0, 1, 0, 0]
    assert attrs["frames"][2]["annotations"][0]["attributes"] == {"confidence": 0.8}
    assert attrs["frames"][2]["annotations"][0]["is_keyframe"] is False


def test_frame_columns_outside_a_sequence_dataset_are_refused(tmp_path: Path) -> None:
    cats = categories_file(tmp_path, "vector")
    (tmp_path / "p.csv").write_text(
        "sample_name,frame,track_id,category,x0,y0,x1,y1\nimg,0,1,car,1,2,3,4\n"
    )
    res = run_cli(["p.csv", "--categories", str(cats), "--dry-run"], env=_env(), cwd=tmp_path)
    assert res.code == 1
    assert "column frame is for sequence datasets; this one is vector" in res.stderr


def _env() -> dict[str, str]:
    from clikit import cli_env

    env = cli_env("http://127.0.0.1:9/", "")
    env.pop("SEGMENTS_API_KEY")
    return env


def _complete(name: str, frames: int) -> dict[str, Any]:
    ann = {"id": 1, "category_id": 1, "type": "point", "points": [[1.0, 2.0]], "track_id": 1}
    attrs = {"format_version": "0.1", "frames": [{"annotations": [ann]}] * frames}
    return {"sample_name": name, "attributes": attrs}


def test_a_complete_label_and_per_frame_rows_of_one_sample_are_duplicates(tmp_path: Path) -> None:
    cats = categories_file(tmp_path)
    rows = [box_row("v", 0, 1, "car", 0.9), _complete("v", 2), box_row("v", 1, 1, "car", 0.9)]
    rows.append(_complete("w", 3))  # alone: an ordinary complete label
    write_jsonl(tmp_path / "p.jsonl", rows)
    args = ["p.jsonl", "--categories", str(cats), "--output-labels", "out.jsonl", "--json"]
    res = run_cli(args, env=_env(), cwd=tmp_path)
    assert res.code == 1
    report = res.report()
    assert report["failed_by_reason"] == {"duplicate row": 3}
    failed = [json.loads(x) for x in (tmp_path / "p.failed.jsonl").read_text().splitlines()]
    assert len(failed) == 3
    assert all("same sample and label set as line" in r["_error"] for r in failed)
    out = [json.loads(x) for x in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [r["sample_name"] for r in out] == ["w"]
    last = run_cli([*args[:-1], "--on-duplicate", "last", "--json"], env=_env(), cwd=tmp_path)
    assert last.code == 0, last.stderr
    # The per-frame rows stand at their first line (1), so the complete row (2) wins.
    assert last.report()["skipped_by_reason"]["superseded"] == 2
    text = (tmp_path / "out.jsonl").read_text()
    out = {r["sample_name"]: r for r in map(json.loads, text.splitlines())}
    assert out["v"]["attributes"]["frames"][0]["annotations"][0]["type"] == "point"


def test_python_api_takes_the_frame_count(tmp_path: Path, monkeypatch: Any) -> None:
    import upload_preds

    monkeypatch.delenv("SEGMENTS_API_KEY", raising=False)
    write_jsonl(tmp_path / "p.jsonl", [box_row("v", 1, 1, "car", 0.9)])
    out = tmp_path / "labels.jsonl"
    report = upload_preds.upload(
        [tmp_path / "p.jsonl"],
        categories_file=categories_file(tmp_path),
        frames=4,
        output_labels=out,
    )
    assert report.exit_code == 0
    (label,) = [json.loads(line) for line in out.read_text().splitlines()]
    assert [len(f["annotations"]) for f in label["attributes"]["frames"]] == [0, 1, 0, 0]
