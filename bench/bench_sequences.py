"""Sequence labels from per-frame rows: dry-run speed and memory, and building one label.

1. A tracker's output, one JSONL row per object per frame (a box, a track id and a
   score), over sequences of 500 frames, shuffled: the offline dry run
   (``--dry-run --frames 500``) against the ``orjson.loads`` floor over the same
   lines, both timed back to back in fresh subprocesses (target <= 5x); peak RSS
   of the dry run at the small and the full size, each in its own subprocess
   (target <= 150 MB, and full/small <= 1.10).
2. One 500-frame label with 50 tracks: assembling it from its checked lines and
   encoding it, against ``orjson.dumps`` of the finished label (target <= 3x);
   and, for the record, the same from the raw rows (every row checked).

``--quick`` runs small sizes in a few seconds; the defaults are the issue's sizes
(1,000,000 rows over 2,000 sequences; 100,000 rows for the small RSS point).
``--repeat N`` keeps the best CPU time of N alternated runs of the floor and the
dry run; ``--src DIR`` also times the dry run of another source tree, alternated
with this one (for before/after in one session: a worktree of the old code).
"""

from __future__ import annotations

import json
import os
import random
import sys
import tempfile
import time
import uuid
from pathlib import Path

import orjson

from benchkit import ORJSON_FLOOR, arguments, dry_run_command, run_child

NAMES = ["car", "person", "bike", "truck", "bus"]
FRAMES = 500
TRACKS_PER_SEQUENCE = 5  # each track is seen in 100 consecutive frames


def make_rows(path: Path, rows: int) -> None:
    """``rows`` per-frame rows over rows/500 sequences of 500 frames, shuffled."""
    rng = random.Random(7)
    order = list(range(rows))
    rng.shuffle(order)
    per_track = FRAMES // TRACKS_PER_SEQUENCE
    with path.open("wb") as f:
        for k in order:
            seq, frame = divmod(k, FRAMES)
            track = frame // per_track + 1
            x = (frame * 3) % 600
            row = {
                "sample_uuid": str(uuid.UUID(int=seq, version=4)),
                "frame": frame,
                "annotations": [
                    {
                        "category": NAMES[(seq + track) % 5],
                        "bbox": [x, 40.5, x + 80.0, 120.25],
                        "track_id": track,
                        "score": round(0.3 + (k % 70) / 100, 3),
                    }
                ],
            }
            f.write(orjson.dumps(row) + b"\n")


def categories(path: Path) -> Path:
    path.write_text(
        json.dumps(
            {
                "task_type": "image-vector-sequence",
                "task_attributes": {
                    "format_version": "0.1",
                    "categories": [{"id": i + 1, "name": n} for i, n in enumerate(NAMES)],
                },
            }
        )
    )
    return path


def dry_run(path: Path, cats: Path) -> list[str]:
    return dry_run_command(path, "--frames", str(FRAMES), "--categories", str(cats))


def timed(args: list[str], src: str | None = None) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds, peak RSS MiB) of a child; ``src``: its PYTHONPATH.

    CPU time is reported beside wall time: on a shared 2-core machine the wall time
    of a run depends on what else runs, its CPU time much less. The child's peak RSS
    is its own (benchkit.run_child starts it through a small launcher)."""
    env = dict(os.environ, PYTHONPATH=src) if src is not None else None
    child = run_child(args, env=env)
    return child.wall, child.cpu, child.rss_mib


def box_annotation(f: int, t: int) -> dict[str, object]:
    """Section 2's image box of track ``t`` (0-based) in frame ``f``."""
    return {
        "category": NAMES[t % 5],
        "bbox": [t * 10.0 + f, 40.5, t * 10.0 + f + 50.0, 90.0],
        "track_id": t + 1,
        "score": 0.5 + t / 200,
    }


def cuboid_annotation(f: int, t: int) -> dict[str, object]:
    """Section 2's LiDAR cuboid (shorthand: position, dimensions, yaw) of track ``t``."""
    return {
        "category": NAMES[t % 5],
        "type": "cuboid",
        "position": [t * 4.0 + f * 0.1, -3.25 + t, 0.8],
        "dimensions": [4.5, 1.9, 1.6],
        "yaw": 0.01 * f,
        "track_id": t + 1,
        "score": 0.5 + t / 200,
    }


#: ``--task``: section 2's task type and the annotation of track t in frame f.
TASKS = {
    "box": ("image-vector-sequence", box_annotation),
    "cuboid": ("pointcloud-cuboid-sequence", cuboid_annotation),
}


