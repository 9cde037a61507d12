"""The seed manifest: which datasets, label sets, samples and labels the sandbox starts with.

Format (JSON, documented in the README)::

    {"datasets": [{
        "owner": "demo", "name": "street-scenes", "description": "...",
        "task_type": "vector",
        "task_attributes": {"format_version": "0.1", "categories": [{"id": 1, "name": "car"}]},
        "labelsets": [{"name": "ground-truth", "description": ""}],
        "samples": [{
            "uuid": "...", "name": "img_0001.jpg",
            "attributes": {"image": {"url": "..."}}, "metadata": {}, "priority": 0,
            "labels": {"ground-truth": {"label_status": "LABELED", "attributes": {...},
                                         "score": null}}}]}]}

:func:`load_manifest` reads and checks the whole file before anything is
written, so a bad manifest never half-seeds a database. Every problem is a
:class:`ManifestError` naming the file and the JSON path of the value (or the
line and column for a JSON syntax error). Labels are checked with the same
validator the label routes use. A sample without ``uuid`` gets a uuid5 of
dataset and name, so reseeding the same manifest finds the same samples.

Point counts: a point-cloud segmentation sample (or sensor) whose ``pcd.url``
files are in the manifest's folder gets ``metadata.point_count`` from those
files when it has none (:func:`.pointclouds.point_count`: the PCD header or
the KITTI file size), and one it has must agree with them; the label checks
then hold ``point_annotations`` to the files' real sizes.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from upload_preds.sandbox.pointclouds import PointCloudError, point_count
from upload_preds.sandbox.sample_shape import check_sample, shape_of
from upload_preds.sandbox.validate import SpecError, TaskSpec, check_label_body
from upload_preds.sandbox.validate_base import MULTISENSOR, POINTCLOUD_SEGMENTATION_TASKS

GROUND_TRUTH = "ground-truth"
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
_NAMESPACE = uuid.UUID("0b7a52a4-52c1-4d5e-9a4a-6d2b8f3e1c55")


class ManifestError(ValueError):
    """The manifest cannot be used; the message names file, path and what to do."""


@dataclass(slots=True)
class ManifestLabel:
    labelset: str
    label_status: str
    attributes: dict[str, Any]
    score: float | None
    created_by: str


@dataclass(slots=True)
class ManifestSample:
    uuid: str
    name: str
    attributes: dict[str, Any]
    metadata: dict[str, Any]
    priority: float
    labels: list[ManifestLabel]


@dataclass(slots=True)
class ManifestDataset:
    owner: str
    name: str
    description: str
    task_type: str
    task_attributes: dict[str, Any]
    spec: TaskSpec
    labelsets: list[tuple[str, str]]
    samples: list[ManifestSample] = field(default_factory=list)

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"


@dataclass(slots=True)
class Manifest:
    path: str
    datasets: list[ManifestDataset]


def load_manifest(path: Path | str) -> Manifest:
    """Read and check a manifest file; :class:`ManifestError` on any problem."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ManifestError(f"{p}: no such file; pass --data with a dataset manifest") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ManifestError(f"{p}: cannot be read ({e})") from None
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as e:
        raise ManifestError(f"{p}:{e.lineno}:{e.colno}: invalid JSON: {e.msg}") from None
    return parse_manifest(raw, str(p))


