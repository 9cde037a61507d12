"""Benchmark of the COCO reader against the floor of parsing the same file.

Generates a COCO results list of N detections (default 1,000,000) over N/200
images (5,000 for the default), 80 categories with ids that differ from the
dataset's, in the shape Detectron2 and pycocotools write
(``{"image_id", "category_id", "bbox": [x, y, w, h], "score"}``), plus its
``--coco-gt`` file. Then, side by side in one run, several rounds of:

* the floor: read the file, ``orjson.loads`` it, and one pass over the list
  (touching each detection's ``image_id``); also measured with the cyclic GC
  paused during the parse, as the COCO reader itself does (a stricter floor:
  with the GC running, ``orjson.loads`` of a million detections spends most of
  its time in collections that find nothing);
* the conversion: the pipeline's detector-format pass
  (:class:`~upload_preds.pipeline.Preparer` with ``--format coco``: read,
  parse, group by image, resolve categories through names, build each image's
  label with the converter), every label taken from the iterator.

The issue's budget: the conversion takes at most 3x the floor. The median
ratio over the rounds is printed (a shared machine's bursts hit single rounds,
not the median) with each round's numbers.

    .venv/bin/python bench/bench_coco.py [--quick] [N] [ROUNDS]   (defaults 1000000, 3)
"""

from __future__ import annotations

import gc
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from benchkit import arguments
from upload_preds.catmap import CategoryResolver
from upload_preds.convert import Converter, ConvertOptions
from upload_preds.convert.categories import Categories
from upload_preds.formats import FormatOptions
from upload_preds.pipeline import Preparer
from upload_preds.records import LabelJob

BUDGET = 3.0


def make_files(folder: Path, n: int, seed: int = 1) -> tuple[Path, Path, Categories]:
    rnd = random.Random(seed)
    n_images = max(1, n // 200)
    images = [
        {"id": 1000 + i, "file_name": f"img_{i:06d}.jpg", "width": 640, "height": 480}
        for i in range(n_images)
    ]
    # COCO's own gaps in ids (1..90 for 80 classes); the dataset numbers them 1..80.
    coco_ids = [i for i in range(1, 91) if i % 9 != 0][:80]
    names = [f"class_{k}" for k in range(80)]
    categories = [{"id": cid, "name": nm} for cid, nm in zip(coco_ids, names, strict=True)]
    gt = folder / "instances.json"
    gt.write_bytes(orjson.dumps({"images": images, "categories": categories, "annotations": []}))
    dets: list[dict[str, Any]] = []
    for i in range(n):
        x, y = rnd.uniform(0, 600), rnd.uniform(0, 440)
        dets.append(
            {
                "image_id": 1000 + (i * 7919) % n_images,  # images interleaved, as in real dumps
                "category_id": coco_ids[rnd.randrange(80)],
                "bbox": [round(x, 2), round(y, 2), round(rnd.uniform(2, 40), 2),
                         round(rnd.uniform(2, 40), 2)],
                "score": round(rnd.random(), 4),
            }
        )  # fmt: skip
    results = folder / "results.json"
    results.write_bytes(orjson.dumps(dets))
    cats = Categories([(k + 1, nm) for k, nm in enumerate(names)], "vector")
    return results, gt, cats


def floor(results: Path, gc_off: bool = False) -> float:
    if gc_off:
        gc.disable()
    t0 = time.perf_counter()
    dets = orjson.loads(results.read_bytes())
    n = 0
    for d in dets:
        if d["image_id"] is not None:
            n += 1
    elapsed = time.perf_counter() - t0
    gc.enable()
    assert n == len(dets)
    del dets
    return elapsed


def convert(results: Path, gt: Path, cats: Categories) -> tuple[float, int, int]:
    t0 = time.perf_counter()
    converter = Converter(ConvertOptions(), cats)
    prep = Preparer(
        [str(results)],
        converter,
        formats=FormatOptions("coco", coco_gt=gt),
        resolver=CategoryResolver(),
    )
    labels = annotations = 0
    with prep:
        for item in prep.items():
            if isinstance(item, LabelJob):
                labels += 1
                annotations += len(item.attributes["annotations"])
    return time.perf_counter() - t0, labels, annotations


def main() -> int:
    parser = arguments(__doc__, "20,000 detections, one round: a few seconds")
    parser.add_argument("n", nargs="?", type=int, default=1_000_000, help="detections")
    parser.add_argument("rounds", nargs="?", type=int, default=3)
    ns = parser.parse_args()
    n, rounds = (20_000, 1) if ns.quick else (ns.n, ns.rounds)
    with tempfile.TemporaryDirectory(prefix="bench-coco-") as tmp:
        results, gt, cats = make_files(Path(tmp), n)
        size_mb = results.stat().st_size / 1e6
        print(f"COCO results: {n:,} detections, {max(1, n // 200):,} images, {size_mb:.0f} MB")
        ratios = []
        strict = []
        for r in range(rounds):
            gc.collect()
            f = floor(results)
            gc.collect()
            f0 = floor(results, gc_off=True)
            gc.collect()
            c, labels, anns = convert(results, gt, cats)
            assert labels == max(1, n // 200), labels
            assert anns == n, anns
            ratios.append(c / f)
            strict.append(c / f0)
            print(
                f"  round {r + 1}: floor (read + orjson.loads + one pass) {f:.2f} s "
                f"({f0:.2f} s with the GC paused), conversion {c:.2f} s "
                f"({n / c:,.0f} detections/s), ratio {c / f:.2f}x ({c / f0:.2f}x)"
            )
        ratio = statistics.median(ratios)
        verdict = "within" if ratio <= BUDGET else "OVER"
        print(f"median ratio {ratio:.2f}x: {verdict} the {BUDGET:g}x budget")
        print(
            f"against the stricter floor (the GC paused during the parse, as the reader does): "
            f"{statistics.median(strict):.2f}x"
        )
        # --quick checks that the script works; the budget is for the full size.
        return 0 if ratio <= BUDGET or ns.quick else 1


if __name__ == "__main__":
    raise SystemExit(main())
