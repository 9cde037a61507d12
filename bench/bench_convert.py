"""Benchmark of the converter against the floor of parsing the same JSON.

Generates N JSONL rows of 5 boxes each (category names, scores, image
attributes: the shape of a typical detector dump), then times, side by side in
one run:

* ``orjson.loads`` over every line (the floor);
* ``orjson.loads`` + ``Record`` + ``Converter.convert`` over every line;
* CSV: ``Converter.csv_part`` over 5 N one-annotation records, then
  ``Converter.convert_group`` over the groups (grouped in memory here; the real
  grouping stage is measured by its own benchmark).

It prints the times and the ratios to the floor. The issue's budget for the
whole dry run is 5x the floor, so conversion alone should stay near 2-3x.

    .venv/bin/python bench/bench_convert.py [N]   (default 200000)
"""

from __future__ import annotations

import random
import sys
import time
from typing import Any

import orjson

from upload_preds.categories import Categories
from upload_preds.convert import Converter, ConvertOptions
from upload_preds.records import LabelJob, Location, Record

NAMES = ["car", "truck", "pedestrian", "cyclist", "traffic_light", "traffic_sign"]


def make_rows(n: int, seed: int = 1) -> list[bytes]:
    rnd = random.Random(seed)
    lines = []
    for i in range(n):
        anns = []
        for _ in range(5):
            x, y = rnd.uniform(0, 600), rnd.uniform(0, 400)
            anns.append(
                {
                    "category": rnd.choice(NAMES),
                    "bbox": [
                        round(x, 1),
                        round(y, 1),
                        round(x + rnd.uniform(5, 80), 1),
                        round(y + rnd.uniform(5, 80), 1),
                    ],
                    "score": round(rnd.random(), 3),
                }
            )
        row = {
            "sample_uuid": f"00000000-0000-4000-8000-{i:012d}",
            "annotations": anns,
            "image_attributes": {"weather": "sunny", "night": False},
        }
        lines.append(orjson.dumps(row))
    return lines


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


def best_of(runs: int, fn: Any) -> float:
    best = float("inf")
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    cats = Categories.from_file("sample_data/dataset.json")
    conv = Converter(ConvertOptions(score_from="max", object_score_attribute="confidence"), cats)
    plain = Converter(ConvertOptions(), cats)
    lines = make_rows(n)

    def floor() -> None:
        loads = orjson.loads
        for line in lines:
            loads(line)

    def convert_all(c: Converter) -> None:
        loads = orjson.loads
        for i, line in enumerate(lines, 1):
            job = c.convert(Record(Location("bench.jsonl", i), "jsonl", loads(line)))
            if not isinstance(job, LabelJob):
                raise SystemExit(f"unexpected errors: {job}")

    t_floor = best_of(3, floor)
    t_conv = best_of(3, lambda: convert_all(plain))
    t_conv_opts = best_of(3, lambda: convert_all(conv))
    print(f"JSONL: {n} rows x 5 boxes")
    print(f"  orjson.loads (floor)                         {t_floor:7.3f} s  1.00x")
    print(
        f"  loads + Record + convert                     {t_conv:7.3f} s  {t_conv / t_floor:.2f}x"
        f"  ({(t_conv - t_floor) / n * 1e6:.2f} us/row for conversion)"
    )
    print(
        f"  ... with --score-from max --object-score-attribute  {t_conv_opts:7.3f} s  "
        f"{t_conv_opts / t_floor:.2f}x"
    )

    cells = make_csv(n // 5)
    csv_floor = [orjson.dumps(c) for c in cells]

    def csv_floor_fn() -> None:
        loads = orjson.loads
        for line in csv_floor:
            loads(line)

    def csv_all() -> None:
        groups: dict[str, list[tuple[Location, dict[str, Any]]]] = {}
        for i, c in enumerate(cells, 2):
            loc = Location("bench.csv", i)
            part = conv.csv_part(Record(loc, "csv", c))
            if not isinstance(part, tuple):
                raise SystemExit(f"unexpected error: {part}")
            groups.setdefault(part[0], []).append((loc, part[1]))
        for key, items in groups.items():
            job = conv.convert_group(key, items)
            if not isinstance(job, LabelJob):
                raise SystemExit(f"unexpected errors: {job[:3]}")

    t_csv_floor = best_of(3, csv_floor_fn)
    t_csv = best_of(3, csv_all)
    print(f"CSV: {len(cells)} one-box records")
    print(f"  orjson.loads of the same cells as JSON      {t_csv_floor:7.3f} s  1.00x")
    print(
        f"  csv_part + convert_group                    {t_csv:7.3f} s  {t_csv / t_csv_floor:.2f}x"
        f"  ({t_csv / len(cells) * 1e6:.2f} us/record)"
    )


if __name__ == "__main__":
    main()