def parse_manifest(raw: Any, source: str = "<manifest>") -> Manifest:
    """Check an already parsed manifest (``source`` names it in messages)."""

    def fail(where: str, msg: str) -> ManifestError:
        return ManifestError(f"{source}: {where}: {msg}")

    if not isinstance(raw, dict) or not isinstance(raw.get("datasets"), list):
        raise ManifestError(f'{source}: the top level must be an object {{"datasets": [...]}}')
    # Relative file URLs (images, point clouds) are relative to the manifest's folder.
    folder = Path(source).parent if Path(source).is_file() else None
    datasets: list[ManifestDataset] = []
    seen_full: set[str] = set()
    seen_uuids: set[str] = set()
    for di, d in enumerate(raw["datasets"]):
        dw = f"datasets[{di}]"
        if not isinstance(d, dict):
            raise fail(dw, "must be an object")
        for key in ("owner", "name"):
            v = d.get(key)
            if not isinstance(v, str) or not NAME_RE.match(v):
                raise fail(f"{dw}.{key}", f"required, letters, digits, '.', '_', '-'; got {v!r}")
        full = f"{d['owner']}/{d['name']}"
        if full in seen_full:
            raise fail(f"{dw}.name", f"dataset {full} appears twice")
        seen_full.add(full)
        try:
            spec = TaskSpec.build(d.get("task_type"), d.get("task_attributes"), f"{dw}.")
        except SpecError as e:
            raise ManifestError(f"{source}: {e}") from None
        labelsets: list[tuple[str, str]] = []
        raw_ls = d.get("labelsets", [])
        if not isinstance(raw_ls, list):
            raise fail(f"{dw}.labelsets", "must be a list of {name, description}")
        for li, ls in enumerate(raw_ls):
            lw = f"{dw}.labelsets[{li}]"
            if not isinstance(ls, dict) or not isinstance(ls.get("name"), str):
                raise fail(lw, "must be an object with a 'name'")
            if not NAME_RE.match(ls["name"]):
                raise fail(f"{lw}.name", f"letters, digits, '.', '_', '-'; got {ls['name']!r}")
            if any(ls["name"] == n for n, _ in labelsets):
                raise fail(f"{lw}.name", f"label set {ls['name']!r} appears twice")
            desc = ls.get("description", "")
            if not isinstance(desc, str):
                raise fail(f"{lw}.description", "must be a string")
            labelsets.append((ls["name"], desc))
        if all(n != GROUND_TRUTH for n, _ in labelsets):
            # Every dataset on the platform has a ground-truth label set.
            labelsets.insert(0, (GROUND_TRUTH, ""))
        description = d.get("description", "")
        if not isinstance(description, str):
            raise fail(f"{dw}.description", "must be a string")
        ds = ManifestDataset(
            d["owner"],
            d["name"],
            description,
            d["task_type"],
            d["task_attributes"],
            spec,
            labelsets,
        )
        names: set[str] = set()
        raw_samples = d.get("samples", [])
        if not isinstance(raw_samples, list):
            raise fail(f"{dw}.samples", "must be a list")
        for si, s in enumerate(raw_samples):
            sw = f"{dw}.samples[{si}]"
            ds.samples.append(_parse_sample(s, sw, ds, names, seen_uuids, fail, folder))
        datasets.append(ds)
    return Manifest(source, datasets)


def _local_count(pcd: Any, folder: Path) -> int | None:
    """The point count of a ``pcd`` whose file is in ``folder``; None when it is not there."""
    url = pcd.get("url") if isinstance(pcd, dict) else None
    if not isinstance(url, str) or "://" in url or url.startswith("/"):
        return None
    path = (folder / url).resolve()
    if not path.is_relative_to(folder.resolve()) or not path.is_file():
        return None
    return point_count(path)


def _frame_counts(attributes: Any, folder: Path) -> list[int] | None:
    frames = attributes.get("frames") if isinstance(attributes, dict) else None
    counts = [_local_count(f.get("pcd"), folder) for f in frames or () if isinstance(f, dict)]
    if not counts or any(c is None for c in counts):
        return None
    return [c for c in counts if c is not None]


