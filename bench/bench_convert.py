"""Benchmark of the converter against the floor of parsing the same JSON.

Generates N JSONL rows of 5 boxes each (category names, scores, image
attributes: the shape of a typical detector dump), then times, side by side in
one run:

* ``orjson.loads`` over every line (the floor);
* ``orjson.loads`` + ``Record`` + ``Converter.convert`` over every line, and
  the same through the full path only (``convert_row``, no fast path), and
  ``Converter.plan`` (what a dry run calls): the fast path's worth, side by side;
* CSV: ``csv.reader`` of N one-box lines (the floor) against ``csv.reader`` +
  ``Converter.csv_part`` (with and without its fast path), then ``Converter.convert_group`` over the groups
  (grouped in memory here; the real grouping stage has its own benchmark).

Floor and work are timed alternately on chunks of 2000 rows, and the median of
the per-chunk ratios is printed next to the overall ratio: the machine is
shared, and a neighbour's burst skews two long back-to-back runs but hits both
halves of a pair alike. The issue's budget for the whole dry run is 5x the
floor, so conversion alone should stay near 2-3x.

    .venv/bin/python bench/bench_convert.py [--quick] [N]   (default 200000; --quick 20000)
"""

from __future__ import annotations

import csv
import random
import time
from pathlib import Path
from typing import Any

import orjson

from benchkit import arguments, boxes, paired
from upload_preds.convert import Converter, ConvertOptions
from upload_preds.convert.categories import Categories
from upload_preds.convert.converter import convert_row
from upload_preds.records import LabelJob, Location, Record

NAMES = ["car", "truck", "pedestrian", "cyclist", "traffic_light", "traffic_sign"]


def make_rows(n: int, seed: int = 1) -> list[bytes]:
    rng = random.Random(seed)
    return [
        orjson.dumps(
            {
                "sample_uuid": f"00000000-0000-4000-8000-{i:012d}",
                "annotations": boxes(rng, NAMES),
                "image_attributes": {"weather": "sunny", "night": False},
            }
        )
        for i in range(n)
    ]


def make_csv(n_rows: int, seed: int = 2) -> list[dict[str, str]]:
    rnd = random.Random(seed)
    out = []
    for _ in range(n_rows * 5):
        x, y = rnd.uniform(0, 600), rnd.uniform(0, 400)
        out.append(
            {
                "sample_name": f"img_{rnd.randrange(n_rows):07d}.jpg",
                "category": rnd.choice(NAMES),
                "x0": f"{x:.1f}",
                "y0": f"{y:.1f}",
                "x1": f"{x + rnd.uniform(5, 80):.1f}",
                "y1": f"{y + rnd.uniform(5, 80):.1f}",
                "score": f"{rnd.random():.3f}",
                "attr.occluded": rnd.choice(["true", "false"]),
            }
        )
    return out


CHUNK = 2000


