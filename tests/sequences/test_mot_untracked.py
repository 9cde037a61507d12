"""``--untracked error|skip|new-track``: MOT detections with id -1 (no track).

A ``det/det.txt`` of raw detections gives every line the id ``-1``. The real
CLI uploads such files to the sandbox's video dataset and the official SDK
reads the label back (validated by its model): ``error`` (the default) fails
the line as before, ``skip`` drops and counts each such line, ``new-track``
gives each its own track, past every id of the file, so no tracked object's id
is taken and no two detections share one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from seqkit import SeqEnv, sdk_model

TASK = "image-vector-sequence"
#: vid-a has 6 frames. Tracked ids 2 and 5, and three untracked detections.
LINES = [
    "1,2,10,10,20,40,0.9,-1,-1,-1",
    "1,-1,100,10,20,40,0.8,-1,-1,-1",
    "2,-1,110,10,20,40,0.7,-1,-1,-1",
    "2,5,12,10,20,40,0.9,-1,-1,-1",
    "3,-1,120,10,20,40,0.6,-1,-1,-1",
]


def write_det(env: SeqEnv, lines: list[str]) -> Path:
    path = env.tmp / "vid-a" / "det" / "det.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines))
    return path


def boxes(env: SeqEnv) -> list[tuple[int, int, float]]:
    """(frame, track id, left x) of every box of vid-a's label, as the SDK reads it."""
    attrs = env.label("vid-a").attributes.model_dump(mode="json", exclude_unset=True)
    sdk_model(TASK, attrs)
    return [
        (i, a["track_id"], a["points"][0][0])
        for i, frame in enumerate(attrs["frames"])
        for a in frame["annotations"]
    ]


def upload(env: SeqEnv, path: Path, *flags: str) -> Any:
    return env.run(
        path, "--format", "mot", "--mot-category", "car", "--dataset", "test/video", *flags
    )


def test_untracked_is_a_line_error_by_default(seq_env: SeqEnv) -> None:
    path = write_det(seq_env, LINES)
    res = upload(seq_env, path, "--json")
    assert res.code == 1, res.stderr
    # The sequence's label fails whole: its tracked lines are not uploaded either.
    assert res.report()["counts"]["failed"] == 5
    assert f"{path}:2: id: a sequence label needs a positive track id" in res.stderr
    assert "--untracked skip" in res.stderr  # the message names the way out
    assert not seq_env.has_label("vid-a")


def test_skip_drops_and_counts_untracked_detections(seq_env: SeqEnv) -> None:
    path = write_det(seq_env, LINES)
    res = upload(seq_env, path, "--untracked", "skip", "--json")
    assert res.code == 0, res.stderr
    report = res.report()
    assert report["counts"] == {"rows": 5, "uploaded": 2, "skipped": 3, "failed": 0}
    assert report["skipped_by_reason"] == {"untracked detection": 3}
    assert boxes(seq_env) == [(0, 2, 10), (1, 5, 12)]


def test_new_track_gives_each_detection_a_fresh_id(seq_env: SeqEnv) -> None:
    path = write_det(seq_env, LINES)
    res = upload(seq_env, path, "--untracked", "new-track", "--json")
    assert res.code == 0, res.stderr
    assert res.report()["counts"] == {"rows": 5, "uploaded": 5, "skipped": 0, "failed": 0}
    # Tracked ids stay; each untracked box gets an id past the file's highest (5),
    # in line order: none is shared with a tracked object or another detection.
    assert sorted(boxes(seq_env)) == [
        (0, 2, 10),
        (0, 6, 100),
        (1, 5, 12),
        (1, 7, 110),
        (2, 8, 120),
    ]
    # A rerun assigns the same ids: the journal sees the same label, sends nothing.
    before = seq_env.label_puts()
    again = upload(seq_env, path, "--untracked", "new-track", "--json")
    assert again.code == 0, again.stderr
    assert again.report()["skipped_by_reason"] == {"already uploaded": 5}
    assert seq_env.label_puts() == before


def test_new_track_on_a_file_of_only_detections(seq_env: SeqEnv) -> None:
    """Raw ``det.txt`` (every id -1): tracks 1, 2, 3 in line order; frames keep theirs."""
    lines = [
        "3,-1,30,10,20,40,0.9,-1,-1,-1",
        "1,-1,10,10,20,40,0.9,-1,-1,-1",
        "1,-1,11,10,20,40,0.9,-1,-1,-1",
    ]
    path = write_det(seq_env, lines)
    res = upload(seq_env, path, "--untracked", "new-track")
    assert res.code == 0, res.stderr
    assert sorted(boxes(seq_env)) == [(0, 2, 10), (0, 3, 11), (2, 1, 30)]


def test_untracked_needs_format_mot(seq_env: SeqEnv) -> None:
    path = seq_env.tmp / "rows.jsonl"
    path.write_text("{}\n")
    res = seq_env.run(path, "--untracked", "skip", "--dataset", "test/video")
    assert res.code == 2
    assert "--untracked is for --format mot" in res.stderr
    assert seq_env.sandbox.stats()["total_requests"] == 0


def test_skip_on_a_file_of_only_detections_uploads_nothing(seq_env: SeqEnv) -> None:
    path = write_det(seq_env, [line for line in LINES if ",-1," in line[:5]])
    res = upload(seq_env, path, "--untracked", "skip", "--json")
    assert res.code == 0, res.stderr
    assert res.report()["counts"] == {"rows": 3, "uploaded": 0, "skipped": 3, "failed": 0}
    assert not seq_env.has_label("vid-a")
    assert seq_env.label_puts() == 0
