"""COCO predictions: a results list with ``--coco-gt``, or a whole instances file.

The results list is what Detectron2, MMDetection, Ultralytics (``save_json``),
torchvision's reference scripts and pycocotools' ``loadRes`` all share::

    [{"image_id": 42, "category_id": 18, "bbox": [x, y, w, h], "score": 0.93,
      "segmentation": [[x1, y1, x2, y2, ...]] | {"size": [h, w], "counts": ...}}]

Image ids and category ids mean something only through the COCO dataset file
(``--coco-gt``: ``images`` id → file_name, width, height; ``categories`` id →
name). A full instances file (``images``, ``categories``, ``annotations``) is
read as predictions too, and needs no ``--coco-gt``. Category ids are never
taken for dataset ids: id → COCO name → ``--category-map`` → dataset category.

The file is parsed once with orjson, detections are grouped by image in one
pass (first-seen order), and each group is turned into one :class:`FormatRow`
with plain dict and list operations; category ids are resolved once per id.
Boxes become ``xyxy`` pixels; polygon segmentations become polygon annotations
on vector datasets (boxes stay boxes on ``bboxes`` datasets); on
segmentation-bitmap datasets every detection's mask (RLE, compressed or not,
or polygons) becomes an instance of the label's bitmap (:mod:`upload_preds.masks`).
A detection that must be a box and gives a mask but no ``bbox`` (cocoapi's own
segm results: pycocotools' ``loadRes`` derives the box with ``toBbox``) gets
its mask's extent: an RLE's pixels (:func:`upload_preds.masks.rle_box`, as
``toBbox``), or its polygons' coordinates.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from upload_preds import masks
from upload_preds.catmap import CategoryResolver, Resolved
from upload_preds.errors import InputFileError, UsageError
from upload_preds.formats import FormatRow
from upload_preds.records import Location, Notice, RowError

__all__ = ["SEGMENTATION_TASKS", "CocoSource"]

SEGMENTATION_TASKS = frozenset({"segmentation-bitmap", "segmentation-bitmap-highres"})
R_COCO = "invalid COCO detection"
R_CATEGORY_ID = "unknown COCO category id"
R_IMAGE = "unknown COCO image id"


def _load(path: str) -> Any:
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise InputFileError(path, "no such file", hint="check the path") from None
    except IsADirectoryError:
        raise InputFileError(path, "is a directory", hint="pass the COCO JSON file") from None
    except OSError as exc:
        raise InputFileError(path, f"cannot be read: {exc.strerror or exc}") from None
    # orjson makes a million container objects with no cycles among them; the cyclic
    # GC, triggered by every few hundred of those allocations, would walk the
    # growing list again and again (measured: 3x the parse itself). Paused here only.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InputFileError(path, f"is not valid JSON ({exc})") from None
    finally:
        if was_enabled:
            gc.enable()


def _meta(doc: Any, name: str) -> tuple[dict[Any, tuple[str, Any, Any]], dict[Any, str]]:
    """``images`` id → (file_name, width, height) and ``categories`` id → name."""
    hint = "a COCO dataset file has 'images' [{id, file_name, width, height}] and 'categories'"
    if not isinstance(doc, dict):
        raise InputFileError(name, "is not a COCO dataset (a JSON object)", hint=hint)
    images: dict[Any, tuple[str, Any, Any]] = {}
    cats: dict[Any, str] = {}
    for i, im in enumerate(doc.get("images") or []):
        if not isinstance(im, dict) or not isinstance(im.get("file_name"), str):
            raise InputFileError(name, f"images[{i}] has no file_name", hint=hint)
        images[im.get("id")] = (im["file_name"], im.get("width"), im.get("height"))
    for i, cat in enumerate(doc.get("categories") or []):
        if not isinstance(cat, dict) or not isinstance(cat.get("name"), str):
            raise InputFileError(name, f"categories[{i}] has no name", hint=hint)
        cats[cat.get("id")] = cat["name"]
    if not images or not cats:
        raise InputFileError(name, "has no 'images' or no 'categories'", hint=hint)
    return images, cats


class CocoSource:
    """One COCO predictions file (a results list or an instances file)."""

    def __init__(self, path: str, gt: Path | None) -> None:
        self.name = path
        self.gt = gt
        p = Path(path)
        if not p.is_file():
            raise InputFileError(path, "no such file" if not p.exists() else "is not a file")
        if gt is not None and not gt.is_file():
            raise InputFileError(str(gt), "no such file", hint="--coco-gt names the COCO dataset")

    def _read(self) -> tuple[list[Any], dict[Any, tuple[str, Any, Any]], dict[Any, str], str]:
        doc = _load(self.name)
        if isinstance(doc, dict) and isinstance(doc.get("annotations"), list):
            dets: list[Any] = doc["annotations"]
            if self.gt is not None:
                images, cats = _meta(_load(str(self.gt)), str(self.gt))
                meta_name = str(self.gt)
            else:
                images, cats = _meta(doc, self.name)
                meta_name = self.name
            return dets, images, cats, meta_name
        if not isinstance(doc, list):
            raise InputFileError(
                self.name,
                "is neither a COCO results list nor a COCO instances file",
                hint="a results list is [{image_id, category_id, bbox, score}, ...]",
            )
        if self.gt is None:
            raise UsageError(
                f"{self.name} is a COCO results list: its image and category ids need the "
                "COCO dataset file",
                hint="pass --coco-gt instances.json (the file with 'images' and 'categories')",
            )
        images, cats = _meta(_load(str(self.gt)), str(self.gt))
        return doc, images, cats, str(self.gt)

    @staticmethod
    def _groups(dets: list[Any]) -> dict[Any, list[int]]:
        groups: dict[Any, list[int]] = {}
        get = groups.get
        for i, d in enumerate(dets):
            image_id = d.get("image_id") if type(d) is dict else None
            try:
                members = get(image_id)
            except TypeError:  # an unhashable image_id
                image_id = None
                members = get(None)
            if members is None:
                groups[image_id] = [i]
            else:
                members.append(i)
        return groups

    def image_keys(self) -> Iterator[tuple[str, int]]:
        dets, images, _cats, _meta_name = self._read()
        for image_id, idxs in self._groups(dets).items():
            info = images.get(image_id) if image_id is not None else None
            if info is not None:
                yield info[0], len(idxs)
            else:
                yield "", len(idxs)

    def rows(
        self, resolver: CategoryResolver, task_type: str | None
    ) -> Iterator[FormatRow | Notice | RowError]:
        dets, images, cats, meta_name = self._read()
        # The parsed detections (a million dicts) live for the whole pass; without this
        # every full collection of the cyclic GC walks all of them again, which
        # measured about as much as the conversion itself. Frozen objects are still
        # freed by reference counting; unfreeze hands them back to the collector.
        gc.freeze()
        try:
            yield from self._rows(dets, images, cats, meta_name, resolver, task_type)
        finally:
            gc.unfreeze()

    def _rows(
        self,
        dets: list[Any],
        images: dict[Any, tuple[str, Any, Any]],
        cats: dict[Any, str],
        meta_name: str,
        resolver: CategoryResolver,
        task_type: str | None,
    ) -> Iterator[FormatRow | Notice | RowError]:
        name = self.name
        masks_wanted = task_type in SEGMENTATION_TASKS
        polygons_wanted = task_type not in ("bboxes",) and not masks_wanted
        by_cid: dict[Any, Resolved] = {}
        # Category ids resolved to a dataset id (the fast path's table) and whether a
        # detection's segmentation would make it something other than its box.
        fast_ids: dict[int, int] = {}
        boxes_from_seg = masks_wanted or polygons_wanted
        new = tuple.__new__
        rle_ignored = False
        known = ", ".join(f"{k} {v}" for k, v in list(cats.items())[:12])
        for image_id, idxs in self._groups(dets).items():
            info = images.get(image_id) if image_id is not None else None
            first = Location(name, idxs[0] + 1)
            if info is None:
                row = FormatRow(str(image_id), first)
                what = (
                    "has no image_id"
                    if image_id is None
                    else f"image_id {image_id!r} is not among the images of {meta_name}"
                )
                for i in idxs:
                    loc = Location(name, i + 1)
                    row.rows.append((loc, dets[i] if type(dets[i]) is dict else {}))
                    row.errors.append(
                        RowError(loc, "image_id", R_IMAGE, f"{what}; check --coco-gt")
                    )
                yield row
                continue
            file_name, width, height = info
            row = FormatRow(file_name, first, width=width, height=height)
            if masks_wanted:
                row.masks = []
            anns = row.annotations
            ann_locs = row.ann_locs
            rows_append = row.rows.append
            anns_append = anns.append
            locs_append = ann_locs.append
            for i in idxs:
                d = dets[i]
                loc = new(Location, (name, i + 1))
                # The common detection first: a known category's box, no mask to use.
                if type(d) is dict:
                    cid = d.get("category_id")
                    dataset_id = fast_ids.get(cid) if type(cid) is int else None
                    if dataset_id is not None and not (boxes_from_seg and d.get("segmentation")):
                        bbox = d.get("bbox")
                        if type(bbox) is list and len(bbox) == 4:
                            x, y, w, h = bbox
                            try:
                                corners = [x, y, x + w, y + h]
                            except TypeError:  # not numbers: the full path explains
                                pass
                            else:
                                score = d.get("score")
                                rows_append((loc, d))
                                locs_append(loc)
                                if score is None:
                                    anns_append({"category_id": dataset_id, "bbox": corners})
                                else:
                                    anns_append(
                                        {"category_id": dataset_id, "bbox": corners, "score": score}
                                    )
                                continue
                if type(d) is not dict:
                    row.rows.append((loc, {}))
                    row.errors.append(
                        RowError(loc, None, R_COCO, "a detection should be a JSON object")
                    )
                    continue
                cid = d.get("category_id")
                res = by_cid.get(cid) if type(cid) is int else None
                if res is None:
                    cname = cats.get(cid) if type(cid) is int else None
                    if cname is None:
                        row.rows.append((loc, d))
                        row.errors.append(
                            RowError(
                                loc,
                                "category_id",
                                R_CATEGORY_ID,
                                f"category id {cid!r} is not among the categories of "
                                f"{meta_name} ({known}); COCO ids start at 1",
                            )
                        )
                        continue
                    res = by_cid[cid] = resolver.resolve(cname)
                    if (
                        type(cid) is int
                        and res.category_id is not None
                        and res.skip is None
                        and res.error is None
                        and not masks_wanted
                    ):
                        fast_ids[cid] = res.category_id
                    for warning in resolver.case_warnings:
                        yield Notice(loc, str(warning))
                    resolver.case_warnings.clear()
                if res.skip is not None:
                    row.skipped.append((res.skip, loc, d))
                    continue
                row.rows.append((loc, d))
                if res.error is not None:
                    row.errors.append(RowError(loc, "category_id", "unknown category", res.error))
                    continue
                base: dict[str, Any] = (
                    {"category_id": res.category_id}
                    if res.category_id is not None
                    else {"category": res.name}
                )
                score = d.get("score")
                if score is not None:
                    base["score"] = score
                seg = d.get("segmentation")
                if masks_wanted:
                    if not seg:
                        row.errors.append(
                            RowError(
                                loc,
                                "segmentation",
                                R_COCO,
                                "a segmentation-bitmap dataset needs each detection's "
                                "segmentation (RLE or polygons)",
                            )
                        )
                        continue
                    assert row.masks is not None
                    anns.append(base)
                    ann_locs.append(loc)
                    row.masks.append(seg)
                    continue
                if polygons_wanted and type(seg) is list and seg:
                    problem = _polygons(seg, base, loc, anns, ann_locs)
                    if problem is not None:
                        row.errors.append(RowError(loc, "segmentation", R_COCO, problem))
                    continue
                if type(seg) is dict and not rle_ignored and polygons_wanted:
                    rle_ignored = True
                    yield Notice(
                        loc,
                        "RLE masks become segmentation bitmaps only on segmentation-bitmap "
                        "datasets; the detections' boxes are uploaded instead (a detection "
                        "without a bbox gets its mask's extent)",
                    )
                bbox = d.get("bbox")
                if (bbox is None or bbox == []) and seg:
                    # loadRes derives a missing box from the mask; so do we.
                    try:
                        bbox = mask_box(seg)
                    except masks.MaskError as exc:
                        row.errors.append(
                            RowError(loc, "segmentation", R_COCO, f"no bbox, and {exc}")
                        )
                        continue
                try:
                    x, y, w, h = bbox  # type: ignore[misc]
                    base["bbox"] = [x, y, x + w, y + h]
                except (TypeError, ValueError):
                    row.errors.append(
                        RowError(
                            loc,
                            "bbox",
                            R_COCO,
                            f"should be [x, y, width, height] (four numbers), got {bbox!r}"[:200],
                        )
                    )
                    continue
                anns.append(base)
                ann_locs.append(loc)
            yield row


def mask_box(seg: Any) -> list[float]:
    """The ``[x, y, width, height]`` extent of a COCO segmentation: an RLE's pixels (as
    pycocotools' ``toBbox``), or the smallest box around a polygon list's points."""
    if type(seg) is dict:
        return list(map(float, masks.rle_box(seg)))
    if type(seg) is list and all(type(p) is list and len(p) >= 6 and not len(p) % 2 for p in seg):
        xs = [v for p in seg for v in p[0::2]]
        ys = [v for p in seg for v in p[1::2]]
        try:
            x0, y0 = min(xs), min(ys)
            return [x0, y0, max(xs) - x0, max(ys) - y0]
        except TypeError:
            pass  # not numbers
    raise masks.MaskError(
        "the segmentation is neither an RLE nor polygons [[x1, y1, x2, y2, ...], ...]"
    )


def _polygons(
    seg: list[Any],
    base: dict[str, Any],
    loc: Location,
    anns: list[dict[str, Any]],
    ann_locs: list[Location],
) -> str | None:
    """Each part of a COCO polygon segmentation as a polygon annotation; or what is wrong."""
    parts: list[dict[str, Any]] = []
    for part in seg:
        if type(part) is not list or len(part) < 6 or len(part) % 2:
            return "a polygon should be a flat list [x1, y1, x2, y2, ...] of at least 3 points"
        ann = dict(base)
        ann["type"] = "polygon"
        ann["points"] = [[part[k], part[k + 1]] for k in range(0, len(part), 2)]
        parts.append(ann)
    anns.extend(parts)
    ann_locs.extend([loc] * len(parts))
    return None
