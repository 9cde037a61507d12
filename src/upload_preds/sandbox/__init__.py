"""upload-preds-sandbox: a local stand-in for the Segments API, persisted in SQLite.

The sandbox serves the subset of the Segments.ai API that uploading
predictions needs (datasets, label sets, samples, labels, assets), validates
label attributes against the dataset's task type with its own validator, and
can misbehave on purpose (latency, 5xx errors, throttling, dropped
connections) for tests and benchmarks.

In-process use (the uploader's ``--sandbox`` flag, tests)::

    from upload_preds.sandbox import Faults, start_sandbox

    with start_sandbox(api_key="secret", faults=Faults(error_rate=0.1), seed=1) as sb:
        client = segments.SegmentsClient(sb.api_key, api_url=sb.url)
        ...
        sb.stats()["labels"]

Module map: :mod:`.server` (start/stop, the handle), :mod:`.transport`
(uvicorn, and the limits it lacks), :mod:`.app` (the ASGI application: the
order of answering, group commit, faults' timing), :mod:`.routing` (request,
response, router), :mod:`.bodies` (bodies under a cap, gzip, multipart),
:mod:`.labels`, :mod:`.datasets` and :mod:`.assets` (the API's routes),
:mod:`.store` (SQLite), :mod:`.review_index` (the review page's search index),
:mod:`.review` (the review page), :mod:`.review_media` (a sample's images,
point clouds, frames and sensors for the page), :mod:`.pointclouds` (PCD and
KITTI files read into x/y), :mod:`.manifest` (the seed file), :mod:`.validate`
(label checks; with :mod:`.validate_base`, :mod:`.validate_objects`,
:mod:`.validate_sequences`), :mod:`.sample_shape` (a sample's frames, sensors
and point counts that its labels must fit), :mod:`.faults` (fault injection),
:mod:`.cli` (the command).
"""

from __future__ import annotations

from upload_preds.sandbox.faults import Faults
from upload_preds.sandbox.manifest import ManifestError, load_manifest
from upload_preds.sandbox.server import (
    KEY_ENV,
    SandboxHandle,
    default_data_path,
    default_db_path,
    start_sandbox,
)
from upload_preds.sandbox.transport import Limits

__all__ = [
    "KEY_ENV",
    "Faults",
    "Limits",
    "ManifestError",
    "SandboxHandle",
    "default_data_path",
    "default_db_path",
    "load_manifest",
    "start_sandbox",
]
