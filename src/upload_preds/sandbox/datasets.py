"""The dataset and sample routes: datasets, label sets, the samples listing, one sample.

:class:`DatasetRoutes` answers what a client reads before it uploads (the
dataset's task type and categories, its label sets, the sample list with each
sample's label summary) and the sample writes a client may make. The samples
listing pages as the platform does: a bare JSON array, ``?per_page`` (capped at
``max_page_size`` when the sandbox was given one, as the platform may cap it)
and ``?page``, 404 ``{"detail": "Invalid page."}`` past the end, ordered by
``sort`` (default ``name``, ties by uuid, so pages never overlap). Every bad
parameter is a 400 keyed by its name, never a 500. A sample written must have
what its dataset's task type needs (frames, sensors, a point cloud with its
``type``, point counts of the right shape; :func:`.sample_shape.check_sample`),
else a 400 keyed ``attributes`` or ``metadata``.
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson

from upload_preds.sandbox.labels import label_json
from upload_preds.sandbox.manifest import NAME_RE
from upload_preds.sandbox.routing import (
    SMALL_BODY,
    Request,
    Response,
    Router,
    bad_request,
    json_response,
    not_found,
    read_json,
)
from upload_preds.sandbox.sample_shape import check_sample
from upload_preds.sandbox.schema import USERNAME, AlreadyExists, DatasetInfo, LabelRow
from upload_preds.sandbox.store import Store
from upload_preds.sandbox.validate import (
    ALL_STATUSES,
    LABEL_STATUSES,
    PSEUDO_STATUS_UNLABELED,
)

DEFAULT_PER_PAGE = 1000
#: The largest page and page size taken (SQLite's LIMIT/OFFSET are 64-bit).
MAX_INT = 2**31 - 1
#: The largest body of a sample write (a bulk add of many samples).
SAMPLES_BODY = 16 * 1024 * 1024


UNLABELED_SUMMARY: dict[str, Any] = {
    "score": None,
    "label_status": PSEUDO_STATUS_UNLABELED,
    "updated_at": None,
    "created_by": None,
    "reviewed_by": None,
}


def sample_json(row: tuple[Any, ...], ds: DatasetInfo) -> dict[str, Any]:
    """The SDK's ``Sample`` model, from the first columns of a sample row."""
    return {
        "uuid": row[0],
        "name": row[1],
        "attributes": orjson.Fragment(row[2]),
        "metadata": orjson.Fragment(row[3]),
        "priority": row[4],
        "readme": row[5],
        "assigned_labeler": row[6],
        "assigned_reviewer": row[7],
        "created_at": row[8],
        "created_by": row[9],
        "dataset_full_name": ds.full_name,
    }


