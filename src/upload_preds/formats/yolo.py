"""YOLO label files (the Ultralytics layout): one txt file per image, one object per line.

::

    labels/0001.txt   0 0.512 0.430 0.210 0.380 [0.91]        box: class cx cy w h [confidence]
                      3 0.10 0.20 0.30 0.20 0.25 0.40 [0.77]  segment: class x1 y1 x2 y2 ... [conf]

Coordinates are normalised to 0..1, so each file needs its image's pixel
size: ``--images DIR`` is searched for the image with the txt file's stem
(any extension, any sub-folder), and only its header is read (Pillow's
``Image.open`` parses the header and decodes no pixels until asked). Class
indices become names through ``--yolo-names``: a ``data.yaml`` (``names:`` as
a list or an ``{index: name}`` map) or a names file with one name per line.
The image's key (what ``--match`` compares with sample names) is its path
relative to ``--images``. A line with 5 values is a box, 6 a box and its
confidence; 7 or more a segment (an odd count of coordinates means the last
value is the confidence), which becomes a polygon.

Folders are searched for ``*.txt`` files only, so the errors sidecar of a
failures folder (:data:`~upload_preds.formats.YOLO_ERRORS_FILE`) is never read
as labels; given by name (a shell glob like ``labels.failed/*``) it is passed
over too, since it is JSON and never YOLO.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from upload_preds.catmap import CategoryResolver, Resolved
from upload_preds.errors import InputFileError, UsageError
from upload_preds.formats import FormatOptions, FormatRow, txt_files
from upload_preds.formats.coco import SEGMENTATION_TASKS
from upload_preds.formats.mot import mot_columns
from upload_preds.records import Location, Notice, RowError

__all__ = ["IMAGE_SUFFIXES", "YoloSource", "image_size", "load_names", "open_yolo"]

IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".jfif"}
)
R_YOLO = "invalid YOLO line"
R_NO_IMAGE = "image not found"
R_CLASS = "unknown YOLO class"


def load_names(path: Path) -> list[str] | dict[int, str]:
    """Class names from a data.yaml (``names``) or a names file (one per line)."""
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise InputFileError(name, f"cannot be read: {exc.strerror or exc}") from None
    if path.suffix.lower() in (".yaml", ".yml"):
        import yaml  # type: ignore[import-untyped]

        try:
            doc = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise InputFileError(name, f"is not valid YAML ({exc})") from None
        names = doc.get("names") if isinstance(doc, dict) else None
        if isinstance(names, list) and all(isinstance(n, str) for n in names):
            return names
        if isinstance(names, dict) and all(
            isinstance(k, int) and isinstance(v, str) for k, v in names.items()
        ):
            return names
        raise InputFileError(
            name,
            "has no 'names' list or {index: name} map",
            hint="data.yaml should say e.g. names: [person, car] or names: {0: person, 1: car}",
        )
    return [line.strip() for line in text.splitlines() if line.strip()]


def image_size(path: Path) -> tuple[int, int]:
    """(width, height) from the image's header; no pixels are decoded."""
    from PIL import Image

    with Image.open(path) as im:
        w, h = im.size
    return int(w), int(h)


def open_yolo(paths: list[str], options: FormatOptions) -> YoloSource:
    if options.yolo_names is None:
        raise UsageError(
            "--format yolo needs the class names",
            hint="pass --yolo-names data.yaml (or a names file)",
        )
    if options.images is None:
        raise UsageError(
            "--format yolo needs the images' pixel sizes (YOLO coordinates are relative)",
            hint="pass --images DIR, the folder with the images (only their headers are read)",
        )
    if not options.images.is_dir():
        raise InputFileError(str(options.images), "is not a directory", hint="--images DIR")
    names = load_names(options.yolo_names)
    files = txt_files(paths, "YOLO", frozenset({os.path.abspath(options.yolo_names)}))
    return YoloSource(files, names, options.images)


