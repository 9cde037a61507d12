"""Write ``sample_data/images/img_0001.png`` … ``img_0024.png``, the demo dataset's pictures.

Street-scene-like drawings (sky, buildings, a road with lane markings, a
traffic light, cars and people) in 640x480, so the sandbox's review page shows
real pictures under the annotations. The cars and pedestrians of the five
ground-truth labels in ``dataset.json`` are drawn where those labels put
their boxes; the rest of each scene comes from a random generator seeded with
the image number.

Pure standard library (a tiny scanline rasteriser and a palette PNG writer),
so the output is the same bytes on every machine and Python version: running
it again rewrites identical files. Flat colours in an 8-bit palette compress
to a few KB per image.

Usage: ``python3 sample_data/make_images.py``.
"""

from __future__ import annotations

import json
import random
import struct
import zlib
from pathlib import Path

HERE = Path(__file__).parent
OUT = HERE / "images"
W, H = 640, 480
HORIZON = 250

PALETTE: dict[str, tuple[int, int, int]] = {
    "sky0": (120, 170, 220),
    "sky1": (140, 185, 228),
    "sky2": (165, 200, 234),
    "sky3": (190, 214, 238),
    "building0": (150, 140, 130),
    "building1": (120, 120, 132),
    "building2": (170, 160, 145),
    "window": (70, 80, 100),
    "sidewalk": (175, 172, 165),
    "road": (85, 85, 90),
    "lane": (235, 235, 225),
    "pole": (50, 50, 55),
    "light_off": (40, 40, 40),
    "red": (215, 40, 35),
    "green": (40, 190, 80),
    "tire": (25, 25, 28),
    "glass": (150, 190, 215),
    "skin": (225, 185, 150),
    "car0": (30, 90, 170),
    "car1": (190, 40, 40),
    "car2": (230, 230, 235),
    "car3": (40, 40, 45),
    "truck": (220, 150, 40),
    "shirt0": (60, 120, 60),
    "shirt1": (150, 60, 130),
    "pants": (50, 50, 80),
    "sign": (30, 80, 190),
    "tree": (60, 120, 60),
}
INDEX = {name: i for i, name in enumerate(PALETTE)}
Point = tuple[float, float]


class Canvas:
    def __init__(self, background: str) -> None:
        self.rows = [bytearray([INDEX[background]]) * W for _ in range(H)]

    def rect(self, x0: float, y0: float, x1: float, y1: float, color: str) -> None:
        xa, xb = max(0, round(min(x0, x1))), min(W, round(max(x0, x1)))
        ya, yb = max(0, round(min(y0, y1))), min(H, round(max(y0, y1)))
        if xa >= xb:
            return
        span = bytes([INDEX[color]]) * (xb - xa)
        for y in range(ya, yb):
            self.rows[y][xa:xb] = span

    def polygon(self, points: list[Point], color: str) -> None:
        """Even-odd scanline fill, sampled at pixel centres."""
        c = INDEX[color]
        ys = [p[1] for p in points]
        for y in range(max(0, int(min(ys))), min(H, int(max(ys)) + 1)):
            yc = y + 0.5
            xs = []
            for (xa, ya), (xb, yb) in zip(points, points[1:] + points[:1], strict=True):
                if (ya <= yc < yb) or (yb <= yc < ya):
                    xs.append(xa + (yc - ya) * (xb - xa) / (yb - ya))
            xs.sort()
            for left, right in zip(xs[::2], xs[1::2], strict=False):
                xa_i, xb_i = max(0, round(left)), min(W, round(right))
                if xa_i < xb_i:
                    self.rows[y][xa_i:xb_i] = bytes([c]) * (xb_i - xa_i)

    def ellipse(self, cx: float, cy: float, rx: float, ry: float, color: str) -> None:
        c = INDEX[color]
        for y in range(max(0, int(cy - ry)), min(H, int(cy + ry) + 1)):
            d = 1 - ((y + 0.5 - cy) / ry) ** 2
            if d <= 0:
                continue
            half = rx * d**0.5
            xa, xb = max(0, round(cx - half)), min(W, round(cx + half))
            if xa < xb:
                self.rows[y][xa:xb] = bytes([c]) * (xb - xa)

    def png(self) -> bytes:
        def chunk(kind: bytes, data: bytes) -> bytes:
            body = kind + data
            return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

        raw = b"".join(b"\x00" + bytes(row) for row in self.rows)
        palette = b"".join(bytes(rgb) for rgb in PALETTE.values())
        return (
            b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", struct.pack(">IIBBBBB", W, H, 8, 3, 0, 0, 0))
            + chunk(b"PLTE", palette)
            + chunk(b"IDAT", zlib.compress(raw, 9))
            + chunk(b"IEND", b"")
        )


def car(cv: Canvas, x0: float, y0: float, x1: float, y1: float, body: str) -> None:
    w, h = x1 - x0, y1 - y0
    cv.rect(x0, y0 + h * 0.35, x1, y1 - h * 0.12, body)
    cv.polygon(
        [
            (x0 + w * 0.18, y0 + h * 0.36),
            (x0 + w * 0.3, y0),
            (x0 + w * 0.72, y0),
            (x1 - w * 0.12, y0 + h * 0.36),
        ],
        body,
    )
    cv.polygon(
        [
            (x0 + w * 0.25, y0 + h * 0.34),
            (x0 + w * 0.33, y0 + h * 0.08),
            (x0 + w * 0.68, y0 + h * 0.08),
            (x1 - w * 0.2, y0 + h * 0.34),
        ],
        "glass",
    )
    r = min(w * 0.11, h * 0.16)
    for cx in (x0 + w * 0.22, x1 - w * 0.22):
        cv.ellipse(cx, y1 - r, r, r, "tire")


