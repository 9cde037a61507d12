"""Failures files of the detector and tracker formats (COCO, YOLO, MOT).

:class:`DetectorFailures` writes the failed detections of ``--format
coco|yolo|mot`` inputs back in their own format, each with its own error
(:func:`~upload_preds.failuremessages.detection_error`), so the same command
retries them; :func:`~upload_preds.failures.open_failures` picks it for those
inputs. Every file is written whole under a temporary name and renamed into
place (:func:`_write_whole`).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from upload_preds.failuremessages import detection_error, write_failed
from upload_preds.formats import YOLO_ERRORS_FILE
from upload_preds.outputs import AtomicWriter
from upload_preds.readers import ERROR_KEY
from upload_preds.records import Location, RowError

if TYPE_CHECKING:
    from upload_preds.failures import FailedRows

__all__ = ["DetectorFailures"]


class DetectorFailures:
    """Failed detections of ``--format coco|yolo|mot`` inputs, written back in their format.

    Each detection carries its own error (:func:`detection_error`).

    * COCO: ``<input>.failed.json``, a results list of the failed detections,
      each with an ``_error`` field (COCO readers, ours and pycocotools',
      ignore unknown keys), so the same command with that file retries them.
      For a whole instances file the failures file is an instances file too
      (its ``images`` and ``categories``, the failed ``annotations``), because
      such an input carries its own ids.
    * YOLO: a folder ``<first input>.failed/`` holding, under each txt file's
      path relative to its input folder, the failed lines as they were, so
      ``--format yolo`` on that folder retries them. A YOLO line has no room
      for a message, so the folder also holds ``_errors.jsonl``
      (:data:`~upload_preds.formats.YOLO_ERRORS_FILE`), one object per failed
      line in file and line order: ``file`` and ``line`` where it is in this
      folder (what to edit), ``error``, ``text`` (the line as written) and
      ``input`` (its original ``file:line``, as the summary and the report name
      it). Not a ``.txt`` file, so the YOLO reader never takes it for labels,
      and not among the paths :meth:`close` returns, so the retry command names
      only the folder. A folder left by an earlier run is brought up to date:
      the txt files its ``_errors.jsonl`` names (ours, then) that fail no more
      are removed, so the retry never sends stale lines; other files are left alone.
    * MOT: as YOLO (a folder of txt files and ``_errors.jsonl``); a file given
      by name keeps what names its sequence (``SEQ/gt/gt.txt``, see
      :func:`upload_preds.formats.mot.failures_relpath`), so that the retry
      finds the same sequence.

    Failures are held in memory until :meth:`close` (only what failed).
    """

    def __init__(self, paths: Sequence[str], fmt: str, target: Path | None) -> None:
        self._paths = list(paths)
        self._fmt = fmt
        self._target = target
        self._coco: dict[str, list[dict[str, Any]]] = {}
        # txt file -> original line number -> (the line as written, its error)
        self._yolo: dict[str, dict[int, tuple[str, str]]] = {}

    def targets(self) -> list[Path]:
        if self._fmt == "coco":
            return [self._coco_path(p) for p in self._paths]
        return [self._yolo_root()] if self._paths else []

    def add(self, rows: FailedRows, message: str, errors: Sequence[RowError] = ()) -> None:
        for loc, data in rows:
            if not data:
                continue
            whose = "sequence's label" if self._fmt == "mot" else "image's label"
            error = detection_error(loc, message, errors, whose)
            if self._fmt == "coco":
                self._coco.setdefault(loc.file, []).append({**data, ERROR_KEY: error})
            elif isinstance(data.get("line"), str):
                self._yolo.setdefault(loc.file, {})[loc.line] = (data["line"], error)

    def close(self) -> list[str]:
        written: list[str] = []
        path = self._target or Path(".")
        try:
            for name, dets in self._coco.items():
                path = self._coco_path(name)
                self._write_coco(path, name, dets)
                written.append(str(path))
            self._coco.clear()
            if self._yolo:
                path = self._yolo_root()
                self._write_yolo(path)
                written.append(str(path))
                self._yolo.clear()
        except OSError as exc:
            self._coco.clear()
            self._yolo.clear()
            raise write_failed(path, exc) from None
        return written

    @staticmethod
    def _write_coco(path: Path, name: str, dets: list[dict[str, Any]]) -> None:
        doc: Any = dets
        with contextlib.suppress(OSError, orjson.JSONDecodeError):
            original = orjson.loads(Path(name).read_bytes())
            if isinstance(original, dict):
                doc = {
                    "images": original.get("images", []),
                    "categories": original.get("categories", []),
                    "annotations": dets,
                }
        _write_whole(path, orjson.dumps(doc) + b"\n")

    def _write_yolo(self, root: Path) -> None:
        sidecar: list[tuple[str, bytes]] = []
        earlier = self._earlier_files(root)
        for txt, lines in self._yolo.items():
            rel = Path(self._relative(txt))
            earlier.discard(rel.as_posix())
            numbers = sorted(lines)
            _write_whole(root / rel, "".join(lines[n][0] + "\n" for n in numbers).encode("utf-8"))
            for new_line, n in enumerate(numbers, 1):
                text, error = lines[n]
                entry = {
                    "file": rel.as_posix(),
                    "line": new_line,
                    "error": error,
                    "text": text,
                    "input": str(Location(txt, n)),
                }
                sidecar.append((rel.as_posix(), orjson.dumps(entry) + b"\n"))
        for stale in earlier:
            (root / stale).unlink(missing_ok=True)
        # Sorted by file (stable: lines stay in order) so that it reads like the folder.
        sidecar.sort(key=lambda item: item[0])
        _write_whole(root / YOLO_ERRORS_FILE, b"".join(line for _, line in sidecar))

    def _coco_path(self, name: str) -> Path:
        p = Path(name)
        default = p.with_name(p.name.removesuffix(".json") + ".failed.json")
        if self._target is None:
            return default
        into_folder = len(self._paths) > 1 or self._target.is_dir()
        return self._target / default.name if into_folder else self._target

    @staticmethod
    def _earlier_files(root: Path) -> set[str]:
        """The txt files an earlier run wrote to ``root``, as its errors sidecar names them."""
        try:
            lines = (root / YOLO_ERRORS_FILE).read_bytes().splitlines()
        except OSError:
            return set()
        found: set[str] = set()
        for line in lines:
            with contextlib.suppress(orjson.JSONDecodeError):
                entry = orjson.loads(line)
                name = entry.get("file") if isinstance(entry, dict) else None
                # Only a relative path down into the folder: the sidecar may have been edited.
                if (
                    isinstance(name, str)
                    and name.endswith(".txt")
                    and not Path(name).is_absolute()
                    and ".." not in Path(name).parts
                ):
                    found.add(name)
        return found

    def _yolo_root(self) -> Path:
        if self._target is not None:
            return self._target
        first = Path(self._paths[0].rstrip("/\\") or ".")
        base = first if first.is_dir() else first.parent
        return base.with_name(base.name + ".failed")

    def _relative(self, txt: str) -> str:
        for p in self._paths:
            if os.path.isdir(p):
                rel = os.path.relpath(txt, p)
                if not rel.startswith(".."):
                    return rel
        if self._fmt == "mot":
            from upload_preds.formats.mot import failures_relpath

            return failures_relpath(txt)
        return os.path.basename(txt)


def _write_whole(path: Path, data: bytes) -> None:
    """``data`` to ``path`` under a temporary name, renamed into place; nothing left on error."""
    out = AtomicWriter(path)
    try:
        out.write(data)
        out.commit()
    except BaseException:
        out.abort()
        raise