class YoloSource:
    """A set of YOLO txt files with their class names and image folder."""

    def __init__(self, files: list[str], names: list[str] | dict[int, str], images: Path) -> None:
        self.files = files
        self.name = files[0]
        self.names = dict(enumerate(names)) if isinstance(names, list) else names
        self.images_dir = images
        self._images: dict[str, list[Path]] | None = None

    def _image_for(self, stem: str) -> list[Path]:
        if self._images is None:
            found: dict[str, list[Path]] = {}
            for root, _dirs, fs in os.walk(self.images_dir):
                for f in fs:
                    s, ext = os.path.splitext(f)
                    if ext.lower() in IMAGE_SUFFIXES:
                        found.setdefault(s, []).append(Path(root, f))
            self._images = found
        return self._images.get(stem, [])

    def _key(self, txt: str) -> tuple[str, Path | None, str | None]:
        stem = os.path.splitext(os.path.basename(txt))[0]
        hits = self._image_for(stem)
        if len(hits) == 1:
            return hits[0].relative_to(self.images_dir).as_posix(), hits[0], None
        if not hits:
            return stem, None, f"no image named {stem}.* in {self.images_dir}"
        shown = ", ".join(h.relative_to(self.images_dir).as_posix() for h in hits[:4])
        return stem, None, f"several images are named {stem}.* ({shown}) in {self.images_dir}"

    def image_keys(self) -> Iterator[tuple[str, int]]:
        for txt in self.files:
            key, _path, _problem = self._key(txt)
            try:
                with open(txt, "rb") as f:
                    n = sum(1 for line in f if line.strip())
            except OSError as exc:
                raise InputFileError(txt, f"cannot be read: {exc.strerror or exc}") from None
            yield key, max(n, 1)

    def rows(
        self, resolver: CategoryResolver, task_type: str | None
    ) -> Iterator[FormatRow | Notice | RowError]:
        masks_wanted = task_type in SEGMENTATION_TASKS
        boxes_only = task_type == "bboxes"
        by_class: dict[int, Resolved] = {}
        for txt in self.files:
            key, path, problem = self._key(txt)
            try:
                with open(txt, encoding="utf-8") as f:
                    lines = f.read().splitlines()
            except (OSError, UnicodeDecodeError) as exc:
                yield RowError(Location(txt, 1), None, "unreadable file", f"cannot be read: {exc}")
                continue
            numbered = [(n, line.split()) for n, line in enumerate(lines, 1) if line.strip()]
            row = FormatRow(key, Location(txt, numbered[0][0] if numbered else 1))
            if masks_wanted:
                row.masks = []
            if problem is None and path is not None:
                try:
                    row.width, row.height = image_size(path)
                except OSError as exc:
                    problem = f"cannot read the size of {path}: {exc}"
            if problem is not None:
                for n, _cells in numbered or [(1, [])]:
                    loc = Location(txt, n)
                    row.rows.append((loc, {"line": lines[n - 1] if lines else ""}))
                    row.errors.append(RowError(loc, None, R_NO_IMAGE, f"{problem}; check --images"))
                yield row
                continue
            w = row.width or 0
            h = row.height or 0
            for n, cells in numbered:
                loc = Location(txt, n)
                raw = {"line": lines[n - 1]}
                try:
                    cls = int(cells[0])
                    values = [float(c) for c in cells[1:]]
                except ValueError:
                    row.rows.append((loc, raw))
                    what = "should be numbers: class cx cy w h [conf]"
                    if mot_columns(lines[n - 1]) is not None:
                        what += "; this is a MOTChallenge line, read such files with --format mot"
                    row.errors.append(RowError(loc, None, R_YOLO, what))
                    continue
                res = by_class.get(cls)
                if res is None:
                    cname = self.names.get(cls)
                    if cname is None:
                        row.rows.append((loc, raw))
                        row.errors.append(
                            RowError(
                                loc,
                                "class",
                                R_CLASS,
                                f"class {cls} has no name in --yolo-names "
                                f"({len(self.names)} names, 0-based)",
                            )
                        )
                        continue
                    res = by_class[cls] = resolver.resolve(cname)
                    for warning in resolver.case_warnings:
                        yield Notice(loc, str(warning))
                    resolver.case_warnings.clear()
                if res.skip is not None:
                    row.skipped.append((res.skip, loc, raw))
                    continue
                row.rows.append((loc, raw))
                if res.error is not None:
                    row.errors.append(RowError(loc, "class", "unknown category", res.error))
                    continue
                ann: dict[str, Any] = (
                    {"category_id": res.category_id}
                    if res.category_id is not None
                    else {"category": res.name}
                )
                k = len(values)
                if k in (4, 5):
                    cx, cy, bw, bh = values[:4]
                    if k == 5:
                        ann["score"] = values[4]
                    if masks_wanted:
                        row.errors.append(
                            RowError(
                                loc,
                                None,
                                R_YOLO,
                                "a segmentation-bitmap dataset needs segment lines "
                                "(class x1 y1 x2 y2 ...), not boxes",
                            )
                        )
                        continue
                    x0, x1 = (cx - bw / 2) * w, (cx + bw / 2) * w
                    y0, y1 = (cy - bh / 2) * h, (cy + bh / 2) * h
                    ann["bbox"] = [x0, y0, x1, y1]
                elif k >= 6:
                    if k % 2:
                        ann["score"] = values[-1]
                        values = values[:-1]
                    pts = [[values[i] * w, values[i + 1] * h] for i in range(0, len(values), 2)]
                    if masks_wanted:
                        assert row.masks is not None
                        row.masks.append([[c for p in pts for c in p]])
                    elif boxes_only:
                        xs = [p[0] for p in pts]
                        ys = [p[1] for p in pts]
                        ann["bbox"] = [min(xs), min(ys), max(xs), max(ys)]
                    else:
                        ann["type"] = "polygon"
                        ann["points"] = pts
                else:
                    row.errors.append(
                        RowError(
                            loc,
                            None,
                            R_YOLO,
                            f"has {k + 1} values; a box is class cx cy w h [conf], a segment "
                            "class x1 y1 x2 y2 x3 y3 ... [conf]",
                        )
                    )
                    continue
                row.annotations.append(ann)
                row.ann_locs.append(loc)
            yield row
