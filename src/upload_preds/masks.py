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
  assignments) and transposes it with Pillow into a row-major ``L`` mask;
  :func:`rle_box` reads a mask's extent from the runs alone (for COCO results
  that give a mask and no box).
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

Limits: no single row may stop the run or exhaust the machine
--------------------------------------------------------------
Every size is checked before anything of that size is allocated:
:func:`check_size` holds a mask to :data:`MAX_SIDE` pixels a side and
:data:`MAX_PIXELS` pixels in all. An RLE's ``size`` is checked before its
buffer exists, the row's ``width``/``height`` before a polygon canvas exists,
and a file's header (Pillow reads only the header on ``open``) before its
pixels are decoded; a decompression bomb, a truncated or non-image file is a
:class:`MaskError`, which the converter turns into the row's error.
:func:`open_mask_file` refuses a ``mask_path`` that leaves the rows file's
folder (after ``..`` and symlinks are resolved) and anything that is not a
regular file (a FIFO, a device, a directory); it opens with ``O_NONBLOCK`` and
checks the opened descriptor, so a FIFO swapped in after the check cannot make
it wait either.

Counting the ids of a bitmap (:func:`ids_in`) asks Pillow for the colours with
a small table first and a table bounded by the pixel count only when the small
one overflows, so its cost grows with the mask, not with the 2^24 possible ids.
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from PIL import Image, ImageDraw, UnidentifiedImageError

__all__ = [
    "MAX_ID",
    "MAX_PIXELS",
    "MAX_SIDE",
    "Bitmap",
    "Canvas",
    "MaskError",
    "check_size",
    "decode_rle_counts",
    "id_planes_of_png",
    "ids_in",
    "open_mask_file",
    "polygon_mask",
    "rle_box",
    "rle_mask",
    "rle_runs",
    "rle_size",
]

#: The first id the RGB encoding cannot hold.
MAX_ID = 1 << 24
#: The longest side of a mask, in pixels. The platform documents no limit; its
#: labeling editor draws bitmaps in a browser, whose canvases and WebGL
#: textures commonly stop at 16,384 pixels a side.
MAX_SIDE = 16_384
#: The most pixels of a mask: 100 million (e.g. 10,000 x 10,000). The RGBA
#: canvas alone is 4 bytes a pixel (400 MB here) plus one byte a pixel per
#: instance mask while it is painted; beyond this one row could take gigabytes.
MAX_PIXELS = 100_000_000
#: How many distinct ids :func:`ids_in` first makes room for (most masks have far fewer).
_FEW_IDS = 4096
#: Placeholder scheme of ``segmentation_bitmap.url`` until the asset is uploaded.
CONTENT_URL_PREFIX = "sha256:"


class MaskError(ValueError):
    """A mask that cannot be used; the message says what is wrong and what to do."""


def check_size(width: int, height: int, what: str) -> None:
    """Raise :class:`MaskError` unless ``width`` x ``height`` is within the mask limits."""
    if width <= 0 or height <= 0:
        raise MaskError(f"{what} is {width}x{height} pixels; both sides must be positive")
    if width > MAX_SIDE or height > MAX_SIDE or width * height > MAX_PIXELS:
        raise MaskError(
            f"{what} is {width}x{height} pixels; a mask may be at most {MAX_SIDE:,} pixels a "
            f"side and {MAX_PIXELS:,} pixels in all"
        )


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
    check_size(size[1], size[0], "the RLE")
    return size[0], size[1]


def rle_runs(rle: Any) -> tuple[int, int, list[int]]:
    """An RLE's ``(height, width, runs)``: its counts (a compressed string or a list of
    integers) as runs of 0s and 1s, checked to be non-negative and to cover every pixel."""
    h, w = rle_size(rle)
    counts = rle.get("counts")
    if isinstance(counts, str):
        runs = decode_rle_counts(counts)
    elif isinstance(counts, list) and all(type(c) is int for c in counts):
        runs = counts
    else:
        raise MaskError("RLE counts should be a compressed string or a list of integers")
    total = h * w
    pos = 0
    for run in runs:
        if run < 0:
            raise MaskError(f"RLE counts hold a negative run ({run})")
        pos += run
    if pos > total:
        raise MaskError(f"RLE counts cover more than the {h}x{w} pixels of its size")
    if pos != total:
        raise MaskError(f"RLE counts cover {pos} of the {h}x{w} = {total} pixels of its size")
    return h, w, runs


def rle_mask(rle: Any) -> Image.Image:
    """An RLE (compressed string or list of counts) → an ``L`` mask, 255 inside."""
    h, w, runs = rle_runs(rle)
    buf = bytearray(h * w)  # column-major, as COCO counts
    pos = 0
    on = False
    for run in runs:
        end = pos + run
        if on and run:
            buf[pos:end] = b"\xff" * run
        pos = end
        on = not on
    # Column-major bytes are the transposed image: w rows of h pixels.
    return Image.frombytes("L", (h, w), bytes(buf)).transpose(Image.Transpose.TRANSPOSE)


