"""The offline dry run planned while rows stream by (``seqstream.py``), against the
grouped way it replaces: every outcome the same, item for item and in the same order
(labels with their score, counts, categories, lines and attributes; failures with their
errors and rows; superseded skips), whatever the rows' order, rules broken, rows the
fast path does not take, frame counts, ``--min-score``, ``--score-from`` and
``--on-duplicate``; the input read once when every label passes, twice when some are
handed back; and the same when the stream gives up (too many labels)."""

from __future__ import annotations

import gzip
import io
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from seqkit import CATEGORIES, sdk_model

from upload_preds import pipeline, scan, seqstream, singlepass
from upload_preds.convert import Converter, ConvertOptions
from upload_preds.convert.categories import Categories
from upload_preds.pipeline import Preparer
from upload_preds.records import Failure, LabelJob, PlannedLabelJob, Skip
from upload_preds.seqstream import ReadBackLocs

CATS = Categories([(c["id"], c["name"]) for c in CATEGORIES], "image-vector-sequence")
NAMES = [c["name"] for c in CATEGORIES]


def _outcome(item: Any) -> Any:
    if isinstance(item, LabelJob):
        return (
            "label",
            item.sample_uuid,
            item.sample_name,
            item.labelset,
            item.score,
            [tuple(loc) for loc in item.locs],
            item.filtered_annotations,
            item.object_scores_dropped,
            item.score_derived,
            # What the plan's tally counts: each category's count, in first-seen order
            # (the stream counts them; the grouped way lists them object by object).
            list(Counter(getattr(item, "plan_categories", [])).items()),
            item.attributes,
        )
    if isinstance(item, Failure):
        errors = [(tuple(e.loc), e.field, e.reason, e.message) for e in item.errors]
        return ("failure", errors, [(tuple(loc), row) for loc, row in item.rows])
    if isinstance(item, Skip):
        return ("skip", item.reason, item.message, [(tuple(loc), r) for loc, r in item.rows])
    return ("other", repr(item))


def _run(
    paths: list[Path], options: ConvertOptions, *, stream: bool, on_duplicate: str = "error"
) -> tuple[list[Any], int, list[Any]]:
    """(outcomes, frames guessed, the jobs) of an offline dry run's items."""
    conv = Converter(options, CATS)
    with Preparer([str(p) for p in paths], conv, on_duplicate=on_duplicate) as prep:
        prep.stream_sequences = stream
        prep.single_pass(lambda job: None)
        items = list(prep.items())
        outcomes = [_outcome(i) for i in items]
        return outcomes, prep.frames_guessed, items


@st.composite
def _rows(draw: Any) -> list[dict[str, Any]]:
    """Per-frame rows of a few samples, mostly good, with some of each thing that makes
    a label fail or leave the fast path."""
    rows: list[dict[str, Any]] = []
    for s in range(draw(st.integers(1, 5))):
        sample = f"s{s}"
        ref = "sample_name" if draw(st.integers(0, 3)) == 0 else "sample_uuid"
        tracks = draw(st.integers(1, 3))
        for frame in range(draw(st.integers(1, 7))):
            anns = []
            for track in range(1, tracks + 1):
                if draw(st.integers(0, 4)) == 0:
                    continue  # the track is not seen in this frame
                ann: dict[str, Any] = {
                    "category": NAMES[(s + track) % 3],
                    "bbox": [frame, 2, frame + 5.5, 9],
                    "track_id": track,
                }
                score = draw(st.sampled_from([None, 0.1, 0.5, 0.9, 1, 0.25]))
                if score is not None:
                    ann["score"] = score
                if draw(st.integers(0, 5)) == 0:
                    ann["is_keyframe"] = False
                    ann["frame"] = frame  # the object's frame, as well as the row's
                anns.append(ann)
            if not anns:
                continue
            row: dict[str, Any] = {ref: sample, "frame": frame, "annotations": anns}
            trouble = draw(st.integers(0, 30))
            if trouble == 0:
                anns[0]["category"] = NAMES[(s + 2) % 3]  # a track changes category
            elif trouble == 1:
                row["frame"] = 40  # past the frame count (when one is known)
            elif trouble == 2:
                rows.append(orjson.loads(orjson.dumps(row)))  # the same objects twice
            elif trouble == 3:
                row["note"] = "x"  # a key the fast path does not take: row error
            elif trouble == 4:
                anns[0]["attributes"] = {"occluded": True}  # not the fast path's row
            elif trouble == 5:
                anns[0]["category"] = "boat"  # unknown category
            rows.append(row)
        if draw(st.integers(0, 8)) == 0:
            rows.append({ref: sample, "attributes": {"format_version": "0.1"}})
    return rows


