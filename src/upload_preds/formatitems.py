"""Labels of the detector and tracker formats (COCO, YOLO, MOT) in the input pipeline.

:meth:`FormatItems._format_items` makes one label per image of the inputs
read by :mod:`upload_preds.formats` (for a sequence dataset, one label per
tracker file: :func:`~upload_preds.formats.tracks.sequence_label`). Images
that resolve to one sample are held back and settled together: each fails
naming the others, or with ``on_duplicate="last"`` the last one stands.
Converter errors are moved to the detection they are about
(:func:`_detection_error`). A mixin of :class:`~upload_preds.pipeline.Preparer`,
which holds the state named below.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from upload_preds.catmap import CategoryResolver
from upload_preds.convert import Converter
from upload_preds.dedupe import duplicate_message
from upload_preds.formats import FormatRow, FormatSource
from upload_preds.formats.tracks import sequence_label
from upload_preds.labelkey import Resolve
from upload_preds.labeloutcomes import Item, OnDuplicate
from upload_preds.records import Failure, LabelJob, Location, Notice, Record, RowError, Skip

__all__ = ["FormatItems"]


class FormatItems:
    """The detector-format part of :class:`~upload_preds.pipeline.Preparer`."""

    converter: Converter
    resolver: CategoryResolver
    format_sources: list[FormatSource]
    resolve: Resolve | None
    frames_of: Callable[[str | None], int | Mapping[str, int] | None] | None
    frames_guessed: int
    _on_duplicate: OnDuplicate
    _format_dups: set[str]

    def _format_items(
        self, convert: Callable[[Record], LabelJob | list[RowError]]
    ) -> Iterator[Item]:
        """One label per image of the detector-format inputs (see :mod:`upload_preds.formats`).

        Each image's detections become one shorthand row for ``convert``; the
        label's ``locs`` and raw rows are the detections', so that counts are in
        detections and errors name the detection (``annotations[3].bbox`` of the
        row becomes the location of the detection that made annotation 3).
        """
        if not self.format_sources:
            return
        conv = self.converter
        cats = conv.categories
        task_type = cats.task_type if cats is not None else None
        self.resolver.bind(cats)
        dups = self._format_dups
        resolve = self.resolve
        held: dict[str, list[FormatRow]] = {}  # the images of one sample, in input order
        for fsrc in self.format_sources:
            for row in fsrc.rows(self.resolver, task_type):
                if isinstance(row, Notice):
                    yield row
                elif isinstance(row, RowError):
                    yield Failure((row,), ((row.loc, {}),))
                elif dups and resolve is not None and not row.errors and row.rows:
                    uuid = resolve(row.key)
                    if uuid in dups:
                        held.setdefault(uuid, []).append(row)
                    else:
                        yield from self._format_row(row, convert)
                else:
                    yield from self._format_row(row, convert)
        for rows in held.values():
            yield from self._format_duplicates(rows, convert)

    def _format_duplicates(
        self, images: list[FormatRow], convert: Callable[[Record], LabelJob | list[RowError]]
    ) -> Iterator[Item]:
        """The images (held back) that resolve to one sample: each fails naming the
        others, or with ``on_duplicate="last"`` the last one stands."""
        if len(images) == 1:  # the others failed on their own
            yield from self._format_row(images[0], convert)
            return
        locs = [image.loc for image in images]
        keys = ", ".join(dict.fromkeys(repr(image.key) for image in images))
        for image in images:
            rows = tuple(image.rows)
            if self._on_duplicate == "last" and image is images[-1]:
                yield from self._format_row(image, convert)
            elif self._on_duplicate == "last":
                yield Skip("superseded", f"superseded by {locs[-1]}", rows)
            else:
                message = duplicate_message(image.loc, locs) + f" (images {keys} are one sample)"
                yield Failure((RowError(image.loc, None, "duplicate row", message),), rows)

    def _format_row(
        self, row: FormatRow, convert: Callable[[Record], LabelJob | list[RowError]]
    ) -> Iterator[Item]:
        by_reason: dict[str, list[tuple[Location, dict[str, Any]]]] = {}
        for reason, loc, raw in row.skipped:
            by_reason.setdefault(reason, []).append((loc, raw))
        for reason, skipped in by_reason.items():
            yield Skip(reason, f"{len(skipped)} object(s) of {row.key!r}: {reason}", tuple(skipped))
        if row.errors:
            yield Failure(tuple(row.errors), tuple(row.rows))
            return
        if not row.rows and row.skipped:
            return  # every detection of the image was dropped on purpose
        rows = tuple(row.rows) or ((row.loc, {}),)
        anns = row.annotations
        data: dict[str, Any] = {"sample_name": "image", "annotations": anns}
        if row.masks is not None:
            # Segmentation datasets: each detection's mask (RLE or polygons) becomes
            # an instance of the label's bitmap (see upload_preds.masks).
            anns = [{**a, "segmentation": m} for a, m in zip(anns, row.masks, strict=True)]
            data = {"sample_name": "image", "annotations": anns}
            if row.width is not None and row.height is not None:
                data["width"] = row.width
                data["height"] = row.height
        if self.converter.sequence is not None:
            # A tracker's file is a whole sequence: each detection is a part of the
            # label, counted against the sample's frames (upload_preds.formats.tracks).
            uuid = self.resolve(row.key) if self.resolve is not None else None
            frames = self.frames_of(uuid) if self.frames_of is not None else None
            seq = sequence_label(self.converter, row, frames, self._on_duplicate)
            if isinstance(seq, list):
                yield Failure(tuple(seq), rows)
                return
            if seq.extra.pop("frames_guessed", None) is not None:
                self.frames_guessed += 1
            # --on-duplicate last: a line whose box a later line replaced is a skip.
            gone = seq.extra.pop("superseded", ())
            if gone:
                line_of = dict(rows)
                for loc, by in gone:
                    yield Skip("superseded", f"superseded by {by}", ((loc, line_of[loc]),))
                dead = {loc for loc, _ in gone}
                rows = tuple(r for r in rows if r[0] not in dead)
            result: LabelJob | list[RowError] = seq
        else:
            # The key is a file name or path ('val/0001.jpg'), which --match resolves;
            # the converter, which checks sample names of rows, gets a stand-in.
            result = convert(Record(row.loc, "json", data))
        if isinstance(result, LabelJob):
            result.sample_name = row.key
            result.locs = tuple(loc for loc, _ in rows)
            result.extra["rows"] = rows
            yield result
            return
        yield Failure(tuple(_detection_error(e, row) for e in result), rows)


def _detection_error(err: RowError, row: FormatRow) -> RowError:
    """A converter error of an image's row, moved to the detection it is about."""
    f = err.field
    if f is not None and f.startswith("annotations["):
        idx, _, rest = f[len("annotations[") :].partition("]")
        if idx.isdigit() and int(idx) < len(row.ann_locs):
            return RowError(
                row.ann_locs[int(idx)], rest.lstrip(".") or None, err.reason, err.message
            )
    return RowError(err.loc, f, err.reason, f"{row.key}: {err.message}")
