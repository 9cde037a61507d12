"""--format mot: MOTChallenge tracking files become one sequence label each.

A sandbox with an ``image-vector-sequence`` dataset whose samples are named
like MOTChallenge sequences; the real CLI uploads MOT files to it, and the
official SDK reads the labels back (its client parses them into its models,
so every label is checked by them too). Each test names one part of the
format: the line-by-line cross-check of a tracker's output, the devkit's
``SEQ/gt/gt.txt`` and ``SEQ/det/det.txt`` layouts, where categories come
from, ``--min-score``, bad lines, the failures folder, and telling MOT files
from rows and from YOLO files.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from formatskit import SandboxEnv, running_env, sample_uuid
from PIL import Image
from segments import SegmentsClient
from segments.typing import ImageSequenceVectorLabelAttributes

from clikit import cli_env, run_cli
from upload_preds.formats import YOLO_ERRORS_FILE

NAMESPACE = "formats-mot"
FRAMES = 12
SEQUENCES = ["MOT17-02-FRCNN", "MOT17-04-FRCNN", "MOT17-09-FRCNN"]
CONFIDENCE = {"name": "confidence", "input_type": "number", "min": 0, "max": 1}
CATEGORIES = [
    {"id": 1, "name": "car", "attributes": [CONFIDENCE]},
    {"id": 2, "name": "truck", "attributes": [CONFIDENCE]},
    {"id": 3, "name": "pedestrian", "attributes": [CONFIDENCE]},
]
NOT_OWN = "no error of its own; not uploaded because its sequence's label failed"


def manifest() -> dict[str, Any]:
    samples = [
        {
            "uuid": sample_uuid(NAMESPACE, name),
            "name": name,
            "attributes": {
                "frames": [
                    {"image": {"url": f"https://example.invalid/{name}/{f:06d}.jpg"}}
                    for f in range(1, FRAMES + 1)
                ]
            },
            "metadata": {},
            "labels": {},
        }
        for name in SEQUENCES
    ]
    return {
        "datasets": [
            {
                "owner": "test",
                "name": "video",
                "task_type": "image-vector-sequence",
                "task_attributes": {"format_version": "0.1", "categories": CATEGORIES},
                "labelsets": [{"name": "ground-truth", "description": ""}],
                "samples": samples,
            }
        ]
    }


class VideoEnv(SandboxEnv):
    DATASET = "test/video"
    NAMESPACE = NAMESPACE

    def sdk_label(self, name: str) -> dict[str, Any]:
        """The label as the official SDK reads it (parsed into its models), as a dict."""
        with SegmentsClient(self.key, api_url=self.sandbox.url) as client:
            label = client.get_label(sample_uuid(NAMESPACE, name), "ground-truth")
        attrs = label.attributes
        assert isinstance(attrs, ImageSequenceVectorLabelAttributes), type(attrs)
        data: dict[str, Any] = attrs.model_dump(mode="json", exclude_none=True)
        data["_score"] = label.score
        return data


@pytest.fixture
def venv(tmp_path: Path) -> Iterator[VideoEnv]:
    with running_env(VideoEnv, manifest(), tmp_path) as env:
        yield env


def tracker_output(rng: random.Random, tracks: int = 4) -> list[str]:
    """MOTChallenge tracker output: tracks entering and leaving, 1-based frames, fillers."""
    lines = []
    for frame in range(1, FRAMES + 1):
        for track in range(1, tracks + 1):
            if (frame + track) % 5 == 0:
                continue  # the tracker lost it in this frame
            left, top = rng.uniform(-5, 600), rng.uniform(0, 400)
            w, h = rng.uniform(10, 120), rng.uniform(20, 200)
            conf = rng.uniform(0.3, 1.0)
            lines.append(
                f"{frame},{track},{left:.2f},{top:.2f},{w:.2f},{h:.2f},{conf:.4f},-1,-1,-1"
            )
    rng.shuffle(lines)  # trackers write in any order; the label is the same
    return lines


def write(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines))
    return path


def annotations(label: dict[str, Any]) -> list[tuple[int, dict[str, Any]]]:
    """(0-based frame, annotation) of every annotation of a sequence label."""
    return [(i, a) for i, frame in enumerate(label["frames"]) for a in frame["annotations"]]


def test_tracker_output_is_found_line_by_line_in_the_label(venv: VideoEnv) -> None:
    lines = tracker_output(random.Random(7))
    path = write(venv.tmp / "results" / "MOT17-02-FRCNN.txt", lines)
    res = venv.run(
        path, "--format", "mot", "--mot-category", "car", "--object-score-attribute", "confidence"
    )
    assert res.code == 0, res.stderr
    assert res.report()["counts"] == {
        "rows": len(lines),
        "uploaded": len(lines),
        "skipped": 0,
        "failed": 0,
    }
    label = venv.sdk_label("MOT17-02-FRCNN")
    assert len(label["frames"]) == FRAMES  # frames without boxes are there, empty
    found = annotations(label)
    assert len(found) == len(lines)  # nothing extra
    left_over = list(found)
    for line in lines:
        f, track, left, top, w, h, conf = (float(v) for v in line.split(",")[:7])
        match = [
            (i, a)
            for i, a in left_over
            if i == int(f) - 1
            and a["track_id"] == int(track)
            and a["type"] == "bbox"
            and a["category_id"] == 1
            and [c for p in a["points"] for c in p] == pytest.approx([left, top, left + w, top + h])
            and a["attributes"]["confidence"] == pytest.approx(conf)
        ]
        assert len(match) == 1, line
        left_over.remove(match[0])
    assert not left_over
    # The label's score is the mean confidence, as for any detector's output.
    confs = [float(line.split(",")[6]) for line in lines]
    assert label["_score"] == pytest.approx(sum(confs) / len(confs), abs=1e-6)


def test_gt_and_det_folder_layouts_name_their_sequence(venv: VideoEnv) -> None:
    root = venv.tmp / "MOT17" / "train"
    # MOT16/17 ground truth: 9 values, class 1 pedestrian and 3 car.
    write(
        root / "MOT17-02-FRCNN" / "gt" / "gt.txt",
        ["1,1,912,484,97,109,1,1,0.8", "2,1,915,486,97,109,1,1,0.9", "1,2,10,20,100,50,1,3,1"],
    )
    # A det.txt with ids (a tracker that wrote the devkit's layout): no class column.
    write(root / "MOT17-04-FRCNN" / "det" / "det.txt", ["3,7,1,2,30,40,0.95,-1,-1,-1"])
    write(root / "MOT17-04-FRCNN" / "seqinfo.ini", ["[Sequence]", "seqLength=12"])
    res = venv.run(root, "--format", "mot", "--mot-category", "truck")
    assert res.code == 0, res.stderr
    assert res.report()["counts"]["uploaded"] == 4
    gt = venv.sdk_label("MOT17-02-FRCNN")
    by_track = {a["track_id"]: (i, a["category_id"]) for i, a in annotations(gt)}
    assert by_track == {1: (1, 3), 2: (0, 1)}  # class column, not --mot-category
    assert [a["points"] for _, a in annotations(gt) if a["track_id"] == 2] == [
        [[10, 20], [110, 70]]
    ]
    det = venv.sdk_label("MOT17-04-FRCNN")
    assert [(i, a["track_id"], a["category_id"]) for i, a in annotations(det)] == [(2, 7, 2)]


def test_class_column_goes_through_the_category_map(venv: VideoEnv) -> None:
    path = write(
        venv.tmp / "MOT17-09-FRCNN" / "gt" / "gt.txt",
        [
            "1,1,10,10,20,40,1,1,1",  # pedestrian, by its MOTChallenge name
            "1,2,50,10,80,40,1,3,1",  # 3 → "truck" by number
            "1,3,90,10,20,40,0,7,1",  # static_person → null: dropped, counted
            "2,3,91,10,20,40,0,7,1",
        ],
    )
    (venv.tmp / "map.json").write_text(json.dumps({"3": "truck", "static_person": None}))
    res = venv.run(path, "--format", "mot", "--category-map", "map.json")
    assert res.code == 0, res.stderr
    report = res.report()
    assert report["skipped_by_reason"] == {"category mapped to null": 2}
    label = venv.sdk_label("MOT17-09-FRCNN")
    assert sorted((a["track_id"], a["category_id"]) for _, a in annotations(label)) == [
        (1, 3),
        (2, 2),
    ]
    # A class the dataset does not have fails its line, naming it and the column.
    write(path, ["1,1,10,10,20,40,1,1,1", "1,4,10,10,20,40,1,4,1"])
    res = venv.run(path, "--format", "mot", "--category-map", "map.json")
    assert res.code == 1
    examples = json.dumps(res.report()["failure_examples"])
    assert f"{path}:2: class: class 'bicycle' is not a category" in examples


def test_min_score_drops_low_confidence_lines_and_counts_them(venv: VideoEnv) -> None:
    path = write(
        venv.tmp / "MOT17-02-FRCNN.txt",
        [
            "1,1,10,10,20,40,0.91,-1,-1,-1",
            "2,1,11,10,20,40,0.20,-1,-1,-1",
            "3,1,12,10,20,40,0.55,-1,-1,-1",
            "1,2,50,50,20,20,0.10,-1,-1,-1",
        ],
    )
    res = venv.run(path, "--format", "mot", "--mot-category", "car", "--min-score", "0.5")
    assert res.code == 0, res.stderr
    assert res.report()["annotations"]["filtered_by_min_score"] == 2
    label = venv.sdk_label("MOT17-02-FRCNN")
    assert [(i, a["track_id"]) for i, a in annotations(label)] == [(0, 1), (2, 1)]


BAD = [
    ("1,1,10,10,20,40,0.9,-1,-1,-1", None),
    ("x,1,10,10,20,40,0.9,-1,-1,-1", "frame: should be a number, got 'x'"),
    ("2,1,10,10,20", "has 5 values; MOT lines have 10: frame,id,bb_left"),
    ("0,1,10,10,20,40,0.9,-1,-1,-1", "frame: should be a whole frame number from 1 (1-based)"),
    ("3,-1,10,10,20,40,0.9,-1,-1,-1", "id: a sequence label needs a positive track id"),
    ("4,1,10,10,0,40,0.9,-1,-1,-1", "bb_width: should be positive, got 0"),
    ("5,1,10,10,20,40,0.9,1,1", "has 9 values where this file's lines have 10"),
    ("6;1;10;10;20", "is not comma-separated"),
]


def _sidecar(root: Path) -> list[dict[str, Any]]:
    text = (root / YOLO_ERRORS_FILE).read_text()
    return [json.loads(line) for line in text.splitlines()]


def test_bad_lines_fail_their_sequence_and_come_back_in_the_failures_folder(
    venv: VideoEnv,
) -> None:
    results = venv.tmp / "results"
    write(results / "MOT17-02-FRCNN.txt", [text for text, _ in BAD])
    good = write(results / "MOT17-04-FRCNN.txt", ["1,1,10,10,20,40,0.9,-1,-1,-1"])
    res = venv.run(results, "--format", "mot", "--mot-category", "car")
    assert res.code == 1, res.stderr
    report = res.report()
    assert report["counts"] == {"rows": len(BAD) + 1, "uploaded": 1, "skipped": 0, "failed": 8}
    assert venv.label("MOT17-02-FRCNN") is None  # nothing half-written
    assert venv.sdk_label("MOT17-04-FRCNN")["frames"][0]["annotations"][0]["track_id"] == 1
    bad = results / "MOT17-02-FRCNN.txt"
    # Each bad line is named by file:line (and column) in the summary.
    assert f"{bad}:2: frame: should be a number" in res.stderr

    root = venv.tmp / "results.failed"
    assert report["failures_files"] == [str(root)]
    assert (root / "MOT17-02-FRCNN.txt").read_text().splitlines() == [t for t, _ in BAD]
    assert not (root / good.name).exists()
    entries = _sidecar(root)
    assert [(e["file"], e["line"], e["text"]) for e in entries] == [
        ("MOT17-02-FRCNN.txt", n, text) for n, (text, _) in enumerate(BAD, 1)
    ]
    for e, (_text, error) in zip(entries, BAD, strict=True):
        if error is None:
            assert e["error"].startswith(NOT_OWN), e
        else:
            assert e["error"].startswith(error), e
        assert e["input"] == f"{bad}:{e['line']}"

    # Fixed in place and fed straight back in, the sequence uploads.
    fixed = [f"{n},1,10,10,20,40,0.9,-1,-1,-1" for n in range(1, len(BAD) + 1)]
    write(root / "MOT17-02-FRCNN.txt", fixed)
    again = venv.run(root, "--format", "mot", "--mot-category", "car")
    assert again.code == 0, again.stderr
    assert again.report()["counts"]["uploaded"] == len(BAD)
    label = venv.sdk_label("MOT17-02-FRCNN")
    assert [i for i, _ in annotations(label)] == list(range(len(BAD)))


def test_failures_of_a_gt_file_given_by_name_keep_its_sequence(venv: VideoEnv) -> None:
    gt = write(venv.tmp / "MOT17-09-FRCNN" / "gt" / "gt.txt", ["1,1,10,10,20,40,1,1,1", "2,1,x"])
    res = venv.run(gt, "--format", "mot")
    assert res.code == 1, res.stderr
    root = Path(res.report()["failures_files"][0])
    kept = root / "MOT17-09-FRCNN" / "gt" / "gt.txt"
    assert kept.read_text().splitlines() == ["1,1,10,10,20,40,1,1,1", "2,1,x"]
    write(kept, ["1,1,10,10,20,40,1,1,1", "2,1,11,10,20,40,1,1,1"])
    again = venv.run(root, "--format", "mot")
    assert again.code == 0, again.stderr
    assert len(annotations(venv.sdk_label("MOT17-09-FRCNN"))) == 2


def test_mot_and_yolo_files_without_format_are_named(venv: VideoEnv) -> None:
    tracker = write(venv.tmp / "MOT17-02-FRCNN.txt", ["1,1,10,10,20,40,0.9,-1,-1,-1"])
    res = venv.run(tracker)
    assert res.code == 2, res.stderr
    assert "this is MOTChallenge tracking output (10 numbers a line" in res.stderr
    assert "--format mot --mot-category NAME" in res.stderr
    assert f"{tracker.name}:1" not in res.stderr  # one file error, no row errors

    gt = write(venv.tmp / "gt.txt", ["1,1,10,10,20,40,1,1,0.5"])
    res = venv.run(gt)
    assert res.code == 2, res.stderr
    assert "(9 numbers a line: frame,id,bb_left,bb_top,bb_width,bb_height,conf,class" in res.stderr
    assert "--format mot (one sequence label per file)" in res.stderr

    yolo = write(venv.tmp / "img_0001.txt", ["0 0.5 0.5 0.2 0.2 0.91"])
    res = venv.run(yolo)
    assert res.code == 2, res.stderr
    assert "this is a YOLO label file" in res.stderr
    assert "--format yolo" in res.stderr
    # ...and given to --format mot, its lines say what they look like.
    res = venv.run(yolo, "--format", "mot", "--mot-category", "car")
    assert res.code == 1, res.stderr
    assert "is a YOLO label line" in res.stderr
    assert "read YOLO files with --format yolo" in res.stderr
    # ...and a MOT file given to --format yolo says so too.
    (venv.tmp / "images").mkdir()
    Image.new("RGB", (64, 48)).save(venv.tmp / "images" / "MOT17-02-FRCNN.png")
    (venv.tmp / "names.txt").write_text("car\n")
    res = venv.run(tracker, "--format", "yolo", "--yolo-names", "names.txt", "--images", "images")
    assert res.code == 1, res.stderr
    assert "this is a MOTChallenge line, read such files with --format mot" in res.stderr


def test_category_flags_are_checked_before_anything_is_sent(venv: VideoEnv) -> None:
    tracker = write(venv.tmp / "MOT17-02-FRCNN.txt", ["1,1,10,10,20,40,0.9,-1,-1,-1"])
    res = venv.run(tracker, "--format", "mot")
    assert res.code == 2, res.stderr
    assert "has no class column" in res.stderr
    assert "--mot-category NAME" in res.stderr
    rows = write(venv.tmp / "rows.jsonl", [json.dumps({"sample_name": "x", "annotations": []})])
    res = venv.run(rows, "--mot-category", "car")
    assert res.code == 2, res.stderr
    assert "--mot-category is for --format mot" in res.stderr
    res = venv.run(tracker, "--format", "mot", "--mot-category", "bus")
    assert res.code == 1, res.stderr
    assert "--mot-category: class 'bus' is not a category of the dataset" in res.stderr
    assert venv.label("MOT17-02-FRCNN") is None


def test_label_rules_name_the_lines_they_are_about(venv: VideoEnv) -> None:
    gt = write(
        venv.tmp / "MOT17-02-FRCNN" / "gt" / "gt.txt",
        [
            "1,1,10,10,20,40,1,1,1",
            "2,1,11,10,20,40,1,3,1",  # track 1 was a pedestrian in line 1
            "1,2,50,10,20,40,1,3,1",
            "1,2,51,10,20,40,1,3,1",  # track 2 twice in frame 1
            f"{FRAMES + 1},3,50,10,20,40,1,3,1",  # beyond the sample's frames
        ],
    )
    res = venv.run(gt, "--format", "mot")
    assert res.code == 1, res.stderr
    assert res.report()["counts"]["failed"] == 5
    entries = {e["line"]: e["error"] for e in _sidecar(Path(res.report()["failures_files"][0]))}
    assert entries[2].startswith("class: track 1 changes category"), entries
    assert "at line 1" in entries[2]
    assert entries[4].startswith("id: track 2 in frame 0 is already given at line 3"), entries
    assert entries[5].startswith(f"frame: frame {FRAMES} is out of range"), entries
    assert "this file counts from 1" in entries[5]
    assert entries[1].startswith(NOT_OWN)
    assert venv.label("MOT17-02-FRCNN") is None


def test_the_label_has_every_frame_of_the_sample(venv: VideoEnv) -> None:
    path = write(venv.tmp / "MOT17-04-FRCNN.txt", ["2,5,10,10,20,40,0.8,-1,-1,-1"])
    res = venv.run(path, "--format", "mot", "--mot-category", "pedestrian")
    assert res.code == 0, res.stderr
    label = venv.sdk_label("MOT17-04-FRCNN")
    assert len(label["frames"]) == FRAMES
    assert [(i, a["track_id"], a["category_id"]) for i, a in annotations(label)] == [(1, 5, 3)]


def test_on_duplicate_last_keeps_the_later_box_of_a_track(venv: VideoEnv) -> None:
    path = write(
        venv.tmp / "MOT17-02-FRCNN.txt",
        [
            "1,1,10,10,20,40,0.9,-1,-1,-1",
            "2,1,11,10,20,40,0.9,-1,-1,-1",
            "1,1,99,10,20,40,0.8,-1,-1,-1",
        ],
    )
    res = venv.run(path, "--format", "mot", "--mot-category", "car", "--on-duplicate", "last")
    assert res.code == 0, res.stderr
    report = res.report()
    assert report["skipped_by_reason"] == {"superseded": 1}
    assert report["counts"] == {"rows": 3, "uploaded": 2, "skipped": 1, "failed": 0}
    label = venv.sdk_label("MOT17-02-FRCNN")
    assert [(i, a["points"][0][0]) for i, a in annotations(label)] == [(0, 99), (1, 11)]


def test_offline_labels_take_frames_from_the_flag(tmp_path: Path) -> None:
    path = write(tmp_path / "MOT17-02-FRCNN.txt", ["2,5,10,10,20,40,0.8,-1,-1,-1"])
    cats = tmp_path / "cats.json"
    cats.write_text(json.dumps(manifest()["datasets"][0]))
    env = cli_env("http://127.0.0.1:9/", "")
    del env["SEGMENTS_API_KEY"]  # no key: offline, nothing is asked of a server
    args = [str(path), "--format", "mot", "--mot-category", "car", "--categories", str(cats)]
    res = run_cli([*args, "--output-labels", "out.jsonl", "--frames", "30"], env=env, cwd=tmp_path)
    assert res.code == 0, res.stderr
    assert "no frame count" not in res.stderr
    (label,) = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert label["sample_name"] == "MOT17-02-FRCNN"
    frames = ImageSequenceVectorLabelAttributes.model_validate(label["attributes"]).frames
    assert len(frames) == 30
    assert [(i, a.track_id) for i, f in enumerate(frames) for a in f.annotations] == [(1, 5)]
    # Without --frames the label ends at its last box, and the plan says so.
    res = run_cli([*args, "--dry-run"], env=env, cwd=tmp_path)
    assert res.code == 0, res.stderr
    assert "1 sequence label(s) had no frame count" in res.stderr


def test_gt_and_det_of_one_sequence_in_a_walked_folder_are_duplicates(venv: VideoEnv) -> None:
    root = venv.tmp / "train"
    write(root / "MOT17-02-FRCNN" / "gt" / "gt.txt", ["1,1,10,10,20,40,1,1,1"])
    write(root / "MOT17-02-FRCNN" / "det" / "det.txt", ["1,2,10,10,20,40,0.9,-1,-1,-1"])
    res = venv.run(root, "--format", "mot", "--mot-category", "car")
    assert res.code == 1, res.stderr
    assert res.report()["failed_by_reason"] == {"duplicate row": 2}
    assert "det.txt:1: same sample and label set as" in res.stderr
    assert venv.label("MOT17-02-FRCNN") is None
    # Naming the file meant uploads it.
    res = venv.run(root / "MOT17-02-FRCNN" / "gt" / "gt.txt", "--format", "mot")
    assert res.code == 0, res.stderr