def _file_point_counts(
    task_type: str,
    attributes: dict[str, Any],
    metadata: dict[str, Any],
    folder: Path,
    sw: str,
    fail: Any,
) -> dict[str, Any]:
    """``metadata`` with ``point_count`` from the files (see the module docstring)."""
    try:
        if task_type == "pointcloud-segmentation":
            found: Any = _local_count(attributes.get("pcd"), folder)
        elif task_type in POINTCLOUD_SEGMENTATION_TASKS:
            found = _frame_counts(attributes, folder)
        elif task_type == MULTISENSOR:
            found = {
                s["name"]: counts
                for s in attributes["sensors"]
                if s.get("task_type") == "pointcloud-segmentation-sequence"
                and (counts := _frame_counts(s.get("attributes"), folder)) is not None
            } or None
        else:
            return metadata
    except (PointCloudError, OSError) as e:
        raise fail(f"{sw}.attributes", f"cannot read a point cloud: {e}") from None
    given = metadata.get("point_count")
    if found is None:
        return metadata
    if given is None:
        return {**metadata, "point_count": found}
    if isinstance(found, dict) and isinstance(given, dict):
        found = {**given, **found}
    if given != found:
        raise fail(
            f"{sw}.metadata.point_count",
            f"{given!r}, but the point cloud files have {found!r} points",
        )
    return metadata


def _parse_sample(
    s: Any,
    sw: str,
    ds: ManifestDataset,
    names: set[str],
    seen_uuids: set[str],
    fail: Any,
    folder: Path | None = None,
) -> ManifestSample:
    if not isinstance(s, dict):
        raise fail(sw, "must be an object with 'name' and 'attributes'")
    name = s.get("name")
    if not isinstance(name, str) or not name:
        raise fail(f"{sw}.name", "required, a non-empty string")
    if name in names:
        raise fail(f"{sw}.name", f"sample {name!r} appears twice in {ds.full_name}")
    names.add(name)
    raw_uuid = s.get("uuid")
    if raw_uuid is None:
        sample_uuid = str(uuid.uuid5(_NAMESPACE, f"{ds.full_name}/{name}"))
    else:
        try:
            sample_uuid = str(uuid.UUID(str(raw_uuid)))
        except ValueError:
            raise fail(f"{sw}.uuid", f"not a uuid: {raw_uuid!r}") from None
    if sample_uuid in seen_uuids:
        raise fail(f"{sw}.uuid", f"{sample_uuid} is used by another sample")
    seen_uuids.add(sample_uuid)
    attributes = s.get("attributes", {})
    if not isinstance(attributes, dict):
        raise fail(f"{sw}.attributes", 'must be an object such as {"image": {"url": "..."}}')
    metadata = s.get("metadata", {})
    if not isinstance(metadata, dict):
        raise fail(f"{sw}.metadata", "must be an object")
    problems = check_sample(ds.task_type, ds.spec.sensors, attributes, metadata)
    if not problems and folder is not None:
        metadata = _file_point_counts(ds.task_type, attributes, metadata, folder, sw, fail)
    if problems:
        raise fail(sw, problems[0])
    shape = shape_of(ds.task_type, attributes, metadata)
    priority = s.get("priority", 0)
    if type(priority) not in (int, float):
        raise fail(f"{sw}.priority", "must be a number")
    labels: list[ManifestLabel] = []
    raw_labels = s.get("labels", {})
    if not isinstance(raw_labels, dict):
        raise fail(f"{sw}.labels", "must be an object of label set name → label")
    known = [n for n, _ in ds.labelsets]
    for ls_name, body in raw_labels.items():
        lw = f"{sw}.labels.{ls_name}"
        if ls_name not in known:
            raise fail(lw, f"label set {ls_name!r} is not declared ({', '.join(known)})")
        created_by = "sandbox"
        if isinstance(body, dict) and "created_by" in body:
            body = dict(body)
            created_by = str(body.pop("created_by"))
        clean, errors = check_label_body(ds.spec, body, partial=False, shape=shape)
        if errors:
            key, msgs = next(iter(errors.items()))
            raise fail(f"{lw}.{key}", msgs[0])
        labels.append(
            ManifestLabel(
                ls_name, clean["label_status"], clean["attributes"], clean.get("score"), created_by
            )
        )
    return ManifestSample(sample_uuid, name, attributes, metadata, float(priority), labels)