def rle_box(rle: Any) -> tuple[int, int, int, int]:
    """The pixel extent of an RLE mask as COCO's ``[x, y, width, height]``, read from its
    runs without painting the mask; an empty mask raises :class:`MaskError`.

    Runs go down each column in turn: a run of 1s from pixel ``p`` starts in column
    ``p // h``, row ``p % h``; one that reaches into another column covers every row
    between (so the rows span the whole height).
    """
    h, _w, runs = rle_runs(rle)
    x0 = y0 = 1 << 62
    x1 = y1 = -1
    pos = 0
    for k, run in enumerate(runs):
        if k % 2 and run:
            last = pos + run - 1
            cx0, cx1 = divmod(pos, h)[0], divmod(last, h)[0]
            if cx0 == cx1:
                ry0, ry1 = pos % h, last % h
            else:
                ry0, ry1 = 0, h - 1
            x0, x1 = min(x0, cx0), max(x1, cx1)
            y0, y1 = min(y0, ry0), max(y1, ry1)
        pos += run
    if x1 < 0:
        raise MaskError("the RLE mask is empty, so it has no box")
    return x0, y0, x1 - x0 + 1, y1 - y0 + 1


def polygon_mask(polygons: Any, width: int, height: int) -> Image.Image:
    """COCO polygons ``[[x1, y1, x2, y2, ...], ...]`` → an ``L`` mask, 255 inside."""
    if not isinstance(polygons, list) or not polygons:
        raise MaskError("polygons should be a list of flat [x1, y1, x2, y2, ...] lists")
    check_size(width, height, "the image")
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


def open_mask_file(input_file: str, mask_path: str, what: str = "masks") -> IO[bytes]:
    """Open ``mask_path``, relative to the folder of ``input_file`` (the current one for stdin).

    ``what`` names the files in messages ("masks", "point label files").

    Refused with :class:`MaskError`: a path that resolves (``..``, symlinks)
    outside that folder, and anything but a regular file. The open never
    blocks (``O_NONBLOCK``: a FIFO has no writer to wait for) and the check
    is made on the opened descriptor, not only on the name.
    """
    folder = Path.cwd() if input_file.startswith("<") else Path(input_file).parent
    base = folder.resolve()
    path = (base / mask_path.strip()).resolve()
    if not path.is_relative_to(base):
        raise MaskError(
            f"{mask_path} is outside the rows file's folder {base}; {what} must be in that "
            "folder or below it"
        )
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except FileNotFoundError:
        raise MaskError(f"no such file: {path}") from None
    except OSError as exc:
        raise MaskError(f"cannot open {path}: {exc.strerror}") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise MaskError(f"{path} is not a regular file; {what} must be regular files")
    return os.fdopen(fd, "rb")


def id_planes_of_png(source: Path | IO[bytes], name: str | None = None) -> Image.Image:
    """An id image (PNG, TIFF...) → an ``RGBA`` image in the platform's encoding (alpha 255).

    ``source`` is a path or an open binary file; ``name`` is how messages call
    it. Raises :class:`MaskError` for an unreadable, truncated or oversized
    file (checked from its header, before decoding), an unsupported mode, or
    ids that are negative or at least 2^24.
    """
    path = name if name is not None else str(source)
    try:
        with warnings.catch_warnings():
            # Pillow warns from ~90 MP on; MAX_PIXELS is the limit that applies here.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(source) as img:
                check_size(img.size[0], img.size[1], path)
                img.load()
                src = img
    except FileNotFoundError:
        raise MaskError(f"no such file: {path}") from None
    except Image.DecompressionBombError as exc:
        raise MaskError(
            f"{path} is too large ({exc}); a mask may be at most {MAX_PIXELS:,} pixels"
        ) from None
    except UnidentifiedImageError:
        raise MaskError(
            f"{path} is not a readable image (not an image format Pillow knows, or cut short)"
        ) from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        if isinstance(exc, MaskError):
            raise
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
    rgb = canvas.convert("RGB")
    pixels = rgb.size[0] * rgb.size[1]
    # Pillow sizes its colour table by maxcolors: a fixed 2^24 costs ~100 ms even for a
    # 64x64 mask. A small table first; a table bounded by the pixel count only if needed.
    colors: Any = rgb.getcolors(min(_FEW_IDS, pixels))
    if colors is None:
        colors = rgb.getcolors(min(MAX_ID, pixels))
    assert colors is not None  # no more colours than pixels, nor than 2^24
    return sorted(c[0] + 256 * c[1] + 65536 * c[2] for _, c in colors)


# --- the label's bitmap ---------------------------------------------------------------


class Canvas:
    """An RGBA instance bitmap being painted, unlabeled (id 0, alpha 255) at first."""

    def __init__(self, width: int, height: int) -> None:
        check_size(width, height, "the image")
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