_options = st.builds(
    lambda frames, min_score, score_from: ConvertOptions(
        frames=frames, min_score=min_score, score_from=score_from
    ),
    st.sampled_from([None, 8]),
    st.sampled_from([None, 0.3]),
    st.sampled_from(["mean", "max", "min", "none"]),
)


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=_rows(),
    order=st.randoms(use_true_random=False),
    options=_options,
    on_duplicate=st.sampled_from(["error", "last"]),
    files=st.integers(1, 2),
)
def test_the_streamed_dry_run_gives_the_grouped_ways_items(
    tmp_path: Path,
    rows: list[dict[str, Any]],
    order: Any,
    options: Any,
    on_duplicate: str,
    files: int,
) -> None:
    assume(rows)
    order.shuffle(rows)
    files = min(files, len(rows))
    paths = [tmp_path / f"p{i}.jsonl" for i in range(files)]
    for i, path in enumerate(paths):
        path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows[i::files]))
    streamed, guessed, jobs = _run(paths, options, stream=True, on_duplicate=on_duplicate)
    grouped, guessed_grouped, _ = _run(paths, options, stream=False, on_duplicate=on_duplicate)
    assert streamed == grouped
    assert guessed == guessed_grouped
    for job in jobs:
        if isinstance(job, LabelJob) and "frames" in job.attributes:
            sdk_model("image-vector-sequence", job.attributes)


def _good_rows(samples: int, frames: int) -> list[bytes]:
    return [
        orjson.dumps(
            {
                "sample_uuid": f"u{s}",
                "frame": f,
                "annotations": [
                    {"category": "car", "bbox": [f, 1, f + 2, 3], "track_id": 1, "score": 0.5},
                    {"category_id": 2, "bbox": [0, 0, 4, 4.5], "track_id": 7},
                ],
            }
        )
        + b"\n"
        for f in range(frames)
        for s in range(samples)
    ]


