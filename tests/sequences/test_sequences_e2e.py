"""Per-frame rows uploaded as sequence labels to a real sandbox, read back with the SDK."""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path

from seqkit import HUMAN, VIDEOS, SeqEnv, box_row, sample_uuid, sdk_model

from clikit import write_jsonl


def _video_rows() -> list[dict]:
    """vid-a: two tracks over frames 0-3 (frames 4 and 5 stay empty); vid-b: one track."""
    rows = [box_row("vid-a", f, 1, "car", 0.5 + f / 10) for f in range(4)]
    rows += [box_row("vid-a", f, 2, "person", 0.9) for f in (1, 3)]
    rows += [box_row("vid-b", f, 7, "bike", 0.8) for f in range(3)]
    return rows


def test_per_frame_rows_across_files_become_one_label_each(seq_env: SeqEnv) -> None:
    rows = _video_rows()
    random.Random(3).shuffle(rows)
    # vid-b by uuid in one file, the rest by name, split across a JSONL and a CSV file.
    for r in rows:
        if r["sample_name"] == "vid-b":
            r["sample_uuid"] = sample_uuid(r.pop("sample_name"))
    write_jsonl(seq_env.tmp / "a.jsonl", rows[:8])
    csv = ["sample_name,frame,track_id,category,x0,y0,x1,y1,score"]
    for r in rows[8:]:
        if "sample_name" not in r:
            write_jsonl(seq_env.tmp / "b.jsonl", [r]) if False else None
        a = r["annotations"][0]
        ref = r.get("sample_name") or "vid-b"
        x0, y0, x1, y1 = a["bbox"]
        csv.append(
            f"{ref},{r['frame']},{a['track_id']},{a['category']},{x0},{y0},{x1},{y1},{a['score']}"
        )
    (seq_env.tmp / "b.csv").write_text("\n".join(csv) + "\n")
    res = seq_env.run("a.jsonl", "b.csv", "--dataset", "test/video", "--json")
    assert res.code == 0, res.stderr
    assert "frame counts:" in res.stderr
    report = res.report()
    assert report["counts"]["uploaded"] == len(rows)
    label = seq_env.label("vid-a")
    attrs = label.attributes.model_dump(mode="json", exclude_unset=True)
    sdk_model("image-vector-sequence", attrs)
    frames = attrs["frames"]
    assert len(frames) == VIDEOS["vid-a"]  # the sample's count, empty frames included
    assert [len(f["annotations"]) for f in frames] == [1, 2, 1, 2, 0, 0]
    first = frames[1]["annotations"]
    assert [(a["id"], a["track_id"], a["category_id"]) for a in first] == [(1, 1, 1), (2, 2, 2)]
    assert all(a["is_keyframe"] for f in frames for a in f["annotations"])
    # The label score: mean of every kept object score of the sequence.
    scores = [0.5, 0.6, 0.7, 0.8, 0.9, 0.9]
    assert abs(label.score - sum(scores) / len(scores)) < 1e-9
    b = seq_env.label("vid-b").attributes.model_dump(mode="json", exclude_unset=True)
    assert [len(f["annotations"]) for f in b["frames"]] == [1, 1, 1]


def test_cuboid_csv_columns_with_frames_give_a_cuboid_sequence(seq_env: SeqEnv) -> None:
    lines = ["sample_name,frame,track_id,category,x,y,z,length,width,height,yaw,is_keyframe"]
    lines += [
        f"scan-a,{f},5,car,{f}.5,2,0.5,4,1.8,1.5,0.1,{'true' if f == 0 else 'false'}"
        for f in (2, 0, 1)
    ]
    lines += ["scan-b,1,9,person,1,1,0,0.5,0.5,1.7,0,"]
    (seq_env.tmp / "cuboids.csv").write_text("\n".join(lines) + "\n")
    res = seq_env.run("cuboids.csv", "--dataset", "test/lidar")
    assert res.code == 0, res.stderr
    attrs = seq_env.label("scan-a").attributes.model_dump(mode="json", exclude_unset=True)
    sdk_model("pointcloud-cuboid-sequence", attrs)
    assert len(attrs["frames"]) == 4
    anns = [f["annotations"] for f in attrs["frames"]]
    assert [len(a) for a in anns] == [1, 1, 1, 0]
    cub = anns[2][0]
    assert cub["position"] == {"x": 2.5, "y": 2.0, "z": 0.5}
    assert cub["dimensions"] == {"x": 4.0, "y": 1.8, "z": 1.5}
    assert (cub["id"], cub["track_id"], cub["type"]) == (5, 5, "cuboid")
    assert [a[0]["is_keyframe"] for a in anns[:3]] == [True, False, False]
    b = seq_env.label("scan-b").attributes.model_dump(mode="json", exclude_unset=True)
    assert [len(f["annotations"]) for f in b["frames"]] == [0, 1]