def main() -> None:
    parser = arguments(__doc__, "20,000 rows, a few seconds")
    parser.add_argument("n", nargs="?", type=int, default=200_000, help="JSONL rows")
    ns = parser.parse_args()
    n = 20_000 if ns.quick else ns.n
    # The demo manifest's first dataset (street-scenes, vector); it holds several.
    demo = orjson.loads(Path("sample_data/dataset.json").read_bytes())["datasets"][0]
    cats = Categories.from_task_attributes(demo["task_attributes"], demo["task_type"])
    plain = Converter(ConvertOptions(), cats)
    opts = Converter(ConvertOptions(score_from="max", object_score_attribute="confidence"), cats)
    lines = make_rows(n)
    chunks = [lines[i : i + CHUNK] for i in range(0, n, CHUNK)]

    def floor(k: int) -> None:
        loads = orjson.loads
        for line in chunks[k]:
            loads(line)

    def convert_with(c: Converter, how: str) -> Any:
        def work(k: int) -> None:
            loads = orjson.loads
            base = k * CHUNK
            for i, line in enumerate(chunks[k], base + 1):
                record = Record(Location("bench.jsonl", i), "jsonl", loads(line))
                if how == "convert":
                    job = c.convert(record)
                elif how == "plan":
                    job = c.plan(record)
                else:  # the full path alone: what every row would cost without fast.py
                    job = convert_row(c.ctx, record.data, record.loc)
                if not isinstance(job, LabelJob):
                    raise SystemExit(f"unexpected errors: {job}")

        return work

    print(f"JSONL: {n} rows x 5 boxes; floor = orjson.loads of each line")
    for label, conv in (("defaults", plain), ("--score-from max --object-score-attribute", opts)):
        for how, what in (
            ("convert", "convert"),
            ("full", "convert_row, no fast path"),
            ("plan", "plan (dry run)"),
        ):
            t_floor, t_work, median = paired(len(chunks), floor, convert_with(conv, how))
            print(
                f"  loads + Record + {what} ({label}): {t_work:.3f} s vs floor "
                f"{t_floor:.3f} s; ratio {t_work / t_floor:.2f}x overall, {median:.2f}x median "
                f"of pairs; conversion alone {(t_work - t_floor) / n * 1e6:.2f} us/row"
            )

    records = make_csv(n // 5)
    header = list(records[0])
    text_lines = [",".join(r[c] for c in header) for r in records]
    csv_chunks = [text_lines[i : i + CHUNK] for i in range(0, len(text_lines), CHUNK)]

    def csv_floor(k: int) -> None:
        for _ in csv.reader(csv_chunks[k]):
            pass

    def csv_with(c: Converter) -> Any:
        def work(k: int) -> None:
            base = k * CHUNK
            for i, cells in enumerate(csv.reader(csv_chunks[k]), base + 2):
                part = c.csv_part(
                    Record(Location("bench.csv", i), "csv", dict(zip(header, cells, strict=True)))
                )
                if not isinstance(part, tuple):
                    raise SystemExit(f"unexpected error: {part}")

        return work

    # The same settings with the CSV fast path off: its cached layout says "not fast".
    slow = Converter(ConvertOptions(score_from="max", object_score_attribute="confidence"), cats)
    slow.csv_part(Record(Location("bench.csv", 2), "csv", dict(zip(header, header, strict=True))))
    for layout in slow.ctx.csv_layouts.values():
        layout.fast = False
    t_floor_s, t_slow, median_s = paired(len(csv_chunks), csv_floor, csv_with(slow))
    t_floor, t_work, median = paired(len(csv_chunks), csv_floor, csv_with(opts))
    # Grouping is another stage's job (and benchmark): done here untimed.
    groups: dict[str, list[tuple[Location, dict[str, Any]]]] = {}
    for i, cells in enumerate(csv.reader(text_lines), 2):
        loc = Location("bench.csv", i)
        part = opts.csv_part(Record(loc, "csv", dict(zip(header, cells, strict=True))))
        assert isinstance(part, tuple)
        groups.setdefault(part[0], []).append((loc, part[1]))
    t0 = time.perf_counter()
    for key, items in groups.items():
        job = opts.convert_group(key, items)
        if not isinstance(job, LabelJob):
            raise SystemExit(f"unexpected errors: {job[:3]}")
    t_group = time.perf_counter() - t0
    m = len(text_lines)
    print(f"CSV: {m} one-box records in {len(groups)} labels; floor = csv.reader of the lines")
    print(
        f"  csv.reader + dict + csv_part: {t_work:.3f} s vs floor {t_floor:.3f} s; "
        f"ratio {t_work / t_floor:.2f}x overall, {median:.2f}x median of pairs"
    )
    print(
        f"  the same without the CSV fast path: {t_slow:.3f} s vs floor {t_floor_s:.3f} s; "
        f"ratio {t_slow / t_floor_s:.2f}x overall, {median_s:.2f}x median of pairs"
    )
    print(
        f"  convert_group over all labels: {t_group:.3f} s ({t_group / m * 1e6:.2f} us/record); "
        f"csv_part + convert_group {(t_work - t_floor + t_group) / m * 1e6:.2f} us/record"
    )


if __name__ == "__main__":
    main()
