"""No single mask row can stop the run or exhaust the machine (issue 11).

One rows file holds a good row first and then one hostile or careless row per
fault: a PNG that decodes to 20000x10000 pixels from a few hundred bytes (a
decompression bomb), a mask beyond the side limit, a truncated PNG, a text
file named ``.png``, an RLE whose ``size`` claims 45000x45000 pixels, polygons
on a 40000x40000 image, a FIFO, a directory, and paths that leave the rows
file's folder (``..``, an absolute path, a symlink). The real CLI uploads the
file into the sandbox: every bad row is a row error naming ``file:line`` and the
field, the good rows are uploaded, and the run exits 1 (never 70, never hangs).
"""

from __future__ import annotations

import io
import json
import os
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from formatskit import running_env
from PIL import Image

from upload_preds import masks

from .conftest import MasksEnv, manifest

NAMES = [f"s{i}.png" for i in range(20)]


@pytest.fixture
def many(tmp_path: Path) -> Iterator[MasksEnv]:
    """The masks sandbox with one sample per row of the test (duplicates are another error)."""
    with running_env(MasksEnv, manifest(NAMES), tmp_path) as env:
        yield env


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def blank_png(width: int, height: int) -> bytes:
    """A valid 8-bit grayscale PNG of zeros, compressed row by row (never held whole)."""
    z = zlib.compressobj(9)
    row = bytes(width + 1)  # filter byte 0, then the pixels
    parts = [z.compress(row) for _ in range(height)]
    idat = b"".join(parts) + z.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")
    )


ANN = [{"id": 1, "category": "car"}]


def _bad_rows(tmp: Path) -> list[tuple[dict[str, Any], str, str]]:
    """(row, field, message) for each fault; the files they name are created in ``tmp``."""
    bomb = blank_png(20000, 10000)
    assert len(bomb) < 300_000  # a small file...
    (tmp / "bomb.png").write_bytes(bomb)  # ...of 200 million pixels
    (tmp / "wide.png").write_bytes(blank_png(masks.MAX_SIDE + 1, 2))
    good = tmp / "one.png"
    Image.new("L", (8, 6), 1).save(good)
    noisy = tmp / "noisy.png"
    Image.frombytes("L", (64, 64), bytes((i * 7919) % 3 for i in range(64 * 64))).save(noisy)
    (tmp / "truncated.png").write_bytes(noisy.read_bytes()[:-200])  # pixels cut short
    (tmp / "text.png").write_text("not an image\n")
    os.mkfifo(tmp / "fifo.png")
    (tmp / "adir.png").mkdir()
    outside = tmp.parent / f"{tmp.name}-outside.png"
    Image.new("L", (8, 6), 1).save(outside)
    (tmp / "link.png").symlink_to(outside)
    big = 45000
    return [
        ({"mask_path": "bomb.png", "annotations": ANN}, "mask_path", "pixels"),
        (
            {"mask_path": "wide.png", "annotations": ANN},
            "mask_path",
            f"{masks.MAX_SIDE:,} pixels a side",
        ),
        ({"mask_path": "truncated.png", "annotations": ANN}, "mask_path", "not a readable"),
        ({"mask_path": "text.png", "annotations": ANN}, "mask_path", "not a readable"),
        ({"mask_path": "fifo.png", "annotations": ANN}, "mask_path", "not a regular file"),
        ({"mask_path": "adir.png", "annotations": ANN}, "mask_path", "not a regular file"),
        ({"mask_path": f"../{outside.name}", "annotations": ANN}, "mask_path", "outside"),
        ({"mask_path": str(outside), "annotations": ANN}, "mask_path", "outside"),
        ({"mask_path": "link.png", "annotations": ANN}, "mask_path", "outside"),
        ({"mask_path": "/dev/zero", "annotations": ANN}, "mask_path", "outside"),
        (
            {
                "annotations": [
                    {"category": "car", "segmentation": {"size": [big, big], "counts": [0]}}
                ]
            },
            "annotations[0].segmentation",
            f"{big}x{big}",
        ),
        (
            {
                "width": 40000,
                "height": 40000,
                "annotations": [{"category": "car", "segmentation": [[0, 0, 9, 0, 9, 9]]}],
            },
            "width",
            "40000x40000",
        ),
    ]


def test_bad_masks_are_row_errors_and_the_other_rows_upload(many: MasksEnv) -> None:
    bad = _bad_rows(many.tmp)
    good = {"mask_path": "one.png", "annotations": ANN}
    rows = [good, *(row for row, _, _ in bad), good]
    named = [{"sample_name": name, **row} for name, row in zip(NAMES, rows, strict=False)]
    res = many.run(many.write_rows(named), "--failures", many.tmp / "failed.jsonl")
    assert res.code == 1, res.stderr
    assert "Traceback" not in res.stderr
    assert many.label(NAMES[0]) is not None
    assert many.label(NAMES[len(rows) - 1]) is not None
    failed = [json.loads(x) for x in (many.tmp / "failed.jsonl").read_text().splitlines()]
    assert [f["sample_name"] for f in failed] == NAMES[1 : len(rows) - 1]
    for f, (_row, field, message) in zip(failed, bad, strict=True):
        assert f["_error"].startswith(f"{field}: "), f["_error"]
        assert message in f["_error"], f["_error"]
        assert many.label(f["sample_name"]) is None
    # The summary's examples name the rows file and line of each failed row.
    examples = [e for group in res.report()["failure_examples"].values() for e in group]
    assert examples
    for example in examples:
        line = int(example.split("rows.jsonl:")[1].split(" ")[0])
        _row, field, message = bad[line - 2]
        assert f"rows.jsonl:{line} {NAMES[line - 1]}: {field}: " in example, example
        assert message in example, example


def test_a_bomb_is_refused_before_it_is_decoded() -> None:
    """The size check reads the header only: the 200-megapixel image is never allocated."""
    with pytest.raises(masks.MaskError, match="200000000 pixels"):
        masks.id_planes_of_png(io.BytesIO(blank_png(20000, 10000)), "bomb.png")


@pytest.mark.parametrize(
    ("width", "height", "ok"),
    [
        (masks.MAX_SIDE, 1, True),
        (masks.MAX_SIDE + 1, 1, False),
        (1, masks.MAX_SIDE + 1, False),
        (10000, masks.MAX_PIXELS // 10000, True),
        (10000, masks.MAX_PIXELS // 10000 + 1, False),
        (0, 5, False),
    ],
)
def test_size_limits(width: int, height: int, ok: bool) -> None:
    if ok:
        masks.check_size(width, height, "the mask")
    else:
        with pytest.raises(masks.MaskError, match="the mask"):
            masks.check_size(width, height, "the mask")


def test_ids_beyond_the_first_colour_guess_are_all_found() -> None:
    """Distinct ids are counted with a small table first, then a large one when needed."""
    img = Image.new("RGBA", (100, 100), (0, 0, 0, 255))
    ids = list(range(1, 9001))
    for i in ids:
        img.putpixel((i % 100, i // 100), (i & 255, (i >> 8) & 255, i >> 16, 255))
    assert masks.ids_in(img) == [0, *ids]
    assert masks.ids_in(Image.new("RGBA", (3, 1), (5, 0, 0, 255))) == [5]