class DatasetRoutes:
    """Datasets, label sets and samples."""

    def __init__(self, store: Store, max_page_size: int | None = None) -> None:
        self.store = store
        # The platform may serve fewer items per page than a client asks for;
        # None: no cap (a page holds what ``per_page`` asks).
        self.max_page_size = max_page_size

    def add_routes(self, r: Router) -> None:
        r.add("GET", "/api_status/", self.api_status)
        r.add("GET", "/user", self.user)
        r.add("GET", "/user/", self.user)
        ds = "/datasets/{owner}/{name}"
        r.add("GET", ds + "/", self.get_dataset)
        r.add("GET", ds + "/labelsets/", self.get_labelsets)
        r.add("POST", ds + "/labelsets/", self.add_labelset, SMALL_BODY)
        r.add("GET", ds + "/labelsets/{labelset}/", self.get_labelset)
        r.add("GET", ds + "/samples/", self.get_samples)
        r.add("POST", ds + "/samples/", self.add_sample, SAMPLES_BODY)
        r.add("POST", ds + "/samples_bulk/", self.add_samples_bulk, SAMPLES_BODY)
        r.add("GET", "/samples/{uuid}/", self.get_sample)

    def _dataset(self, request: Request) -> DatasetInfo | None:
        return self.store.dataset(request.match_info["owner"], request.match_info["name"])

    def _dataset_json(self, ds: DatasetInfo) -> dict[str, Any]:
        counts = self.store.label_status_counts(ds, "ground-truth")
        total = self.store.count_samples(ds)
        stats: dict[str, int] = {s: counts.get(s, 0) for s in LABEL_STATUSES}
        stats[PSEUDO_STATUS_UNLABELED] = total - sum(counts.values())
        stats["TOTAL"] = total
        return {
            "name": ds.name,
            "full_name": ds.full_name,
            "cloned_from": None,
            "description": ds.description,
            "category": "other",
            "public": False,
            "archived": False,
            "owner": {"username": ds.owner, "created_at": ds.created_at, "email": None},
            "created_at": ds.created_at,
            "enable_ratings": False,
            "enable_skip_labeling": True,
            "enable_skip_reviewing": False,
            "enable_save_button": False,
            "enable_label_status_verified": False,
            "enable_same_dimensions_track_constraint": False,
            "enable_3d_region_of_interest": False,
            "enable_3d_cuboid_rotation": False,
            "enable_confirm_on_submit": False,
            "enable_interpolation": True,
            "use_timestamps_for_interpolation": False,
            "enable_object_linking": False,
            "enable_object_link_category_restrictions": False,
            "enable_extrapolation": False,
            "task_type": ds.task_type,
            "label_stats": stats,
            "samples_count": total,
            "collaborators_count": 1,
            "task_attributes": orjson.Fragment(ds.task_attributes_json),
            "labelsets": [self._labelset_json(ds, n) for n in ds.labelsets],
            "role": "admin",
            "readme": "",
            "metadata": {},
            "data_type": "IMAGE",
        }

    @staticmethod
    def _labelset_json(ds: DatasetInfo, name: str) -> dict[str, Any]:
        description, created = ds.labelsets[name]
        return {
            "name": name,
            "description": description,
            "is_groundtruth": name == "ground-truth",
            "created_at": created,
        }

    # -- routes: account and datasets ----------------------------------------------

    def api_status(self, request: Request) -> Response:
        return json_response({"status": "ok", "sandbox": True})

    def user(self, request: Request) -> Response:
        return json_response(
            {
                "username": USERNAME,
                "created_at": "2024-01-01T00:00:00.000000Z",
                "is_organization": False,
                "email": "sandbox@localhost",
            }
        )

    def get_dataset(self, request: Request) -> Response:
        ds = self._dataset(request)
        return json_response(self._dataset_json(ds)) if ds else not_found()

    def get_labelsets(self, request: Request) -> Response:
        ds = self._dataset(request)
        if ds is None:
            return not_found()
        return json_response([self._labelset_json(ds, n) for n in ds.labelsets])

    def get_labelset(self, request: Request) -> Response:
        ds = self._dataset(request)
        name = request.match_info["labelset"]
        if ds is None or name not in ds.labelsets:
            return not_found()
        return json_response(self._labelset_json(ds, name))

    def add_labelset(self, request: Request) -> Response:
        ds = self._dataset(request)
        if ds is None:
            return not_found()
        body = read_json(request)
        if not isinstance(body, dict):
            return bad_request({"non_field_errors": ["Invalid data. Expected a dictionary."]})
        name, description = body.get("name"), body.get("description", "")
        if not isinstance(name, str) or not NAME_RE.match(name):
            return bad_request(
                {"name": ["Required: letters, digits, '.', '_' and '-', at most 100 characters."]}
            )
        if not isinstance(description, str):
            return bad_request({"description": ["Not a valid string."]})
        try:
            self.store.add_labelset(ds, name, description)
        except AlreadyExists:
            return bad_request({"name": [f"A labelset with name {name!r} already exists."]})
        self.store.commit()
        return json_response(self._labelset_json(ds, name), 201)

    # -- routes: samples -------------------------------------------------------------

    def get_samples(self, request: Request) -> Response:
        ds = self._dataset(request)
        if ds is None:
            return not_found()
        q = request.query
        try:
            per_page = int(q.get("per_page", DEFAULT_PER_PAGE))
            if not 1 <= per_page <= MAX_INT:
                raise ValueError
        except ValueError:
            return bad_request({"per_page": [f"A whole number from 1 to {MAX_INT} is required."]})
        if self.max_page_size is not None:
            per_page = min(per_page, self.max_page_size)
        try:
            page = int(q.get("page", "1"))
            if page < 1:
                raise ValueError
        except ValueError:
            # Django REST framework's answer to a page that is not a page number.
            return not_found("Invalid page.")
        if page > MAX_INT:
            # Would overflow SQLite's 64-bit OFFSET (it was a 500).
            return bad_request({"page": [f"A whole number from 1 to {MAX_INT} is required."]})
        labelset = q.get("labelset")
        if labelset is not None and labelset not in ds.labelsets:
            return not_found(f"Not found: label set {labelset!r} does not exist in {ds.full_name}.")
        statuses: list[str] | None = None
        if q.get("label_status"):
            statuses = [s.strip() for s in q["label_status"].split(",") if s.strip()]
            if not statuses:  # ",,," would filter on nothing (it built "AND ()": a 500)
                return bad_request({"label_status": ["Name at least one label status."]})
            bad = [s for s in statuses if s not in ALL_STATUSES]
            if bad:
                return bad_request(
                    {
                        "label_status": [
                            f"{s!r} is not a label status; use {', '.join(sorted(ALL_STATUSES))}."
                            for s in bad
                        ]
                    }
                )
        sort = q.get("sort", "name")
        descending = sort.startswith("-")
        sort = sort.lstrip("-")
        if sort not in ("name", "created_at", "priority", "gt_label__updated_at"):
            return bad_request(
                {"sort": ["Use name, created_at, priority or gt_label__updated_at (- for desc)."]}
            )
        metadata_filters: list[tuple[str, str]] = []
        for item in filter(None, q.get("filters", "").split(",")):
            key, sep, value = item.partition(":")
            if not sep or not key:
                return bad_request({"filters": [f"{item!r} is not key:value."]})
            metadata_filters.append((key, value))
        full = q.get("include_full_label", "").lower() in ("1", "true", "yes")
        rows = self.store.list_samples(
            ds,
            labelset=labelset or "ground-truth",
            name_contains=q.get("name__contains") or None,
            statuses=statuses,
            metadata_filters=metadata_filters,
            sort=sort,
            descending=descending,
            limit=per_page,
            offset=(page - 1) * per_page,
        )
        if not rows and page > 1:
            return not_found("Invalid page.")
        out = []
        for row in rows:
            s = sample_json(row, ds)
            if labelset is not None:
                label_row: LabelRow = row[10:]
                if label_row[2] is None:
                    s["label"] = UNLABELED_SUMMARY
                elif full:
                    s["label"] = label_json(label_row, ds.task_type)
                else:
                    s["label"] = {
                        "score": label_row[4],
                        "label_status": label_row[2],
                        "updated_at": label_row[7],
                        "created_by": label_row[6],
                        "reviewed_by": None,
                    }
            out.append(s)
        return json_response(out)

    def get_sample(self, request: Request) -> Response:
        sample_uuid = request.match_info["uuid"]
        ds = self.store.dataset_of_sample(sample_uuid)
        row = self.store.sample(sample_uuid)
        if ds is None or row is None:
            return not_found()
        s = sample_json(row, ds)
        labelset = request.query.get("labelset")
        if labelset is not None:
            label_row = self.store.label(sample_uuid, labelset)
            s["label"] = label_json(label_row, ds.task_type) if label_row else None
        return json_response(s)

    def _check_sample_body(self, ds: DatasetInfo, body: Any) -> dict[str, list[str]]:
        if not isinstance(body, dict):
            return {"non_field_errors": ["Invalid data. Expected a dictionary."]}
        errors: dict[str, list[str]] = {}
        if not isinstance(body.get("name"), str) or not body["name"]:
            errors["name"] = ["This field is required (a non-empty string)."]
        if not isinstance(body.get("attributes"), dict):
            errors["attributes"] = ['This field is required (an object like {"image": {...}}).']
        if not isinstance(body.get("metadata", {}), dict):
            errors["metadata"] = ["Must be an object."]
        if type(body.get("priority", 0)) not in (int, float):
            errors["priority"] = ["A valid number is required."]
        for key in ("readme",):
            if not isinstance(body.get(key, ""), str):
                errors[key] = ["Not a valid string."]
        for key in ("assigned_labeler", "assigned_reviewer"):
            if body.get(key) is not None and not isinstance(body[key], str):
                errors[key] = ["Not a valid string."]
        if not errors:
            # Frames, sensors and point counts: what the dataset's labels are checked against.
            for msg in check_sample(
                ds.task_type, ds.spec.sensors, body["attributes"], body.get("metadata")
            ):
                field = msg.split(".", 1)[0].split(":", 1)[0]  # attributes or metadata
                errors.setdefault(field, []).append(msg)
        return errors

    def _insert_sample(self, ds: DatasetInfo, body: dict[str, Any]) -> str | None:
        sample_uuid = str(uuid.uuid4())
        ok = self.store.add_sample(
            ds,
            name=body["name"],
            attributes_json=orjson.dumps(body["attributes"]).decode(),
            metadata_json=orjson.dumps(body.get("metadata") or {}).decode(),
            priority=float(body.get("priority", 0)),
            readme=body.get("readme") or "",
            assigned_labeler=body.get("assigned_labeler"),
            assigned_reviewer=body.get("assigned_reviewer"),
            sample_uuid=sample_uuid,
        )
        return sample_uuid if ok else None

    def add_sample(self, request: Request) -> Response:
        ds = self._dataset(request)
        if ds is None:
            return not_found()
        body = read_json(request)
        errors = self._check_sample_body(ds, body)
        if errors:
            return bad_request(errors)
        sample_uuid = self._insert_sample(ds, body)
        self.store.commit()
        if sample_uuid is None:
            return bad_request(
                {"name": [f"A sample with name {body['name']!r} already exists in this dataset."]}
            )
        row = self.store.sample(sample_uuid)
        assert row is not None
        return json_response(sample_json(row, ds), 201)

    def add_samples_bulk(self, request: Request) -> Response:
        ds = self._dataset(request)
        if ds is None:
            return not_found()
        body = read_json(request)
        if not isinstance(body, list):
            return bad_request({"non_field_errors": ["Expected a list of samples."]})
        all_errors = [self._check_sample_body(ds, item) for item in body]
        if any(all_errors):
            return json_response(all_errors, 400)
        out = []
        for item in body:
            # Existing samples come back unchanged, as the SDK documents.
            self._insert_sample(ds, item)
            row = self.store.sample_by_name(ds, item["name"])
            assert row is not None
            out.append(sample_json(row, ds))
        self.store.commit()
        return json_response(out, 201)
