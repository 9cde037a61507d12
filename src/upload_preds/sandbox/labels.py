"""The label routes: ``/labels/{sample_uuid}/{labelset}/`` (GET, PUT, PATCH, DELETE).

These are what an upload calls, thousands of times: a PUT checks the body with
:func:`~.validate.check_label_body` against the dataset's task type and writes
the label without committing. Sequence, multi-sensor and point-cloud
segmentation labels are also checked against their sample's frames, sensors
and point counts (:mod:`.sample_shape`, read once per sample and cached) (the application commits a group of writes at
once, :mod:`.app`). Bodies follow the platform (Django REST framework): a
label as the SDK's ``Label`` model, field-keyed lists for 400.
"""

from __future__ import annotations

from typing import Any

import orjson

from upload_preds.sandbox.routing import (
    Request,
    Response,
    Router,
    bad_request,
    json_response,
    not_found,
    read_json,
)
from upload_preds.sandbox.sample_shape import NEEDS_SHAPE, UNKNOWN, SampleShape, shape_of
from upload_preds.sandbox.schema import DatasetInfo, LabelRow
from upload_preds.sandbox.store import Store
from upload_preds.sandbox.validate import check_label_body

#: The largest label body (before and after decompression); the platform's own
#: limit is not published. The largest labels are point-cloud segmentation
#: sequences, one id per point per frame: 50 frames of a 120,000-point sweep are
#: 12-18 MB of JSON (4 MiB, the earlier cap, held fewer than 15 such frames).
LABEL_BODY = 32 * 1024 * 1024
#: Sample shapes kept (a sample's attributes never change once added); the
#: cache is emptied when it reaches this size.
SHAPE_CACHE = 100_000


def label_json(row: LabelRow, task_type: str) -> dict[str, Any]:
    """The SDK's ``Label`` model, from a stored row."""
    return {
        "sample_uuid": row[0],
        "label_type": task_type,
        "label_status": row[2],
        "labelset": row[1],
        "attributes": orjson.Fragment(row[3]),
        "created_at": row[5],
        "created_by": row[6],
        "updated_at": row[7],
        "updated_by": row[8],
        "score": row[4],
        "rating": None,
        "reviewed_at": None,
        "reviewed_by": None,
    }


class LabelRoutes:
    """Reading and writing one sample's label in one label set."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._shapes: dict[str, SampleShape] = {}

    def _shape(self, sample_uuid: str, ds: DatasetInfo) -> SampleShape:
        """Frames, sensors and point counts of the sample, for the task types that need them."""
        if ds.task_type not in NEEDS_SHAPE:
            return UNKNOWN
        shape = self._shapes.get(sample_uuid)
        if shape is None:
            row = self.store.sample(sample_uuid)
            if row is None:
                return UNKNOWN
            shape = shape_of(ds.task_type, orjson.loads(row[2]), orjson.loads(row[3]))
            if len(self._shapes) >= SHAPE_CACHE:
                self._shapes.clear()
            self._shapes[sample_uuid] = shape
        return shape

    def add_routes(self, r: Router) -> None:
        lab = "/labels/{sample_uuid}/{labelset}/"
        r.add("PUT", lab, self.put_label, LABEL_BODY)
        r.add("GET", lab, self.get_label)
        r.add("PATCH", lab, self.patch_label, LABEL_BODY)
        r.add("DELETE", lab, self.delete_label)

    def _label_target(self, request: Request) -> tuple[str, str, DatasetInfo] | Response:
        sample_uuid = request.match_info["sample_uuid"]
        labelset = request.match_info["labelset"]
        ds = self.store.dataset_of_sample(sample_uuid)
        if ds is None:
            return not_found("Not found: sample does not exist.")
        if labelset not in ds.labelsets:
            return not_found(f"Not found: label set {labelset!r} does not exist in {ds.full_name}.")
        return sample_uuid, labelset, ds

    def get_label(self, request: Request) -> Response:
        target = self._label_target(request)
        if isinstance(target, Response):
            return target
        sample_uuid, labelset, ds = target
        row = self.store.label(sample_uuid, labelset)
        return json_response(label_json(row, ds.task_type)) if row else not_found()

    def put_label(self, request: Request) -> Response:
        target = self._label_target(request)
        if isinstance(target, Response):
            return target
        sample_uuid, labelset, ds = target
        shape = self._shape(sample_uuid, ds)
        clean, errors = check_label_body(ds.spec, read_json(request), partial=False, shape=shape)
        if errors:
            return bad_request(errors)
        row, created = self.store.put_label(
            sample_uuid,
            labelset,
            clean["label_status"],
            orjson.dumps(clean["attributes"]).decode(),
            clean.get("score"),
        )
        return json_response(label_json(row, ds.task_type), 201 if created else 200)

    def patch_label(self, request: Request) -> Response:
        target = self._label_target(request)
        if isinstance(target, Response):
            return target
        sample_uuid, labelset, ds = target
        old = self.store.label(sample_uuid, labelset)
        if old is None:
            return not_found()
        shape = self._shape(sample_uuid, ds)
        clean, errors = check_label_body(ds.spec, read_json(request), partial=True, shape=shape)
        if errors:
            return bad_request(errors)
        attrs_json = orjson.dumps(clean["attributes"]).decode() if "attributes" in clean else old[3]
        row, _ = self.store.put_label(
            sample_uuid,
            labelset,
            clean.get("label_status", old[2]),
            attrs_json,
            clean["score"] if "score" in clean else old[4],
        )
        return json_response(label_json(row, ds.task_type))

    def delete_label(self, request: Request) -> Response:
        target = self._label_target(request)
        if isinstance(target, Response):
            return target
        sample_uuid, labelset, _ = target
        if not self.store.delete_label(sample_uuid, labelset):
            return not_found()
        return Response(status=204, content_type=None)