class _Reads:
    """Counts the reads of the input (``read_records`` calls) of a Preparer."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        real = pipeline.read_records

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.count += 1
            return real(*args, **kwargs)

        # The Preparer's passes read from their modules: the scan, the two-pass
        # stream and the single pass.
        for module in (pipeline, scan, singlepass):
            monkeypatch.setattr(module, "read_records", counted)


def test_a_file_whose_labels_all_pass_is_read_once_and_its_jobs_keep_no_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "p.jsonl"
    path.write_bytes(b"".join(_good_rows(3, 5)))
    reads = _Reads(monkeypatch)
    conv = Converter(ConvertOptions(frames=5), CATS)
    with Preparer([str(path)], conv) as prep:
        prep.single_pass(lambda job: None)
        jobs = list(prep.items())
        assert reads.count == 1
        assert [len(j.locs) for j in jobs] == [5, 5, 5]
        assert all(isinstance(j, PlannedLabelJob) for j in jobs)
        assert all(isinstance(j.locs, ReadBackLocs) for j in jobs)
        assert reads.count == 1  # counting the lines read nothing again
        # Asked for, a job's lines and label are read back from the input.
        first = next(j for j in jobs if isinstance(j, LabelJob) and j.sample_uuid == "u1")
        assert [loc.line for loc in first.locs] == [2 + 3 * f for f in range(5)]
        assert first.loc.file == str(path)
        assert reads.count == 2
        label = first.attributes
        sdk_model("image-vector-sequence", label)
        assert len(label["frames"]) == 5
        assert sum(len(f["annotations"]) for f in label["frames"]) == 10


def test_labels_handed_back_are_read_again_and_fail_as_grouped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = _good_rows(2, 4)
    # u1's track 7 gets another category in its last frame: u1 is handed back.
    lines[-1] = lines[-1].replace(b'"category_id":2', b'"category_id":3')
    path = tmp_path / "p.jsonl"
    path.write_bytes(b"".join(lines))
    reads = _Reads(monkeypatch)
    conv = Converter(ConvertOptions(frames=4), CATS)
    with Preparer([str(path)], conv) as prep:
        prep.single_pass(lambda job: None)
        items = list(prep.items())
        assert reads.count == 2  # the first read, and the second for u1 alone
        streamed = [_outcome(i) for i in items]
    grouped, _, _ = _run([path], ConvertOptions(frames=4), stream=False)
    assert streamed == grouped
    failures = [i for i in items if isinstance(i, Failure)]
    assert {tuple(loc) for f in failures for loc, _ in f.rows} == {
        (str(path), n) for n in (2, 4, 6, 8)
    }
    assert any("category" in e.message for f in failures for e in f.errors)
    assert [i.sample_uuid for i in items if isinstance(i, LabelJob)] == ["u0"]


@pytest.mark.parametrize(
    ("bound", "value"),
    [("MAX_LABELS", 4), ("MAX_TRACK_BYTES", 2_000)],
    ids=["labels", "track-bytes"],
)
def test_the_stream_gives_up_past_its_bounds_with_the_same_items(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bound: str, value: int
) -> None:
    lines = _good_rows(6 if bound == "MAX_TRACK_BYTES" else 2, 3)
    lines[4] = lines[4].replace(b'"track_id":7', b'"track_id":1')  # (frame, track) twice
    if bound == "MAX_LABELS":  # labels handed back count: six of them, two followed
        lines[:0] = [
            orjson.dumps({"sample_uuid": f"x{i}", "attributes": {"format_version": "0.1"}}) + b"\n"
            for i in range(6)
        ]
    path = tmp_path / "p.jsonl"
    path.write_bytes(b"".join(lines))
    grouped, guessed, _ = _run([path], ConvertOptions(), stream=False)
    monkeypatch.setattr(seqstream, bound, value)
    gave_up: list[bool] = []
    real_give_up = seqstream.SequenceStream.give_up

    def give_up(self: seqstream.SequenceStream) -> None:
        gave_up.append(True)
        real_give_up(self)

    monkeypatch.setattr(seqstream.SequenceStream, "give_up", give_up)
    reads = _Reads(monkeypatch)
    streamed, guessed_streamed, _ = _run([path], ConvertOptions(), stream=True)
    assert reads.count == 2
    assert streamed == grouped
    assert guessed_streamed == guessed
    assert gave_up


def test_stdin_and_gzip_inputs_stream_and_are_read_again(tmp_path: Path) -> None:
    lines = _good_rows(3, 4)
    lines[5] = lines[5].replace(b'"car"', b'"bike"')  # a track changes category
    body = b"".join(lines)
    gz = tmp_path / "p.jsonl.gz"
    gz.write_bytes(gzip.compress(body))
    plain = tmp_path / "p.jsonl"
    plain.write_bytes(body)
    reference, _, _ = _run([plain], ConvertOptions(frames=4), stream=False)

    def named(outcomes: list[Any], name: str) -> str:
        return orjson.dumps(outcomes).decode().replace(name, "INPUT")

    streamed, _, _ = _run([gz], ConvertOptions(frames=4), stream=True)
    assert named(streamed, str(gz)) == named(reference, str(plain))
    conv = Converter(ConvertOptions(frames=4), CATS)
    with Preparer(["-"], conv, stdin=io.BytesIO(body)) as prep:
        prep.single_pass(lambda job: None)
        from_stdin = [_outcome(i) for i in prep.items()]
    assert named(from_stdin, "<stdin>") == named(reference, str(plain))
