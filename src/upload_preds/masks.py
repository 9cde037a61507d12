"""Segmentation masks → the platform's RGBA instance bitmap (one PNG per label).

How it works
------------
A segmentation-bitmap label is a list of annotations ``{id, category_id}`` and
one PNG whose every pixel holds an annotation id, encoded as
``id = R + 256·G + 65536·B`` with alpha 255; id 0 is "unlabeled". Ids at or
above 2^24 do not fit in three bytes: they are a row error, never truncated.

Masks come in three shapes, all painted onto one :class:`Canvas` (a Pillow
``RGBA`` image, so every pixel operation runs in C):

* an **RLE** (``{"size": [h, w], "counts": ...}``, as COCO writes it): the
  counts are alternating runs of 0s and 1s over the pixels in column-major
  order, either a list of integers or COCO's compressed string. The string is
  a little LEB128-like codec: each character minus 48 carries 5 bits of a
  number (low bits first), bit 0x20 says "more characters follow", bit 0x10 of
  the last one is the sign; from the third count on, each number is the
  difference to the count two places back. :func:`decode_rle_counts` reads it;
  :func:`rle_mask` fills a column-major 0/255 buffer run by run (slice
  assignments) and transposes it with Pillow into a row-major ``L`` mask.
* **polygons** (COCO's ``[[x1, y1, x2, y2, ...], ...]``): rasterised with
  ``ImageDraw.polygon`` onto an ``L`` mask of the image size.
* a **PNG file** (``mask_path``): an instance-id PNG (pixel = annotation id)
  or a class-id PNG (pixel = dataset category id; each class present becomes
  one instance whose id is the category id). 8-bit (``L``/``P``), 16-bit
  (``I;16``), 32-bit (``I``) and ``RGB(A)`` (already the platform encoding)
  PNGs are read; the 32-bit ids are split into bytes to become R, G and B.

Instance masks are pasted in order (the caller sorts by score, so the most
confident instance wins where masks overlap) with ``Image.paste(colour,
mask=...)``. The PNG bytes and their SHA-256 make a :class:`Bitmap`; the
label carries ``segmentation_bitmap.url = "sha256:<hex>"`` until the engine
uploads the PNG as an asset and puts the asset's url in its place, so the
journal's hash of the label depends on the mask's content, not on the
(fresh every time) asset url.
"""

from __future__ import annotations

import hashlib
import io
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

__all__ = [
    "MAX_ID",
    "Bitmap",
    "Canvas",
    "MaskError",
    "decode_rle_counts",
    "id_planes_of_png",
    "ids_in",
    "polygon_mask",
    "rle_mask",
    "rle_size",
]

#: The first id the RGB encoding cannot hold.
MAX_ID = 1 << 24
#: Placeholder scheme of ``segmentation_bitmap.url`` until the asset is uploaded.
CONTENT_URL_PREFIX = "sha256:"


class MaskError(ValueError):
    """A mask that cannot be used; the message says what is wrong and what to do."""


# --- RLE ------------------------------------------------------------------------------


def decode_rle_counts(counts: str | bytes) -> list[int]:
    """COCO's compressed RLE string → the list of run lengths (see the module docstring)."""
    data = counts.encode("ascii") if isinstance(counts, str) else counts
    out: list[int] = []
    p = 0
    n = len(data)
    while p < n:
        x = 0
        k = 0
        while True:
            if p >= n:
                raise MaskError("the compressed RLE counts end in the middle of a number")
            c = data[p] - 48
            if not 0 <= c < 64:
                raise MaskError(
                    f"the compressed RLE counts hold an invalid character {chr(c + 48)!r}"
                )
            x |= (c & 0x1F) << (5 * k)
            p += 1
            k += 1
            if not c & 0x20:
                if c & 0x10:
                    x |= -1 << (5 * k)
                break
        if len(out) > 2:
            x += out[-2]
        out.append(x)
    return out


def rle_size(rle: Any) -> tuple[int, int]:
    """The ``(height, width)`` of an RLE object, checked."""
    if not isinstance(rle, dict) or set(rle) - {"size", "counts"}:
        raise MaskError('an RLE should be {"size": [height, width], "counts": ...}')
    size = rle.get("size")
    if (
        not isinstance(size, list)
        or len(size) != 2
        or not all(type(v) is int and v > 0 for v in size)
    ):
        raise MaskError(f"RLE size should be [height, width] (positive integers), got {size!r}")
    return size[0], size[1]


def rle_mask(rle: Any) -> Image.Image:
    """An RLE (compressed string or list of counts) → an ``L`` mask, 255 inside."""
    h, w = rle_size(rle)
    counts = rle.get("counts")
    if isinstance(counts, str):
        runs = decode_rle_counts(counts)
    elif isinstance(counts, list) and all(type(c) is int for c in counts):
        runs = counts
    else:
        raise MaskError("RLE counts should be a compressed string or a list of integers")
    total = h * w
    buf = bytearray(total)  # column-major, as COCO counts
    pos = 0
    on = False
    for run in runs:
        if run < 0:
            raise MaskError(f"RLE counts hold a negative run ({run})")
        end = pos + run
        if end > total:
            raise MaskError(f"RLE counts cover more than the {h}x{w} pixels of its size")
        if on and run:
            buf[pos:end] = b"\xff" * run
        pos = end
        on = not on
    if pos != total:
        raise MaskError(f"RLE counts cover {pos} of the {h}x{w} = {total} pixels of its size")
    # Column-major bytes are the transposed image: w rows of h pixels.
    return Image.frombytes("L", (h, w), bytes(buf)).transpose(Image.Transpose.TRANSPOSE)


