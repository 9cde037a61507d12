"""Sandbox manifests for tests: one dataset, its samples, labels people made.

A manifest is what ``start_sandbox(data=...)`` seeds (the format of
``sample_data/dataset.json``). Test folders build theirs from these pieces:
:func:`dataset_manifest` (one dataset ``OWNER/NAME``), :func:`sample` (an image
or point-cloud sample whose media URL is never fetched), :func:`human_label`
(a ground-truth label with the status a person left on it, for the guard;
:func:`seeded_samples` makes ``n`` samples, some with one) and
:func:`sample_uuid` (stable across runs, one namespace per test folder).
``tests/conftest.py`` puts this folder on ``sys.path``, so it imports by name.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any


def sample_uuid(namespace: str, name: str) -> str:
    """A sample's uuid, stable across runs; each test folder has its own namespace."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{namespace}/{name}"))


def sample(
    uuid_: str, name: str, *, asset: str = "image", labels: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A sample of a manifest; ``asset`` is the key of its attributes (``image``, ``pcd``)."""
    media: dict[str, Any] = {"url": f"https://example.invalid/{name}"}
    if asset == "pcd":
        media["type"] = "pcd"  # the platform's point-cloud sample attributes need it
    out: dict[str, Any] = {"uuid": uuid_, "name": name, "attributes": {asset: media}}
    out["metadata"] = {}
    out["labels"] = labels or {}
    return out


def human_label(status: str, annotations: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The ``labels`` of a sample whose ground-truth label a person left at ``status``."""
    attributes = {"format_version": "0.1", "annotations": annotations or []}
    return {"ground-truth": {"label_status": status, "score": None, "attributes": attributes}}


def seeded_samples(
    n: int,
    uuid_of: Callable[[int], str],
    name_of: Callable[[int], str],
    seeded: Mapping[int, str] | None = None,
    annotations: list[dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """Image samples ``0..n-1``; ``seeded[i]``: the status a person left on sample i's
    ground-truth label (holding ``annotations``), for the tests of the guard."""
    seeded = seeded or {}
    return [
        sample(
            uuid_of(i),
            name_of(i),
            labels=human_label(seeded[i], annotations) if i in seeded else None,
        )
        for i in range(n)
    ]


def dataset_manifest(
    dataset: str,
    task_type: str,
    samples: list[dict[str, Any]],
    *,
    categories: list[dict[str, Any]] | None = None,
    task_attributes: dict[str, Any] | None = None,
    format_version: str = "0.1",
    labelsets: Sequence[str] = ("ground-truth",),
) -> dict[str, Any]:
    """A manifest of one dataset ``OWNER/NAME``: ``categories`` make its task attributes
    (or ``task_attributes`` is given whole); every label set starts with no description."""
    owner, name = dataset.split("/")
    if task_attributes is None:
        task_attributes = {"format_version": format_version, "categories": categories or []}
    return {
        "datasets": [
            {
                "owner": owner,
                "name": name,
                "task_type": task_type,
                "task_attributes": task_attributes,
                "labelsets": [{"name": ls, "description": ""} for ls in labelsets],
                "samples": samples,
            }
        ]
    }
