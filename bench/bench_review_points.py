"""Point clouds for the review page: where to parse them, and what a panel costs.

The review page draws point clouds top-down and needs each point's x and y.
Two designs: the page fetches the raw ``.pcd`` and parses it in JavaScript,
or the sandbox parses it once and sends float32 x/y pairs
(:mod:`upload_preds.sandbox.pointclouds`). For one scan of N points (default
120,000, a KITTI-sized sweep; ``--quick``: 20,000), written as ASCII PCD,
binary PCD and a KITTI ``.bin``, this prints, measured in one run (median of
5):

* the bytes a panel transfers: the raw file against the compact answer;
* the sandbox's parse + compact time per format, against reading the file;
* the HTTP round trip of ``/_review/points/`` (cold: parsed; warm: cached)
  against ``/_review/media/`` (the raw file) on a real sandbox;
* for comparison, a JavaScript ASCII-PCD parser (split lines, parseFloat)
  run by ``node`` over the same file, when ``node`` is on PATH (the page's
  Chromium runs the same V8 engine).

Usage: ``.venv/bin/python bench/bench_review_points.py [--quick] [N]``.
"""

from __future__ import annotations

import json
import random
import shutil
import struct
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

import httpx

from benchkit import arguments, median_of
from upload_preds.sandbox import start_sandbox
from upload_preds.sandbox.pointclouds import (
    _compact_cached,
    compact,
    compact_file,
    parse_kitti,
    parse_pcd,
)

JS_PARSER = r"""
const fs = require("fs");
const text = fs.readFileSync(process.argv[2], "latin1");
const runs = [];
let n = 0;
for (let r = 0; r < 5; r++) {
  const t0 = process.hrtime.bigint();
  const start = text.indexOf("\nDATA ascii\n") + 12;
  const lines = text.slice(start).split("\n");
  const xy = new Float32Array(lines.length * 2);
  n = 0;
  for (const line of lines) {
    if (!line) continue;
    const p = line.split(" ");
    xy[2 * n] = parseFloat(p[0]); xy[2 * n + 1] = parseFloat(p[1]); n++;
  }
  runs.push(Number(process.hrtime.bigint() - t0) / 1e6);
}
runs.sort((a, b) => a - b);
console.log(JSON.stringify({ ms: runs[2], points: n }));
"""


def median_ms(fn: Callable[[], object], runs: int = 5) -> float:
    return median_of(fn, runs)[0] * 1000


def write_clouds(folder: Path, n: int) -> dict[str, Path]:
    rng = random.Random(1)
    pts = [(rng.uniform(-50, 50), rng.uniform(-50, 50), rng.uniform(-2, 3)) for _ in range(n)]
    head = (
        "VERSION 0.7\nFIELDS x y z intensity\nSIZE 4 4 4 4\nTYPE F F F F\nCOUNT 1 1 1 1\n"
        f"WIDTH {n}\nHEIGHT 1\nVIEWPOINT 0 0 0 1 0 0 0\nPOINTS {n}\n"
    )
    binary = b"".join(struct.pack("<4f", x, y, z, 0.5) for x, y, z in pts)
    paths = {"ascii": folder / "a.pcd", "binary": folder / "b.pcd", "kitti": folder / "k.bin"}
    paths["ascii"].write_text(
        head + "DATA ascii\n" + "".join(f"{x:.3f} {y:.3f} {z:.3f} 0.5\n" for x, y, z in pts)
    )
    paths["binary"].write_bytes(head.encode() + b"DATA binary\n" + binary)
    paths["kitti"].write_bytes(binary)
    return paths


def main() -> None:
    parser = arguments(__doc__, "20,000 points")
    parser.add_argument("n", nargs="?", type=int, help="points (default 120,000)")
    ns = parser.parse_args()
    n = ns.n or (20_000 if ns.quick else 120_000)
    folder = Path(tempfile.mkdtemp(prefix="bench-points-"))
    try:
        paths = write_clouds(folder, n)
        print(f"one scan of {n:,} points, median of 5")
        print(
            f"{'format':8} {'file bytes':>11} {'sent bytes':>11} {'read ms':>8} {'parse+compact ms':>17} {'ratio':>6}"
        )
        for kind, path in paths.items():
            data = path.read_bytes()
            parse = parse_kitti if kind == "kitti" else parse_pcd
            read = median_ms(path.read_bytes)
            work = median_ms(lambda parse=parse, data=data: compact(parse(data)))
            sent = len(compact_file(path))
            print(
                f"{kind:8} {len(data):>11,} {sent:>11,} {read:>8.2f} {work:>17.1f} {work / read:>6.0f}x"
            )
        (folder / "m.json").write_text(json.dumps({"datasets": []}))
        with (
            start_sandbox(data=folder / "m.json", api_key="k") as sb,
            httpx.Client(base_url=sb.url) as c,
        ):
            for kind in ("ascii", "binary"):
                name = paths[kind].name

                def cold(name: str = name) -> None:
                    _compact_cached.cache_clear()
                    c.get(f"/_review/points/{name}").raise_for_status()

                raw = median_ms(
                    lambda name=name: c.get(f"/_review/media/{name}").raise_for_status()
                )
                cold_ms = median_ms(cold)
                warm = median_ms(
                    lambda name=name: c.get(f"/_review/points/{name}").raise_for_status()
                )
                print(
                    f"HTTP {kind}: raw file {raw:.1f} ms; /_review/points/ cold {cold_ms:.1f} ms "
                    f"({cold_ms / raw:.1f}x), warm {warm:.1f} ms ({warm / raw:.2f}x)"
                )
        node = shutil.which("node")
        if node:
            js = folder / "parse.js"
            js.write_text(JS_PARSER)
            out = subprocess.run(
                [node, str(js), str(paths["ascii"])], capture_output=True, text=True, check=True
            )
            result = json.loads(out.stdout)
            py = median_ms(lambda: parse_pcd(paths["ascii"].read_bytes()))
            print(
                f"ASCII parse of {result['points']:,} points: node (V8) {result['ms']:.1f} ms, "
                f"sandbox (Python) {py:.1f} ms ({py / result['ms']:.1f}x)"
            )
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