def truck(cv: Canvas, x0: float, y0: float, x1: float, y1: float) -> None:
    w, h = x1 - x0, y1 - y0
    cv.rect(x0, y0, x0 + w * 0.7, y1 - h * 0.15, "truck")
    cv.rect(x0 + w * 0.72, y0 + h * 0.3, x1, y1 - h * 0.15, "car2")
    cv.rect(x0 + w * 0.78, y0 + h * 0.36, x1 - w * 0.04, y0 + h * 0.55, "glass")
    r = h * 0.13
    for cx in (x0 + w * 0.15, x0 + w * 0.55, x1 - w * 0.12):
        cv.ellipse(cx, y1 - r, r, r, "tire")


def person(cv: Canvas, x0: float, y0: float, x1: float, y1: float, shirt: str) -> None:
    w, h = x1 - x0, y1 - y0
    cx = (x0 + x1) / 2
    cv.ellipse(cx, y0 + h * 0.09, w * 0.22, h * 0.09, "skin")
    cv.rect(cx - w * 0.3, y0 + h * 0.18, cx + w * 0.3, y0 + h * 0.55, shirt)
    cv.rect(cx - w * 0.26, y0 + h * 0.55, cx - w * 0.04, y1, "pants")
    cv.rect(cx + w * 0.04, y0 + h * 0.55, cx + w * 0.26, y1, "pants")


def skyline(rng: random.Random) -> Canvas:
    """A canvas with the sky and buildings along the horizon, with windows (also the
    background of the sequence frames, ``make_sequences.py``)."""
    cv = Canvas("sky3")
    for band, color in enumerate(("sky0", "sky1", "sky2")):
        cv.rect(0, band * 40, W, (band + 1) * 40, color)
    x = -rng.uniform(0, 40)
    while x < W:
        bw, bh = rng.uniform(60, 140), rng.uniform(80, 200)
        color = rng.choice(("building0", "building1", "building2"))
        cv.rect(x, HORIZON - bh, x + bw, HORIZON, color)
        for wy in range(int(HORIZON - bh + 12), HORIZON - 20, 28):
            for wx in range(int(x + 10), int(x + bw - 18), 24):
                cv.rect(wx, wy, wx + 12, wy + 14, "window")
        x += bw + rng.uniform(0, 12)
    return cv


def scene(index: int, gt_boxes: list[tuple[int, list[list[float]]]]) -> Canvas:
    rng = random.Random(1000 + index)
    cv = skyline(rng)
    if rng.random() < 0.5:
        cv.ellipse(rng.uniform(30, 600), HORIZON - 20, 26, 34, "tree")
    cv.rect(0, HORIZON, W, H, "sidewalk")
    # The road and its markings, where the demo predictions put them.
    cv.polygon([(0, 479), (250, 260), (390, 260), (639, 479)], "road")
    for y in range(280, 480, 40):
        t = (y - 260) / 220
        cv.polygon(
            [(318 - 2 * t, y), (322 + 2 * t, y), (324 + 3 * t, y + 18), (316 - 3 * t, y + 18)],
            "lane",
        )
    # Traffic light near (505, 96), where the demo predictions put one.
    cv.rect(502, 120, 508, HORIZON + 10, "pole")
    cv.rect(494, 66, 516, 128, "light_off")
    cv.ellipse(505, 80, 7, 7, "red" if index % 2 else "light_off")
    cv.ellipse(505, 112, 7, 7, "green" if index % 2 == 0 else "light_off")
    if rng.random() < 0.6:
        sx = rng.uniform(20, 180)
        cv.rect(sx + 8, 200, sx + 12, HORIZON + 20, "pole")
        cv.rect(sx, 176, sx + 20, 204, "sign")
    # Random traffic, then the ground-truth objects on top where they are labelled.
    for _ in range(rng.randint(1, 3)):
        w = rng.uniform(70, 150)
        x0 = rng.uniform(0, W - w)
        y1 = rng.uniform(300, 470)
        h = w * 0.6
        if rng.random() < 0.25:
            truck(cv, x0, y1 - h * 1.1, x0 + w * 1.3, y1)
        else:
            car(cv, x0, y1 - h, x0 + w, y1, rng.choice(("car0", "car1", "car2", "car3")))
    for _ in range(rng.randint(0, 2)):
        px = rng.uniform(20, 600)
        py = rng.uniform(HORIZON + 20, 420)
        person(cv, px, py - 90, px + 30, py, rng.choice(("shirt0", "shirt1")))
    for category_id, ((x0, y0), (x1, y1)) in gt_boxes:
        if category_id == 1:
            car(cv, x0, y0, x1, y1, "car0")
        elif category_id == 3:
            person(cv, x0, y0, x1, y1, "shirt1")
    return cv


def main() -> None:
    manifest = json.loads((HERE / "dataset.json").read_text(encoding="utf-8"))
    samples = manifest["datasets"][0]["samples"]
    OUT.mkdir(exist_ok=True)
    total = 0
    for i, sample in enumerate(samples, start=1):
        gt = sample.get("labels", {}).get("ground-truth")
        boxes = [
            (a["category_id"], a["points"])
            for a in (gt["attributes"]["annotations"] if gt else [])
            if a["type"] == "bbox"
        ]
        url = sample["attributes"]["image"]["url"]
        data = scene(i, boxes).png()
        (HERE / url).write_bytes(data)
        total += len(data)
    print(f"wrote {len(samples)} images to {OUT} ({total // 1024} KiB in all)")


if __name__ == "__main__":
    main()
