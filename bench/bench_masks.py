"""Benchmark: small masks should cost about what box labels cost, growing with their pixels.

Converts, side by side in one run, N rows of each kind through the real
``Converter`` (masks are painted and encoded as PNG, exactly what the upload
sends):

* box rows: 3 boxes each (the reference);
* instance-mask rows: a 64x64 ``mask_path`` PNG with 3 instances (file read,
  ids counted, bitmap encoded);
* RLE rows: 3 compressed COCO RLEs of 64x64 each;

then one big instance mask (4000x3000) for scale, and the cost of counting
the ids of one 64x64 bitmap the old way (a Pillow colour table sized for all
2^24 ids) against the way ``masks.ids_in`` does it now. Ratios are what to
compare (the machine is shared); absolute times are printed for context.

    .venv/bin/python bench/bench_masks.py [--quick] [N]   (default 1000; --quick 100)
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from PIL import Image

from benchkit import arguments, mean_of
from upload_preds import masks
from upload_preds.convert import Converter, ConvertOptions
from upload_preds.convert.categories import Categories
from upload_preds.records import LabelJob, Location, Record

SIDE = 64
TASK_ATTRIBUTES = {"format_version": "0.1", "categories": [{"id": 1, "name": "car"}]}


def instance_png(path: Path, side: int, seed: int) -> None:
    """An 8-bit id PNG: three rectangles with ids 1, 2, 3 on background 0."""
    img = Image.new("L", (side, side), 0)
    s = side // 8
    for i in range(3):
        x = (seed * 7 + i * 2 * s) % (side - 2 * s)
        img.paste(i + 1, (x, i * 2 * s, x + 2 * s, i * 2 * s + 2 * s))
    img.save(path)


def rle_of_block(side: int, x0: int, x1: int, y0: int, y1: int) -> dict[str, Any]:
    """An uncompressed COCO RLE (column-major runs) of one rectangle."""
    counts: list[int] = []
    pos = 0
    for x in range(x0, x1):
        start = x * side + y0
        counts.extend((start - pos, y1 - y0))
        pos = start + (y1 - y0)
    counts.append(side * side - pos)
    return {"size": [side, side], "counts": counts}


def timed(rows: list[dict[str, Any]], conv: Converter, file: str) -> float:
    t0 = time.perf_counter()
    for i, row in enumerate(rows, 1):
        job = conv.convert(Record(Location(file, i), "jsonl", row))
        if not isinstance(job, LabelJob):
            raise SystemExit(f"unexpected errors: {job}")
    return time.perf_counter() - t0


def main() -> None:
    parser = arguments(__doc__, "100 rows of each kind")
    parser.add_argument("n", nargs="?", type=int, default=1000, help="rows of each kind")
    ns = parser.parse_args()
    n = 100 if ns.quick else ns.n
    seg = Converter(
        ConvertOptions(), Categories.from_task_attributes(TASK_ATTRIBUTES, "segmentation-bitmap")
    )
    vec = Converter(ConvertOptions(), Categories.from_task_attributes(TASK_ATTRIBUTES, "vector"))
    anns = [{"id": i, "category": "car"} for i in (1, 2, 3)]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        rows_file = str(folder / "rows.jsonl")
        for k in range(n):
            instance_png(folder / f"m{k}.png", SIDE, k)
        box_rows = [
            {
                "sample_name": f"s{k}.png",
                "annotations": [
                    {"category": "car", "bbox": [1.0 + i, 2.0, 30.0 + i, 40.0], "score": 0.5}
                    for i in range(3)
                ],
            }
            for k in range(n)
        ]
        mask_rows = [
            {"sample_name": f"s{k}.png", "mask_path": f"m{k}.png", "annotations": anns}
            for k in range(n)
        ]
        s = SIDE // 8
        rle_rows = [
            {
                "sample_name": f"s{k}.png",
                "annotations": [
                    {
                        "category": "car",
                        "segmentation": rle_of_block(SIDE, i * 2 * s, i * 2 * s + s, 5, 5 + s),
                    }
                    for i in range(3)
                ],
            }
            for k in range(n)
        ]
        t_box = timed(box_rows, vec, rows_file)
        t_mask = timed(mask_rows, seg, rows_file)
        t_rle = timed(rle_rows, seg, rows_file)
        t_box2 = timed(box_rows, vec, rows_file)  # again, after: the reference brackets both
        t_ref = (t_box + t_box2) / 2
        big = folder / "big.png"
        instance_png(big, 4000, 1)
        img = Image.open(big)
        img = img.resize((4000, 3000))
        img.save(big)
        big_row = [{"sample_name": "big.png", "mask_path": "big.png", "annotations": anns}]
        t_big = timed(big_row, seg, rows_file)
    print(f"{n} rows each, converted and encoded (3 objects a row)")
    print(f"  box labels:                {t_ref:.3f} s  ({t_ref / n * 1e3:.3f} ms/row)")
    print(
        f"  {SIDE}x{SIDE} instance-mask files:  {t_mask:.3f} s  ({t_mask / n * 1e3:.3f} ms/row); "
        f"{t_mask / t_ref:.1f}x the boxes"
    )
    print(
        f"  {SIDE}x{SIDE} RLE masks:            {t_rle:.3f} s  ({t_rle / n * 1e3:.3f} ms/row); "
        f"{t_rle / t_ref:.1f}x the boxes"
    )
    print(
        f"  one 4000x3000 instance mask: {t_big * 1e3:.1f} ms "
        f"({t_big / (t_mask / n):.0f}x a {SIDE}x{SIDE} mask row, for "
        f"{4000 * 3000 // (SIDE * SIDE)}x the pixels)"
    )
    small = masks.Canvas(SIDE, SIDE).image
    old = mean_of(lambda: small.convert("RGB").getcolors(masks.MAX_ID), 20)
    new = mean_of(lambda: masks.ids_in(small), 200)
    print(
        f"  ids of one {SIDE}x{SIDE} bitmap: colour table for 2^24 ids {old * 1e3:.2f} ms, "
        f"masks.ids_in {new * 1e3:.3f} ms ({old / new:.0f}x)"
    )


if __name__ == "__main__":
    main()
