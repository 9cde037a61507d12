"""The sandbox's HTTP routes: the Segments API subset the uploader uses.

:class:`Sandbox` holds the running state (the :class:`~.store.Store`, the API
key, the fault injector and the request counters), owns the
:class:`~.http.Router`, and is the application callable the HTTP server
(:mod:`.http`) hands each complete request to. Everything runs on one
event-loop thread, so handlers call the store synchronously; nothing here is
thread-safe, and the in-process API (:mod:`.server`) hops onto the loop to
change faults or read stats.

Handlers are plain functions ``Request -> Response``: the body is already in
memory and SQLite is synchronous, so nothing awaits. *When* the answer leaves
is decided by :meth:`Sandbox.__call__`, in this order for API routes:

1. the fault decision: throttle → 429, error → 5xx, drop → close the
   connection without an answer (before the handler, or after it, so the
   write happened but the client cannot know);
2. the API key check (401), then the handler;
3. group commit: a handler that wrote leaves its answer waiting; the first
   one in a loop iteration schedules one COMMIT with ``call_soon``, and every
   answer waiting for it is released after it. A client never sees an answer
   for a write that is not committed;
4. the added latency: the answer leaves no sooner than ``--latency-ms`` (plus
   jitter) after the request *arrived* (``loop.call_at``), so the handler's
   own time is inside the delay instead of added to it, and 64 clients that
   wait together are not served as one serial burst;
5. the request counter, by method, route pattern and status.

Control routes under ``/_sandbox/`` need the key but see no faults and are not
counted; the asset storage under ``/_storage/`` needs no key, like the
platform's S3 URLs. The review page (:mod:`.review`) is treated the same way:
``/`` and its files and images need no key, its JSON API under
``/_review/api/`` needs the key; neither sees faults or is counted (the page
is for people, the counters for benchmarks).

Bodies and status codes follow the platform (Django REST framework):
``{"detail": "..."}`` for 401/404/429, field-keyed lists for 400. Response
JSON is built with orjson; stored JSON text goes out as ``orjson.Fragment``.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import math
import mimetypes
import sqlite3
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson

from upload_preds.sandbox.faults import (
    Action,
    FaultInjector,
    Faults,
    gateway_body,
    throttled_detail,
)
from upload_preds.sandbox.http import (
    FilePart,
    Handler,
    Request,
    Response,
    Router,
    error_response,
    json_response,
    parse_multipart,
)
from upload_preds.sandbox.manifest import NAME_RE
from upload_preds.sandbox.review import API_PREFIX, Review
from upload_preds.sandbox.store import USERNAME, AlreadyExists, DatasetInfo, LabelRow, Store
from upload_preds.sandbox.validate import (
    ALL_STATUSES,
    LABEL_STATUSES,
    PSEUDO_STATUS_UNLABELED,
    check_label_body,
)

JSON = "application/json"
STORAGE_PREFIX = "/_storage/"
CONTROL_PREFIX = "/_sandbox/"
DEFAULT_PER_PAGE = 1000


def not_found(message: str = "Not found.") -> Response:
    return error_response(404, message)


def bad_request(errors: dict[str, Any]) -> Response:
    return json_response(errors, 400)


class BodyError(Exception):
    """A request body that is not JSON; carries the 400 answer."""

    def __init__(self, response: Response) -> None:
        super().__init__("bad body")
        self.response = response


def read_json(request: Request) -> Any:
    """The request body as JSON (the server has already undone ``Content-Encoding``)."""
    raw = request.body
    if not raw:
        return {}
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        raise BodyError(error_response(400, f"JSON parse error - {e}")) from None


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


class Sandbox:
    """The running sandbox: store, key, faults, counters and routes; the HTTP server's app."""

    def __init__(
        self,
        store: Store,
        api_key: str,
        faults: Faults | None = None,
        seed: int | None = None,
        media_root: Path | None = None,
        max_page_size: int | None = None,
    ) -> None:
        self.store = store
        # The platform may serve fewer items per page than a client asks for;
        # None: no cap (a page holds what ``per_page`` asks).
        self.max_page_size = max_page_size
        # Relative sample image URLs are served from here (the manifest's folder).
        self.review = Review(store, media_root)
        self._auth = f"APIKey {api_key}".encode()
        self.faults = Faults()
        self.seed = seed
        self._injector: FaultInjector | None = None
        self.set_faults(faults or Faults(), seed)
        self.counts: Counter[tuple[str, str, str]] = Counter()
        self.started = time.monotonic()
        # Answers waiting for the next group commit: (request, answer, due, action).
        self._uncommitted: list[tuple[Request, Response, float, Action]] = []
        self.router = self._make_router()

    def set_faults(self, faults: Faults, seed: int | None = None) -> None:
        """Replace the fault setting; the token bucket and random stream restart."""
        self.faults = faults
        self.seed = seed
        self._injector = FaultInjector(faults, seed) if faults.active else None

    # -- routing and the order of things --------------------------------------------------

    def _make_router(self) -> Router:
        r = Router()
        r.add("GET", "/api_status/", self.api_status)
        r.add("GET", "/user", self.user)
        r.add("GET", "/user/", self.user)
        # The label routes first: they are what an upload calls, thousands of times.
        lab = "/labels/{sample_uuid}/{labelset}/"
        r.add("PUT", lab, self.put_label)
        r.add("GET", lab, self.get_label)
        r.add("PATCH", lab, self.patch_label)
        r.add("DELETE", lab, self.delete_label)
        ds = "/datasets/{owner}/{name}"
        r.add("GET", ds + "/", self.get_dataset)
        r.add("GET", ds + "/labelsets/", self.get_labelsets)
        r.add("POST", ds + "/labelsets/", self.add_labelset)
        r.add("GET", ds + "/labelsets/{labelset}/", self.get_labelset)
        r.add("GET", ds + "/samples/", self.get_samples)
        r.add("POST", ds + "/samples/", self.add_sample)
        r.add("POST", ds + "/samples_bulk/", self.add_samples_bulk)
        r.add("GET", "/samples/{uuid}/", self.get_sample)
        r.add("POST", "/assets/", self.add_asset)
        r.add("POST", STORAGE_PREFIX + "upload/", self.storage_upload)
        r.add("GET", STORAGE_PREFIX + "assets/{uuid}/{filename}", self.storage_get)
        r.add("GET", CONTROL_PREFIX + "stats", self.get_stats)
        r.add("DELETE", CONTROL_PREFIX + "stats", self.reset_stats)
        r.add("GET", CONTROL_PREFIX + "faults", self.get_faults)
        r.add("PUT", CONTROL_PREFIX + "faults", self.put_faults)
        self.review.add_routes(r)
        return r

    def __call__(self, request: Request) -> None:
        """Answer one request (see the module docstring for the order)."""
        target = self.router.resolve(request)
        path = request.path
        if path.startswith(STORAGE_PREFIX) or Review.public(path):
            request.respond(self._call(target, request))
            return
        if path.startswith((CONTROL_PREFIX, API_PREFIX)):
            if not self._authorized(request):
                request.respond(error_response(401, "Invalid token."))
            else:
                request.respond(self._call(target, request))
            return
        injector = self._injector
        action = Action.PASS
        due = 0.0
        if injector is not None:
            d = injector.decide()
            due = request.arrived + d.delay_s
            action = d.action
            if action is Action.THROTTLE:
                resp = error_response(429, throttled_detail(d.retry_after_s))
                resp.headers["Retry-After"] = str(d.retry_after_s)
                self._deliver(request, resp, due, action)
                return
            if action is Action.ERROR:
                resp = Response.text(gateway_body(d.status), d.status, "text/html")
                self._deliver(request, resp, due, action)
                return
            if action is Action.DROP_BEFORE:
                self._deliver(request, Response(), due, action)
                return
        if not self._authorized(request):
            resp = error_response(401, "Invalid token.")
        else:
            resp = self._call(target, request)
        if self.store.pending:
            if not self._uncommitted:
                asyncio.get_running_loop().call_soon(self._commit_now)
            self._uncommitted.append((request, resp, due, action))
        else:
            self._deliver(request, resp, due, action)

    def _commit_now(self) -> None:
        waiting, self._uncommitted = self._uncommitted, []
        try:
            self.store.commit()
        except sqlite3.Error:
            # Nothing of this group is stored; the clients see a 500 and retry.
            self.store.rollback()
            waiting = [
                (req, error_response(500, "A server error occurred."), due, Action.PASS)
                for req, _, due, _ in waiting
            ]
        for request, resp, due, action in waiting:
            self._deliver(request, resp, due, action)

    def _deliver(self, request: Request, resp: Response, due: float, action: Action) -> None:
        """Send ``resp`` (or drop the connection) at loop time ``due``, or now if that has passed."""
        loop = asyncio.get_running_loop()
        if due > loop.time():
            loop.call_at(due, self._deliver_now, request, resp, action)
        else:
            self._deliver_now(request, resp, action)

    def _deliver_now(self, request: Request, resp: Response, action: Action) -> None:
        if action is Action.DROP_BEFORE or action is Action.DROP_AFTER:
            what = "dropped" if action is Action.DROP_BEFORE else "dropped-after-write"
            self.counts[(request.method, request.route, what)] += 1
            request.abort()
            return
        self.counts[(request.method, request.route, str(resp.status))] += 1
        request.respond(resp)

    def _authorized(self, request: Request) -> bool:
        given = request.headers.get("authorization", "")
        return hmac.compare_digest(given.encode(), self._auth)

    @staticmethod
    def _call(target: Handler | Response, request: Request) -> Response:
        if isinstance(target, Response):  # no route, or a method the route does not have
            return target
        try:
            return target(request)
        except BodyError as e:
            return e.response

    # -- helpers -------------------------------------------------------------------

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
            if per_page < 1:
                raise ValueError
        except ValueError:
            return bad_request({"per_page": ["A positive integer is required."]})
        if self.max_page_size is not None:
            per_page = min(per_page, self.max_page_size)
        try:
            page = int(q.get("page", "1"))
            if page < 1:
                raise ValueError
        except ValueError:
            return not_found("Invalid page.")
        labelset = q.get("labelset")
        if labelset is not None and labelset not in ds.labelsets:
            return not_found(f"Not found: label set {labelset!r} does not exist in {ds.full_name}.")
        statuses: list[str] | None = None
        if q.get("label_status"):
            statuses = [s.strip() for s in q["label_status"].split(",") if s.strip()]
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

    def _check_sample_body(self, body: Any) -> dict[str, list[str]]:
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
        errors = self._check_sample_body(body)
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
        all_errors = [self._check_sample_body(item) for item in body]
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

    # -- routes: labels ----------------------------------------------------------------

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
        clean, errors = check_label_body(ds.spec, read_json(request), partial=False)
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
        clean, errors = check_label_body(ds.spec, read_json(request), partial=True)
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

    # -- routes: assets and their storage -------------------------------------------

    def _sign(self, data: str) -> str:
        key = self.store.storage_secret.encode()
        return hmac.new(key, data.encode(), hashlib.sha256).hexdigest()

    def add_asset(self, request: Request) -> Response:
        body = read_json(request)
        filename = body.get("filename") if isinstance(body, dict) else None
        if not isinstance(filename, str) or not filename or "/" in filename:
            return bad_request({"filename": ["A file name without '/' is required."]})
        asset_uuid = str(uuid.uuid4())
        created = self.store.add_asset(asset_uuid, filename)
        self.store.commit()
        origin = request.origin
        key = f"assets/{asset_uuid}/{filename}"
        policy = base64.b64encode(
            json.dumps({"key": key, "expiration": time.time() + 3600}).encode()
        ).decode()
        ctype = mimetypes.guess_type(filename)[0] or "application/octet-stream"
        fields = {
            "acl": "public-read",
            "Content-Type": ctype,
            "key": key,
            "x-amz-algorithm": "AWS4-HMAC-SHA256",
            "x-amz-credential": "SANDBOX/sandbox/s3/aws4_request",
            "x-amz-date": time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()),
            "policy": policy,
            "x-amz-signature": self._sign(policy),
        }
        return json_response(
            {
                "uuid": asset_uuid,
                "filename": filename,
                "url": f"{origin}{STORAGE_PREFIX}assets/{asset_uuid}/{quote(filename)}",
                "created_at": created,
                "presignedPostFields": {
                    "url": f"{origin}{STORAGE_PREFIX}upload/",
                    "fields": fields,
                },
            },
            201,
        )

    def storage_upload(self, request: Request) -> Response:
        """The presigned multipart POST, checked like S3 checks its policy signature."""
        try:
            form = parse_multipart(request.body, request.headers.get("content-type", ""))
        except ValueError as e:
            return _s3_error(400, "MalformedPOSTRequest", str(e))
        policy, signature, key = form.get("policy"), form.get("x-amz-signature"), form.get("key")
        upload = form.get("file")
        if not (isinstance(policy, str) and isinstance(signature, str) and isinstance(key, str)):
            return _s3_error(400, "InvalidArgument", "policy, x-amz-signature and key are required")
        if not hmac.compare_digest(self._sign(policy), signature):
            return _s3_error(403, "SignatureDoesNotMatch", "The signature does not match")
        try:
            signed = json.loads(base64.b64decode(policy))
        except ValueError:
            return _s3_error(400, "InvalidPolicyDocument", "The policy is not valid")
        if signed.get("key") != key or signed.get("expiration", 0) < time.time():
            return _s3_error(403, "AccessDenied", "Policy expired or key does not match")
        if not isinstance(upload, FilePart):
            return _s3_error(400, "InvalidArgument", "a 'file' part is required")
        asset_uuid = key.split("/")[1]
        ctype = form.get("Content-Type")
        self.store.store_asset_data(
            asset_uuid, ctype if isinstance(ctype, str) else None, upload.data
        )
        self.store.commit()
        return Response(status=204, content_type=None)

    def storage_get(self, request: Request) -> Response:
        asset = self.store.asset(request.match_info["uuid"])
        if asset is None or asset[2] is None or asset[0] != request.match_info["filename"]:
            return _s3_error(404, "NoSuchKey", "The specified key does not exist.")
        return Response(asset[2], content_type=asset[1] or "application/octet-stream")

    # -- routes: control -------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """Request counts per method, route and status; labels per label set and status."""
        requests: dict[str, dict[str, dict[str, int]]] = {}
        by_status: Counter[str] = Counter()
        for (method, route, status), n in sorted(self.counts.items()):
            requests.setdefault(method, {}).setdefault(route, {})[status] = n
            by_status[status] += n
        return {
            "requests": requests,
            "by_status": dict(sorted(by_status.items())),
            "total_requests": sum(by_status.values()),
            "labels": self.store.label_counts(),
            "faults": self.faults.as_dict(),
            "seed": self.seed,
            "uptime_s": round(time.monotonic() - self.started, 3),
        }

    def get_stats(self, request: Request) -> Response:
        return json_response(self.stats())

    def reset_stats(self, request: Request) -> Response:
        self.counts.clear()
        return Response(status=204, content_type=None)

    def get_faults(self, request: Request) -> Response:
        return json_response({**self.faults.as_dict(), "seed": self.seed})

    def put_faults(self, request: Request) -> Response:
        body = read_json(request)
        if not isinstance(body, dict):
            return bad_request({"non_field_errors": ["Expected an object of fault settings."]})
        known = set(Faults.__dataclass_fields__) | {"seed"}
        unknown = sorted(set(body) - known)
        if unknown:
            return bad_request({k: ["Unknown fault setting."] for k in unknown})
        seed = body.pop("seed", None)
        try:
            for k, v in body.items():
                if v is not None and not isinstance(v, (int, float)):
                    raise ValueError(f"{k} must be a number")
                if isinstance(v, float) and not math.isfinite(v):
                    raise ValueError(f"{k} must be finite")
            faults = Faults(**body)
        except (TypeError, ValueError) as e:
            return bad_request({"non_field_errors": [str(e)]})
        if seed is not None and type(seed) is not int:
            return bad_request({"seed": ["An integer is required."]})
        self.set_faults(faults, seed)
        return json_response({**faults.as_dict(), "seed": seed})


def _s3_error(status: int, code: str, message: str) -> Response:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message></Error>"
    )
    return Response.text(body, status, "application/xml")
