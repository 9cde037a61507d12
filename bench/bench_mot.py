"""Benchmark of --format mot against the floor of parsing the same MOTChallenge lines.

Writes S tracker-output files (one sequence each: F frames x T tracks, the
10-value layout), then times per file, floor and work alternately (the
machine is shared: a neighbour's burst hits both halves of a pair alike), and
prints the overall and the median per-file ratios:

* the floor: read the file, split each line at commas and ``float()`` every
  value (what any MOT reader must do at least);
* the reader: :class:`~upload_preds.formats.mot.MotSource` ``rows()`` (every
  check, the category, the shorthand annotation of each line);
* reader + label: the above, then each file's sequence label
  (:func:`~upload_preds.formats.tracks.sequence_label`: every line a part,
  checked by the frame family's rules, assembled) encoded with ``orjson``,
  i.e. what a dry run does per file before the upload.

    .venv/bin/python bench/bench_mot.py           (20 files x 500 frames x 50 tracks)
    .venv/bin/python bench/bench_mot.py --quick   (2 files x 100 frames x 20 tracks)
"""

from __future__ import annotations

import random
import statistics
import tempfile
import time
from pathlib import Path

import orjson

from benchkit import arguments
from upload_preds.catmap import CategoryResolver
from upload_preds.convert import Converter, ConvertOptions
from upload_preds.convert.categories import Categories
from upload_preds.formats import FormatRow
from upload_preds.formats.mot import MotSource
from upload_preds.formats.tracks import sequence_label
from upload_preds.records import LabelJob


def write_files(root: Path, files: int, frames: int, tracks: int) -> list[str]:
    rnd = random.Random(3)
    paths = []
    for s in range(files):
        lines = []
        for f in range(1, frames + 1):
            for t in range(1, tracks + 1):
                x, y = rnd.uniform(0, 1800), rnd.uniform(0, 1000)
                w, h = rnd.uniform(10, 120), rnd.uniform(20, 300)
                lines.append(f"{f},{t},{x:.2f},{y:.2f},{w:.2f},{h:.2f},{rnd.random():.4f},-1,-1,-1")
        path = root / f"SEQ-{s:03d}.txt"
        path.write_text("\n".join(lines) + "\n")
        paths.append(str(path))
    return paths


def floor(path: str) -> int:
    n = 0
    with open(path, encoding="utf-8") as f:
        for line in f.read().splitlines():
            if line:
                n += len([float(v) for v in line.split(",")])
    return n


def main() -> None:
    quick = arguments(__doc__, "2 files x 100 frames x 20 tracks").parse_args().quick
    files, frames, tracks = (2, 100, 20) if quick else (20, 500, 50)
    cats = Categories([(1, "car"), (2, "pedestrian")], "image-vector-sequence")
    conv = Converter(ConvertOptions(), cats)
    resolver = CategoryResolver()
    resolver.bind(cats)
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_files(Path(tmp), files, frames, tracks)
        totals = [0.0, 0.0, 0.0]
        ratios_reader: list[float] = []
        ratios_label: list[float] = []
        for path in paths:
            source = MotSource([path], "car")
            t0 = time.perf_counter()
            floor(path)
            t1 = time.perf_counter()
            rows = [r for r in source.rows(resolver, cats.task_type) if isinstance(r, FormatRow)]
            t2 = time.perf_counter()
            for row in source.rows(resolver, cats.task_type):
                assert isinstance(row, FormatRow)
                assert not row.errors
                job = sequence_label(conv, row, frames)
                assert isinstance(job, LabelJob), job
                orjson.dumps(job.attributes)
            t3 = time.perf_counter()
            assert len(rows) == 1
            base, reader, label = t1 - t0, t2 - t1, t3 - t2
            totals[0] += base
            totals[1] += reader
            totals[2] += label
            ratios_reader.append(reader / base)
            ratios_label.append(label / base)
    lines = files * frames * tracks
    print(f"{files} MOT files x {frames} frames x {tracks} tracks = {lines:,} lines")
    print(f"  floor (split + float)       {totals[0]:7.2f} s  {lines / totals[0]:11,.0f} lines/s")
    print(
        f"  reader (FormatRows)         {totals[1]:7.2f} s  {totals[1] / totals[0]:6.2f}x"
        f"  (median per file {statistics.median(ratios_reader):.2f}x)"
    )
    print(
        f"  reader + label + encode     {totals[2]:7.2f} s  {totals[2] / totals[0]:6.2f}x"
        f"  (median per file {statistics.median(ratios_label):.2f}x)"
    )


if __name__ == "__main__":
    main()