def _failures(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_bad_row_fails_its_whole_label_and_the_others_upload(seq_env: SeqEnv) -> None:
    rows = [box_row("vid-a", f, 1, "car", 0.9) for f in range(3)]
    rows.append(box_row("vid-a", 3, 1, "person", 0.9))  # track 1 changes category
    rows += [box_row("vid-b", f, 2, "car", 0.9) for f in range(3)]
    write_jsonl(seq_env.tmp / "p.jsonl", rows)
    fails = seq_env.tmp / "failed.jsonl"
    res = seq_env.run("p.jsonl", "--dataset", "test/video", "--failures", fails)
    assert res.code == 1, res.stderr
    assert seq_env.has_label("vid-b")
    assert not seq_env.has_label("vid-a")
    out = _failures(fails)
    assert len(out) == 4  # every line of the failed label, each with its own error
    assert all(r["sample_name"] == "vid-a" for r in out)
    assert "track 1 changes category" in out[3]["_error"]
    assert "line 1" in out[3]["_error"]
    assert all(r["_error"].startswith("no error of its own") for r in out[:3])
    assert all("input line 4: " in r["_error"] for r in out[:3])
    # The failures file is input: fixed, it uploads.
    for r in out:
        r.pop("_error")
        r["annotations"][0]["category"] = "car"
    write_jsonl(seq_env.tmp / "fixed.jsonl", out)
    assert seq_env.run("fixed.jsonl", "--dataset", "test/video").code == 0
    assert len(seq_env.label("vid-a").attributes.frames) == VIDEOS["vid-a"]


def test_row_errors_name_the_line(seq_env: SeqEnv) -> None:
    ok = box_row("vid-a", 0, 1, "car", 0.9)
    out_of_range = box_row("vid-b", 3, 1, "car", 0.9)  # vid-b has 3 frames
    no_track = box_row("vid-c", 0, 1, "car", 0.9)
    del no_track["annotations"][0]["track_id"]
    no_frame = box_row("vid-c", 0, 2, "car", 0.9)
    del no_frame["frame"]
    bad_kf = box_row("vid-c", 1, 3, "car", 0.9)
    bad_kf["annotations"][0]["is_keyframe"] = "yes"
    twice = box_row("vid-a", 0, 1, "car", 0.8)  # the same object as line 1
    write_jsonl(seq_env.tmp / "p.jsonl", [ok, out_of_range, no_track, no_frame, bad_kf, twice])
    res = seq_env.run("p.jsonl", "--dataset", "test/video")
    assert res.code == 1
    assert seq_env.label_puts() == 0
    errors = [r["_error"] for r in _failures(seq_env.tmp / "p.failed.jsonl")]
    # Rows come out label by label: each error is found by its text.
    expected = [
        "annotations[0].frame: frame 3 is out of range: the sample has 3 frame(s), 0 to 2",
        "annotations[0].track_id: missing: in a sequence dataset every object needs a track_id",
        "annotations[0].frame: missing: in a sequence dataset every object needs its frame",
        "annotations[0].is_keyframe: should be true or false, got 'yes'",
        "annotations[0].track_id: track 1 in frame 0 is already given at line 1",
    ]
    for text in expected:
        assert sum(e.startswith(text) for e in errors) == 1, (text, errors)
    assert len(errors) == 6  # line 1 too: it fails with the label of line 6


def test_on_duplicate_last_keeps_the_later_object(seq_env: SeqEnv) -> None:
    rows = [box_row("vid-b", 0, 1, "car", 0.5), box_row("vid-b", 1, 1, "car", 0.6)]
    rows.append(box_row("vid-b", 0, 1, "car", 0.7))  # supersedes line 1
    write_jsonl(seq_env.tmp / "p.jsonl", rows)
    res = seq_env.run("p.jsonl", "--dataset", "test/video", "--on-duplicate", "last", "--json")
    assert res.code == 0, res.stderr
    report = res.report()
    assert report["counts"]["uploaded"] == 2
    assert report["skipped_by_reason"] == {"superseded": 1}
    label = seq_env.label("vid-b")
    assert abs(label.score - 0.65) < 1e-9  # the superseded object's score does not count


def test_resume_and_guard_hold_for_sequence_labels(seq_env: SeqEnv) -> None:
    rows = [box_row("vid-c", f, 4, "car", 0.9) for f in range(2)]
    rows += [box_row(HUMAN, 0, 1, "car", 0.9)]  # a person labelled this one: guarded
    write_jsonl(seq_env.tmp / "p.jsonl", rows)
    first = seq_env.run("p.jsonl", "--dataset", "test/video", "--json")
    assert first.code == 0, first.stderr
    assert first.report()["counts"]["uploaded"] == 2
    assert first.report()["counts"]["skipped"] == 1
    assert seq_env.label(HUMAN).label_status == "LABELED"
    puts = seq_env.label_puts()
    again = seq_env.run("p.jsonl", "--dataset", "test/video", "--json")
    assert again.code == 0, again.stderr
    assert seq_env.label_puts() == puts  # nothing re-sent: the journal knows the label
    assert again.report()["counts"]["uploaded"] == 0


def test_frame_counts_of_samples_known_by_uuid_are_read_from_the_samples(seq_env: SeqEnv) -> None:
    rows = [box_row(name, 0, 1, "car", 0.9) for name in ("vid-a", "vid-b", "vid-c")]
    for r in rows:
        r["sample_uuid"] = sample_uuid(r.pop("sample_name"))
    write_jsonl(seq_env.tmp / "p.jsonl", rows)
    res = seq_env.run("p.jsonl")  # the dataset is found from a sample uuid
    assert res.code == 0, res.stderr
    # A dataset this small is one page: cheaper than three lookups.
    assert "frame counts: 4 sequence samples (paged the sample list of test/video)" in res.stderr
    for name, count in VIDEOS.items():
        assert len(seq_env.label(name).attributes.frames) == count


def test_samples_known_by_uuid_are_fetched_concurrently(seq_env: SeqEnv) -> None:
    """When lookups pay (a large dataset), each sample is read by uuid, in parallel."""
    from upload_preds.client import SegmentsClient
    from upload_preds.sampleshape import SampleShapes, fetch_shapes

    names = [*VIDEOS, "no-such-sample"]

    async def go() -> tuple[str, SampleShapes]:
        shapes = SampleShapes()
        async with SegmentsClient(seq_env.sandbox.url, seq_env.key, concurrency=4) as client:
            how = await fetch_shapes(
                client, "test/video", map(sample_uuid, names), shapes, samples_count=100_000
            )
        return how, shapes

    how, shapes = asyncio.run(go())
    assert how == "read 4 samples by uuid (4 at a time)"
    assert {n: shapes.frames(sample_uuid(n)) for n in names} == {**VIDEOS, "no-such-sample": None}
    gets = seq_env.sandbox.stats()["requests"]["GET"]["/samples/{uuid}/"]
    assert sum(gets.values()) == 4


def test_dry_run_against_the_sandbox_sends_nothing(seq_env: SeqEnv) -> None:
    rows = [box_row("vid-a", f, 1, "car", 0.9) for f in range(3)]
    rows.append(box_row("vid-b", 5, 1, "car", 0.9))  # vid-b has 3 frames
    write_jsonl(seq_env.tmp / "p.jsonl", rows)
    res = seq_env.run("p.jsonl", "--dataset", "test/video", "--dry-run", "--json")
    assert res.code == 1, res.stderr
    assert seq_env.label_puts() == 0
    report = res.report()
    assert report["skipped_by_reason"] == {"would upload": 3}
    assert report["failed_by_reason"] == {"invalid frame": 1}
    assert "frame counts: 4 sequence samples" in res.stderr