def polygon_mask(polygons: Any, width: int, height: int) -> Image.Image:
    """COCO polygons ``[[x1, y1, x2, y2, ...], ...]`` → an ``L`` mask, 255 inside."""
    if not isinstance(polygons, list) or not polygons:
        raise MaskError("polygons should be a list of flat [x1, y1, x2, y2, ...] lists")
    mask = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(mask)
    for part in polygons:
        if (
            not isinstance(part, list)
            or len(part) < 6
            or len(part) % 2
            or not all(type(v) in (int, float) and v == v and abs(v) != float("inf") for v in part)
        ):
            raise MaskError(
                "a polygon should be a flat list [x1, y1, x2, y2, ...] of at least 3 points"
            )
        draw.polygon([(part[i], part[i + 1]) for i in range(0, len(part), 2)], fill=255)
    return mask


# --- PNG files ------------------------------------------------------------------------


def id_planes_of_png(path: Path) -> Image.Image:
    """An id PNG → an ``RGBA`` image in the platform's encoding (alpha 255).

    Raises :class:`MaskError` for an unreadable file, an unsupported mode, or
    ids that are negative or at least 2^24.
    """
    try:
        with Image.open(path) as img:
            img.load()
            src = img
    except FileNotFoundError:
        raise MaskError(f"no such file: {path}") from None
    except OSError as exc:
        raise MaskError(f"{path} is not a readable image ({exc})") from None
    size = src.size
    full = Image.new("L", size, 255)
    mode = src.mode
    if mode in ("1", "L", "P"):
        low = src.convert("L") if mode == "1" else src
        if mode == "P":
            # A palette PNG's index is the id; drop the palette without mapping colours.
            low = Image.frombytes("L", size, src.tobytes())
        zero = Image.new("L", size, 0)
        return Image.merge("RGBA", (low, zero, zero, full))
    if mode in ("RGB", "RGBA"):
        r, g, b = src.convert("RGB").split()
        return Image.merge("RGBA", (r, g, b, full))
    if mode.startswith("I"):
        wide = src if mode == "I" else src.convert("I")
        extrema: Any = wide.getextrema()  # type: ignore[no-untyped-call]
        lo, hi = extrema
        if lo < 0:
            raise MaskError(f"{path} holds a negative id ({lo})")
        if hi >= MAX_ID:
            raise MaskError(
                f"{path} holds id {hi}, at or above 2^24 = {MAX_ID}: the platform's RGB "
                "bitmap cannot hold it; renumber the instances"
            )
        raw = wide.tobytes()  # native-endian int32 per pixel
        order = (0, 1, 2) if sys.byteorder == "little" else (3, 2, 1)
        planes = [Image.frombytes("L", size, raw[i::4]) for i in order]
        return Image.merge("RGBA", (*planes, full))
    raise MaskError(
        f"{path} has image mode {mode!r}; an id PNG should be 8-bit, 16-bit, 32-bit "
        "grayscale, palette or RGB"
    )


def ids_in(canvas: Image.Image) -> list[int]:
    """The distinct ids of an RGBA bitmap, 0 included when present, in increasing order."""
    colors: Any = canvas.convert("RGB").getcolors(MAX_ID)
    assert colors is not None  # at most 2^24 colours exist
    return sorted(c[0] + 256 * c[1] + 65536 * c[2] for _, c in colors)


# --- the label's bitmap ---------------------------------------------------------------


class Canvas:
    """An RGBA instance bitmap being painted, unlabeled (id 0, alpha 255) at first."""

    def __init__(self, width: int, height: int) -> None:
        self.width = width
        self.height = height
        self.image = Image.new("RGBA", (width, height), (0, 0, 0, 255))

    def paint(self, instance_id: int, mask: Image.Image) -> None:
        """Set the pixels where ``mask`` (an ``L`` image of the canvas size) is non-zero."""
        if not 0 < instance_id < MAX_ID:
            raise MaskError(
                f"annotation id {instance_id} does not fit the bitmap (ids go from 1 to 2^24 - 1)"
            )
        if mask.size != (self.width, self.height):
            raise MaskError(
                f"a mask of {mask.size[0]}x{mask.size[1]} pixels does not fit the label's "
                f"{self.width}x{self.height} bitmap"
            )
        colour = (instance_id & 255, (instance_id >> 8) & 255, instance_id >> 16, 255)
        self.image.paste(colour, (0, 0), mask)


@dataclass(frozen=True, slots=True)
class Bitmap:
    """One label's encoded bitmap: the PNG bytes and their content hash.

    ``target`` is the label's ``segmentation_bitmap`` object; :meth:`attach`
    puts the uploaded asset's url there.
    """

    png: bytes
    sha256: str
    target: dict[str, Any]

    @property
    def filename(self) -> str:
        return f"mask-{self.sha256[:20]}.png"

    @property
    def content_url(self) -> str:
        return CONTENT_URL_PREFIX + self.sha256

    def attach(self, url: str) -> None:
        self.target["url"] = url

    @classmethod
    def of(cls, image: Image.Image) -> Bitmap:
        """Encode an RGBA canvas as PNG; the label's url starts as the content hash."""
        buf = io.BytesIO()
        image.save(buf, "PNG")
        png = buf.getvalue()
        digest = hashlib.sha256(png).hexdigest()
        return cls(png, digest, {"url": CONTENT_URL_PREFIX + digest})
