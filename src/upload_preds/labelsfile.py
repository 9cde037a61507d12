"""``--output-labels``: converted labels written as JSONL, and their bitmaps read back.

:class:`LabelsFile` writes the labels a run converts, put in place only when
complete (an atomic writer); a label's bitmap PNG goes beside it, in
``<output>.masks/``. Fed back in, such a file names its bitmaps by local paths:
:func:`local_mask_path` finds the file a url names, and :func:`attach_local_mask`
makes that PNG the label's asset, uploaded like the bitmaps of mask rows.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import orjson

from upload_preds.errors import OutputError
from upload_preds.masks import CONTENT_URL_PREFIX, Bitmap
from upload_preds.outputs import AtomicWriter, label_record
from upload_preds.records import LabelJob

__all__ = ["LabelsFile", "attach_local_mask", "local_mask_path"]

_T = TypeVar("_T")
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class LabelsFile:
    """``--output-labels``: the converted labels as JSONL, put in place when complete.

    A label's bitmap PNG goes to ``<output>.masks/``, named by its content, and
    the label names that file (there is no asset url offline) by a path relative
    to the labels file's folder, so that the pair can be moved together; fed
    back in, the path is uploaded as an asset (see :func:`local_mask_path`). A write that
    fails (a full disk) removes the temporary file and raises OutputError.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._out = self._guard(lambda: AtomicWriter(path))

    def _guard(self, write: Callable[[], _T]) -> _T:
        try:
            return write()
        except OSError as exc:
            self.abort()
            raise OutputError(
                f"cannot write --output-labels {self.path}: {exc.strerror or exc}",
                hint="free some space, or write the labels to another disk",
            ) from None

    def write(self, job: LabelJob) -> None:
        record = label_record(job)
        asset = job.extra.get("asset") if job.extra else None
        if asset is not None:
            url = self._guard(lambda: self._save_mask(asset))
            record["attributes"] = {**job.attributes, "segmentation_bitmap": {"url": url}}
        # A segmentation sequence's bitmaps (one per frame): named by their files while
        # the record is written, then by their content again (as the upload needs).
        assets: tuple[Bitmap, ...] = job.extra.get("assets", ()) if job.extra else ()
        urls = [a.target["url"] for a in assets]
        try:
            for a in assets:
                a.attach(self._guard(lambda a=a: self._save_mask(a)))  # type: ignore[misc]
            self._guard(lambda: self._out.write(orjson.dumps(record) + b"\n"))
        finally:
            for a, url0 in zip(assets, urls, strict=True):
                a.attach(url0)

    def commit(self) -> None:
        self._guard(self._out.commit)

    def abort(self) -> None:
        if getattr(self, "_out", None) is not None:
            self._out.abort()

    def _save_mask(self, asset: Bitmap) -> str:
        folder = self.path.with_name(self.path.name + ".masks")
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / asset.filename
        if not path.exists():
            path.write_bytes(asset.png)
        return f"{folder.name}/{asset.filename}"


def local_mask_path(url: str, input_file: str) -> Path | None:
    """The file a label's ``segmentation_bitmap.url`` names, when it is a local path.

    An ``--output-labels`` file names its bitmaps by paths relative to its own
    folder; an absolute path is taken as it is. A relative path is looked up
    beside the input file first, then in the working directory (where files
    written by earlier versions, which named the path as given, point). None
    when ``url`` is not a local path (a URL, or the content hash of a mask row).
    """
    if "://" in url or url.startswith(CONTENT_URL_PREFIX):
        return None
    path = Path(url)
    if path.is_absolute():
        return path
    beside = Path(input_file).parent / path
    return beside if beside.exists() or not path.exists() else path


def attach_local_mask(job: LabelJob) -> str | None:
    """A label whose bitmap url is a local file gets that PNG as its asset.

    An ``--output-labels`` file fed back in names its masks by path: sent as
    it is, the label would point at a file on this machine. The PNG goes
    through the same asset upload (and journal) as the bitmaps of mask rows:
    the label names its content hash until the worker has uploaded it and put
    the asset's url in. Returns the failure message when the file cannot be
    read or is not a PNG; None when the label is fine (or names no local file).
    """
    bitmap = job.attributes.get("segmentation_bitmap")
    if not isinstance(bitmap, dict) or "asset" in job.extra:
        return None
    url = bitmap.get("url")
    path = local_mask_path(url, job.loc.file) if isinstance(url, str) else None
    if path is None:
        return None
    try:
        png = path.read_bytes()
    except OSError as exc:
        problem = f"cannot read it: {exc.strerror or exc}"
    else:
        if png.startswith(_PNG_SIGNATURE):
            digest = hashlib.sha256(png).hexdigest()
            target = {**bitmap, "url": CONTENT_URL_PREFIX + digest}
            job.attributes = {**job.attributes, "segmentation_bitmap": target}
            job.extra["asset"] = Bitmap(png, digest, target)
            return None
        problem = "it is not a PNG file"
    return (
        f"attributes.segmentation_bitmap.url: {url!r} is a local file ({path}), and "
        f"{problem}; give the PNG's path (relative to the input file) or an asset url"
    )