def build_label(frames: int, tracks: int, repeat: int, task: str = "box") -> None:
    """Section 2: one label of ``frames`` frames and ``tracks`` tracks (``task``: box
    for ``image-vector-sequence``, cuboid for ``pointcloud-cuboid-sequence``)."""
    from upload_preds.convert import Converter, ConvertOptions
    from upload_preds.convert.categories import Categories
    from upload_preds.convert.seqlines import Line, check_line
    from upload_preds.convert.sequences import assemble
    from upload_preds.gcpolicy import paused_gc
    from upload_preds.records import Location, Record

    task_type, annotation = TASKS[task]
    cats = Categories([(i + 1, n) for i, n in enumerate(NAMES)], task_type)
    conv = Converter(ConvertOptions(frames=frames), cats)
    rules = conv.sequence
    assert rules is not None
    records = []
    for f in range(frames):
        anns = [annotation(f, t) for t in range(tracks)]
        row = {"sample_uuid": "u", "frame": f, "annotations": anns}
        records.append(Record(Location("b.jsonl", f + 1), "jsonl", row))
    lines = []
    for rec in records:
        line = check_line(rules, rec)
        assert isinstance(line, Line)
        lines.append(line)
    label = assemble(rules, lines, frames)
    assert not isinstance(label, dict)
    finished = label.label

    # As the pipeline runs them (seqgroups.py): with the cyclic GC paused, since a
    # label's lines stay alive together and hold no cycles.
    def assemble_and_encode() -> None:
        with paused_gc():
            out = assemble(rules, lines, frames)
            assert not isinstance(out, dict)
            orjson.dumps(out.label)

    def from_rows() -> None:
        with paused_gc():
            checked = [check_line(rules, rec) for rec in records]
            out = assemble(rules, checked, frames)  # type: ignore[arg-type]
            assert not isinstance(out, dict)
            orjson.dumps(out.label)

    # Alternated round by round, so the machine's load hits both sides alike: the best
    # of each side, and the median of the rounds' own ratios (both printed).
    rounds: list[tuple[float, float, float]] = []
    for _ in range(repeat):
        times = []
        for fn in (lambda: orjson.dumps(finished), assemble_and_encode, from_rows):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        rounds.append((times[0], times[1], times[2]))
    dumps = min(r[0] for r in rounds)
    built = min(r[1] for r in rounds)
    full = min(r[2] for r in rounds)
    median = sorted(r[1] / r[0] for r in rounds)[len(rounds) // 2]
    n = frames * tracks
    print(
        f"one {task_type} label: {frames} frames x {tracks} tracks ({n:,} objects), "
        f"{repeat} alternated rounds"
    )
    print(f"  orjson.dumps of the label       {dumps * 1e3:8.2f} ms (best)")
    print(
        f"  assemble + encode               {built * 1e3:8.2f} ms   {built / dumps:6.2f}x best, "
        f"{median:6.2f}x median of rounds (target <= 3x)"
    )
    print(f"  from the rows (checks included) {full * 1e3:8.2f} ms   {full / dumps:6.2f}x")


def make_cuboid_rows(path: Path, rows: int, csv: bool = False) -> None:
    """Section 3: ``rows`` LiDAR rows (one cuboid per object per sweep, a track id and
    a score) over rows/500 sequences of 500 frames, shuffled; ``csv``: as CSV lines
    with the cuboid columns ``x,y,z,length,width,height,yaw``."""
    rng = random.Random(7)
    order = list(range(rows))
    rng.shuffle(order)
    per_track = FRAMES // TRACKS_PER_SEQUENCE
    with path.open("wb") as f:
        if csv:
            f.write(b"sample_uuid,frame,track_id,category,x,y,z,length,width,height,yaw,score\n")
        for k in order:
            seq, frame = divmod(k, FRAMES)
            track = frame // per_track + 1
            uid = str(uuid.UUID(int=seq, version=4))
            x, yaw, score = (
                round(frame * 0.25, 2),
                round(frame * 0.001, 3),
                round(0.3 + (k % 70) / 100, 3),
            )
            name = NAMES[(seq + track) % 5]
            if csv:
                f.write(
                    f"{uid},{frame},{track},{name},{x},-3.5,0.8,4.5,1.9,1.6,{yaw},{score}\n".encode()
                )
                continue
            row = {
                "sample_uuid": uid,
                "frame": frame,
                "annotations": [
                    {
                        "type": "cuboid",
                        "category": name,
                        "position": [x, -3.5, 0.8],
                        "dimensions": [4.5, 1.9, 1.6],
                        "yaw": yaw,
                        "track_id": track,
                        "score": score,
                    }
                ],
            }
            f.write(orjson.dumps(row) + b"\n")


def cuboid_dry_run(d: Path, rows: int, repeat: int) -> None:
    """Section 3: the dry run of ``rows`` shuffled LiDAR rows (JSONL, then CSV) against
    the ``orjson.loads`` floor over the JSONL lines (target <= 5x, as for boxes)."""
    cats = d / "cuboid-cats.json"
    cats.write_text(
        json.dumps(
            {
                "task_type": "pointcloud-cuboid-sequence",
                "task_attributes": {
                    "format_version": "0.2",
                    "categories": [{"id": i + 1, "name": n} for i, n in enumerate(NAMES)],
                },
            }
        )
    )
    jsonl, csv = d / "cuboids.jsonl", d / "cuboids.csv"
    make_cuboid_rows(jsonl, rows)
    make_cuboid_rows(csv, rows, csv=True)
    best: dict[str, tuple[float, float, float]] = {}
    for _ in range(repeat):
        for what, args in (
            ("floor", [sys.executable, "-c", ORJSON_FLOOR, str(jsonl)]),
            ("jsonl", dry_run(jsonl, cats)),
            ("csv", dry_run(csv, cats)),
        ):
            got = timed(args)
            if what not in best or got[1] < best[what][1]:
                best[what] = got
    floor_wall, floor_cpu, _ = best["floor"]
    print(
        f"{rows:,} LiDAR cuboid rows over {rows // FRAMES:,} sequences of {FRAMES} frames, shuffled"
    )
    print(f"  orjson.loads floor (JSONL)  {floor_wall:7.2f} s wall, {floor_cpu:7.2f} s CPU")
    for what in ("jsonl", "csv"):
        wall, cpu, rss = best[what]
        print(
            f"  --dry-run {what:5}            {wall:7.2f} s wall, {cpu:7.2f} s CPU, "
            f"{cpu / floor_cpu:6.2f}x the floor's CPU (target <= 5x), peak RSS {rss:6.1f} MiB"
        )


def main() -> None:
    parser = arguments(__doc__, "small sizes, a few seconds")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--small", type=int, default=100_000)
    parser.add_argument(
        "--repeat", type=int, default=1, help="section 1: best CPU of N alternated runs"
    )
    parser.add_argument(
        "--src",
        action="append",
        default=[],
        metavar="DIR",
        help="section 1: also time the dry run of this source tree (PYTHONPATH), "
        "alternated with the installed one (e.g. a worktree of the code before a change)",
    )
    parser.add_argument(
        "--task",
        choices=["box", "cuboid", "both"],
        default="both",
        help="section 2: the label's task type (image boxes, LiDAR cuboids, or both)",
    )
    parser.add_argument(
        "--label-only", action="store_true", help="section 2 only (skip the dry runs)"
    )
    parser.add_argument(
        "--cuboid-dry-run",
        action="store_true",
        help="section 3 only: the dry run of LiDAR cuboid rows (JSONL and CSV)",
    )
    ns = parser.parse_args()
    if ns.cuboid_dry_run:
        with tempfile.TemporaryDirectory(prefix="bench-sequences-") as tmp:
            cuboid_dry_run(Path(tmp), 20_000 if ns.quick else ns.rows, ns.repeat)
        return
    if ns.label_only:
        for task in ["box", "cuboid"] if ns.task == "both" else [ns.task]:
            build_label(50 if ns.quick else FRAMES, 50, 9 if ns.quick else 15, task)
        return
    rows, small = (20_000, 5_000) if ns.quick else (ns.rows, ns.small)
    with tempfile.TemporaryDirectory(prefix="bench-sequences-") as tmp:
        d = Path(tmp)
        cats = categories(d / "cats.json")
        big_file, small_file = d / "big.jsonl", d / "small.jsonl"
        make_rows(big_file, rows)
        make_rows(small_file, small)
        size = big_file.stat().st_size / 2**20
        print(
            f"{rows:,} per-frame rows over {rows // FRAMES:,} sequences of {FRAMES} frames, shuffled ({size:.0f} MiB)"
        )
        # The best of --repeat alternated runs of each (the machine is shared: the
        # least disturbed run of each is the one to compare).
        best: dict[str | None, tuple[float, float, float]] = {}
        for _ in range(ns.repeat):
            for src in [None, "floor", *ns.src]:
                if src == "floor":
                    got = timed([sys.executable, "-c", ORJSON_FLOOR, str(big_file)])
                else:
                    got = timed(dry_run(big_file, cats), src)
                if src not in best or got[1] < best[src][1]:
                    best[src] = got
        floor, floor_cpu, _ = best.pop("floor")
        wall, cpu, big_rss = best.pop(None)
        _, _, small_rss = timed(dry_run(small_file, cats))
        load = os.getloadavg()[0]
        print(f"  orjson.loads floor       {floor:7.2f} s wall, {floor_cpu:7.2f} s CPU")
        print(f"  upload-preds --dry-run   {wall:7.2f} s wall, {cpu:7.2f} s CPU (load {load:.1f})")
        print(
            f"  ratio to the floor       {wall / floor:7.2f}x wall, {cpu / floor_cpu:6.2f}x CPU (target <= 5x)"
        )
        for src, (_, other, _) in best.items():
            print(f"  --src {src}: {other:7.2f} s CPU, {other / floor_cpu:6.2f}x the floor")
        print(f"  peak RSS {small:>9,} rows   {small_rss:7.1f} MiB")
        print(f"  peak RSS {rows:>9,} rows   {big_rss:7.1f} MiB   (target <= 150 MB)")
        print(f"  RSS ratio                {big_rss / small_rss:7.3f}   (target <= 1.10)")
    for task in ["box", "cuboid"] if ns.task == "both" else [ns.task]:
        build_label(50 if ns.quick else FRAMES, 50, 9 if ns.quick else 15, task)


if __name__ == "__main__":
    main()
