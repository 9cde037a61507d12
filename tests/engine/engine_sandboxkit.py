"""Helpers for the engine tests against the real sandbox: a generated dataset and jobs."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from typing import Any

from enginekit import API_KEY

from manifestkit import dataset_manifest, seeded_samples
from upload_preds.records import LabelJob, Location
from upload_preds.sandbox.server import SandboxHandle, start_sandbox

DATASET = "test/boxes"
NS = uuid.UUID("0d5c7a52-29f4-4c4e-a1b0-7d6a5f3e9b21")
CATEGORIES = [{"id": 1, "name": "car"}, {"id": 2, "name": "truck"}, {"id": 3, "name": "bike"}]
# Seeded ground-truth labels people worked on (protected) or that are only pre-labels.
SEEDED = {0: "LABELED", 1: "REVIEWED", 2: "PRELABELED", 3: "LABELING_IN_PROGRESS"}


def sample_uuid(i: int) -> str:
    return str(uuid.uuid5(NS, f"sample-{i}"))


def sample_name(i: int) -> str:
    return f"street/img_{i:05d}.jpg"


def attributes(i: int) -> dict[str, Any]:
    return {
        "format_version": "0.1",
        "annotations": [
            {
                "id": k + 1,
                "category_id": 1 + (i + k) % 3,
                "type": "bbox",
                "points": [[10.5 + k, 20.25], [110.5 + k, 220.75 + i % 7]],
            }
            for k in range(2)
        ],
    }


def manifest(n: int) -> dict[str, Any]:
    samples = seeded_samples(n, sample_uuid, sample_name, SEEDED)
    return dataset_manifest(
        DATASET, "vector", samples, categories=CATEGORIES, labelsets=("ground-truth", "predictions")
    )


def label_jobs(n: int, *, labelset: str = "predictions", start: int = 0) -> list[LabelJob]:
    return [
        LabelJob(
            sample_uuid=sample_uuid(i),
            sample_name=None,
            labelset=labelset,
            label_status="PRELABELED",
            attributes=attributes(i),
            score=round(0.5 + i / (4 * max(n, 1)), 6),
            locs=(Location("preds.jsonl", i + 1),),
        )
        for i in range(start, start + n)
    ]


@contextlib.contextmanager
def running_sandbox(n: int) -> Iterator[SandboxHandle]:
    """An in-memory sandbox holding :func:`manifest` of ``n`` samples, for one test."""
    box = start_sandbox(data=manifest(n), db=":memory:", api_key=API_KEY)
    try:
        yield box
    finally:
        box.stop()
