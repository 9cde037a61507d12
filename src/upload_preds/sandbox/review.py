"""The review page of the sandbox: its JSON API, its static files, and the search and copy behind them.

Two layers:

- Functions over a :class:`~.store.Store` (:func:`search`, :func:`copy_label`,
  :func:`find_sample`), used by the HTTP routes below and by the
  ``upload-preds-sandbox search|copy`` commands, which open the database
  directly; both front ends therefore parse, resolve and guard identically.
- :class:`Review`, the routes, mounted by :class:`~.app.Sandbox`:

  ========================================================  ==========================
  ``GET /``                                                  the page (no key)
  ``GET /_review/static/{file}``                             its JS and CSS (no key)
  ``GET /_review/media/{path}``                              sample images (no key)
  ``GET /_review/points/{path}``                             point clouds' x/y (no key)
  ``GET /_review/api/datasets``                              datasets, label sets,
                                                             categories and colours
  ``GET /_review/api/datasets/{owner}/{name}/samples``       one page of samples with
                                                             two label sets' labels
  ``GET /_review/api/datasets/{owner}/{name}/search``        what the CLI prints
  ``POST /_review/api/datasets/{owner}/{name}/copy``         copy one label
  ========================================================  ==========================

Security: the page and its static files hold no data and no key, so they need
none. Everything under ``/_review/api/`` needs ``Authorization: APIKey KEY``
like the API itself; the page asks for the key once and keeps it in the tab's
``sessionStorage`` (or takes it from the URL fragment ``#key=...`` that the
start-up line prints for a generated key; a fragment never reaches a server
or a ``Referer``). Sending the key in a header, never a cookie, also means
another web site cannot make the browser copy labels behind the user's back
(no ambient credentials, and a cross-origin request with that header needs a
CORS preflight the sandbox does not grant). Sample images are served like
the platform's storage URLs, without a key (an ``<img>`` cannot send one),
only from inside the manifest's folder and only with an image or point-cloud extension.

Sample images: a relative ``attributes.image.url`` (the demo manifest's
``images/img_0001.png``) is resolved against the folder of the manifest the
sandbox was started with and served under ``/_review/media/``; absolute URLs
are passed to the page unchanged. Point clouds likewise: a relative
``pcd.url`` (``.pcd`` or KITTI ``.bin``) of a sample or of one of its frames
is served from the same folder under ``/_review/media/``, as
``application/octet-stream``, and its x/y, subsampled to at most 200,000
points, under ``/_review/points/`` (:mod:`.pointclouds`). Each sample of the
samples page carries the URLs of its frames and sensors
(:func:`.review_media.sample_media`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from upload_preds.sandbox.pointclouds import PointCloudError, compact_file
from upload_preds.sandbox.review_index import STATUS_ORDER, CountTerm
from upload_preds.sandbox.review_media import sample_media
from upload_preds.sandbox.routing import (
    SMALL_BODY,
    Request,
    Response,
    Router,
    error_response,
    file_response,
    json_response,
)
from upload_preds.sandbox.sample_shape import UNKNOWN, shape_of
from upload_preds.sandbox.schema import DatasetInfo, LabelRow
from upload_preds.sandbox.search import (
    MetaTerm,
    QueryError,
    Resolved,
    parse,
    render_name,
    resolve,
)
from upload_preds.sandbox.store import Store
from upload_preds.sandbox.validate import PSEUDO_STATUS_UNLABELED, check_label_body

REVIEW_PREFIX = "/_review/"
API_PREFIX = "/_review/api/"
STATIC_DIR = Path(__file__).with_name("static")
MEDIA_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp"})
#: Point clouds served beside the images (``attributes.pcd.url`` of point-cloud
#: samples and frames): PCD files and KITTI ``.bin`` sweeps, as bytes.
POINTCLOUD_SUFFIXES = frozenset({".pcd", ".bin"})
MAX_PER_PAGE = 200
SORTS = ("name", "score", "status")
# The only status a copy (like an upload) may replace without --overwrite; a
# missing label (UNLABELED) may always be written.
REPLACEABLE = frozenset({"PRELABELED"})
COPY_STATUS = "PRELABELED"


class ReviewError(Exception):
    """A request the review functions refuse; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.extra = extra


def categories_by_name(ds: DatasetInfo) -> dict[str, int]:
    cats = orjson.loads(ds.task_attributes_json).get("categories") or []
    return {c["name"]: c["id"] for c in cats if isinstance(c, dict) and "name" in c and "id" in c}


def resolve_query(store: Store, ds: DatasetInfo, text: str) -> Resolved:
    """Parse and check a query against ``ds``; :class:`~.search.QueryError` when it is wrong.

    The samples' metadata keys are read (and kept in the review index) only
    when the query has a metadata term, so count searches cost what they did.
    """
    query = parse(text)
    keys = (
        store.review.metadata_keys(ds)
        if any(isinstance(t, MetaTerm) for t in query.terms)
        else None
    )
    return resolve(
        query,
        text,
        dataset=ds.full_name,
        labelsets=ds.labelsets,
        categories=categories_by_name(ds),
        metadata_keys=keys,
    )


def find(
    store: Store, ds: DatasetInfo, resolved: Resolved, shown: list[str], **order: Any
) -> tuple[list[str], int, list[str]]:
    """Run a resolved query: the label sets loaded (``shown`` and those the terms
    name), the number of matches and one page of their uuids (``order``: the
    sort and paging arguments of :meth:`~.review_index.ReviewQueries.find_samples`)."""
    labelsets = list(dict.fromkeys([*shown, *(r.term.labelset for r in resolved.counts)]))
    terms = [
        CountTerm(r.term.labelset, r.category_id, r.term.op, r.term.value, r.term.values)
        for r in resolved.counts
    ]
    total, uuids = store.review.find_samples(
        ds,
        labelsets=labelsets,
        terms=terms,
        metadata=resolved.metadata,
        names=resolved.names,
        **order,
    )
    return labelsets, total, uuids


@dataclass(frozen=True, slots=True)
class SearchResult:
    dataset: str
    query: str
    total: int
    # (name, uuid, {"labelset.category": count, "metadata key": value}) in name order
    samples: list[tuple[str, str, dict[str, Any]]]
    columns: list[str]

    def as_json(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "query": self.query,
            "total": self.total,
            "columns": self.columns,
            "samples": [{"name": n, "uuid": u, "counts": c} for n, u, c in self.samples],
        }


def search(store: Store, ds: DatasetInfo, text: str, *, limit: int | None = None) -> SearchResult:
    """The samples of ``ds`` that match ``text``, with the counts and metadata the terms looked at."""
    resolved = resolve_query(store, ds, text)
    labelsets, total, uuids = find(store, ds, resolved, [], limit=limit)
    idx = store.review.index(ds, labelsets)
    # One column per distinct labelset.category and metadata key, in the order
    # the query names them.
    columns: dict[str, tuple[str, int | None]] = {}
    for r in resolved.counts:
        columns.setdefault(r.term.key, (r.term.labelset, r.category_id))
    meta_columns = list(dict.fromkeys(render_name(m.key) for m in resolved.metadata))
    meta_keys = list(dict.fromkeys(m.key for m in resolved.metadata))
    meta = store.review.metadata(ds) if meta_keys else {}
    samples = []
    for u in uuids:
        row: dict[str, Any] = {}
        for key, (ls, cid) in columns.items():
            entry = idx.labels[ls].get(u)
            counts = entry[2] if entry else {}
            row[key] = sum(counts.values()) if cid is None else counts.get(str(cid), 0)
        sample_meta = meta.get(u)
        for column, key in zip(meta_columns, meta_keys, strict=True):
            row[column] = sample_meta.get(key) if isinstance(sample_meta, dict) else None
        samples.append((idx.names[u], u, row))
    return SearchResult(ds.full_name, text, total, samples, [*columns, *meta_columns])


def find_sample(store: Store, ds: DatasetInfo, ref: str) -> tuple[str, str]:
    """``(uuid, name)`` of the sample of ``ds`` named or identified by ``ref``."""
    row = store.sample(ref)
    if row is not None and row[-1] == ds.id:
        return row[0], row[1]
    row = store.sample_by_name(ds, ref)
    if row is not None:
        return row[0], row[1]
    raise ReviewError(404, f"{ds.full_name} has no sample with uuid or name {ref!r}")


def copy_label(
    store: Store,
    ds: DatasetInfo,
    sample_ref: str,
    source: str,
    target: str,
    *,
    overwrite: bool = False,
) -> tuple[LabelRow, str | None, str]:
    """Copy one sample's label from ``source`` to ``target`` as PRELABELED (not committed).

    The guard of uploads: a target label with any status but PRELABELED was
    worked on by a person and is replaced only with ``overwrite``. Returns the
    stored row, the status the target had before (None: no label) and the
    sample's name. :class:`ReviewError` when anything is wrong; nothing is
    written then.
    """
    for what, ls in (("source", source), ("target", target)):
        if ls not in ds.labelsets:
            raise ReviewError(
                404,
                f"{ds.full_name} has no label set {ls!r} ({what}); "
                f"label sets: {', '.join(ds.labelsets)}",
            )
    if source == target:
        raise ReviewError(400, f"source and target are the same label set ({source!r})")
    sample_uuid, name = find_sample(store, ds, sample_ref)
    src = store.label(sample_uuid, source)
    if src is None:
        raise ReviewError(404, f"{name} has no label in {source!r}: nothing to copy")
    old = store.label(sample_uuid, target)
    old_status = old[2] if old is not None else None
    if old_status is not None and old_status not in REPLACEABLE and not overwrite:
        raise ReviewError(
            409,
            f"{name} already has a {old_status} label in {target!r}, which a person worked on; "
            "it was not replaced (pass overwrite to replace it)",
            target_status=old_status,
        )
    body = {"attributes": orjson.loads(src[3]), "label_status": COPY_STATUS, "score": src[4]}
    sample = store.sample(sample_uuid)
    shape = (
        shape_of(ds.task_type, orjson.loads(sample[2]), orjson.loads(sample[3]))
        if sample is not None
        else UNKNOWN
    )
    clean, errors = check_label_body(ds.spec, body, partial=False, shape=shape)
    if errors:
        raise ReviewError(400, f"the {source!r} label of {name} does not fit the dataset: {errors}")
    row, _ = store.put_label(
        sample_uuid, target, COPY_STATUS, orjson.dumps(clean["attributes"]).decode(), src[4]
    )
    return row, old_status, name


def image_url(attributes_json: str) -> str | None:
    """Where the page loads a sample's (first frame's) image from (see the module docstring)."""
    url: str | None = sample_media(attributes_json)["image_url"]
    return url


class Review:
    """The review routes of one sandbox (see the module docstring)."""

    def __init__(self, store: Store, media_root: Path | None) -> None:
        self.store = store
        self.media_root = media_root.resolve() if media_root is not None else None
        self.static = {p.name: p for p in STATIC_DIR.iterdir() if p.is_file()}

    def add_routes(self, r: Router) -> None:
        r.add("GET", "/", self.index)
        r.add("GET", REVIEW_PREFIX + "static/{file}", self.static_file)
        r.add("GET", REVIEW_PREFIX + "media/{path:.+}", self.media)
        r.add("GET", REVIEW_PREFIX + "points/{path:.+}", self.points)
        r.add("GET", API_PREFIX + "datasets", self.datasets)
        ds = API_PREFIX + "datasets/{owner}/{name}/"
        r.add("GET", ds + "samples", self.samples)
        r.add("GET", ds + "search", self.search)
        r.add("POST", ds + "copy", self.copy, SMALL_BODY)

    @staticmethod
    def public(path: str) -> bool:
        """Paths served without the key: the page, its files, sample images."""
        return path == "/" or path.startswith(
            (REVIEW_PREFIX + "static/", REVIEW_PREFIX + "media/", REVIEW_PREFIX + "points/")
        )

    # -- page and files --------------------------------------------------------------

    @staticmethod
    def _harden(resp: Response) -> Response:
        # No inline script, no foreign origins, no framing; the images may be
        # elsewhere when a manifest names absolute URLs.
        resp.headers["Content-Security-Policy"] = (
            "default-src 'self'; img-src 'self' data: blob: http: https:; "
            "style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'"
        )
        resp.headers["X-Content-Type-Options"] = "nosniff"
        resp.headers["Referrer-Policy"] = "no-referrer"
        return resp

    def index(self, request: Request) -> Response:
        resp = file_response(self.static["index.html"])
        resp.headers["Cache-Control"] = "no-cache"
        return self._harden(resp)

    def static_file(self, request: Request) -> Response:
        path = self.static.get(request.match_info["file"])
        if path is None:
            return error_response(404, "Not found.")
        resp = file_response(path)
        resp.headers["Cache-Control"] = "no-cache"
        return self._harden(resp)

    def _local_file(self, request: Request, suffixes: frozenset[str]) -> Path | Response:
        """The file of the manifest's folder the request names, if it may be served."""
        if self.media_root is None:
            return error_response(
                404, "This sandbox was not started from a manifest file: no images."
            )
        rel = request.match_info["path"]
        try:
            path = (self.media_root / rel).resolve()
        except (OSError, ValueError):
            return error_response(404, "Not found.")
        if (
            not path.is_relative_to(self.media_root)
            or path.suffix.lower() not in suffixes
            or not path.is_file()
        ):
            return error_response(404, "Not found.")
        return path

    def media(self, request: Request) -> Response:
        path = self._local_file(request, MEDIA_SUFFIXES | POINTCLOUD_SUFFIXES)
        if isinstance(path, Response):
            return path
        if path.suffix.lower() in POINTCLOUD_SUFFIXES:
            # Bytes, never sniffed into anything a browser would render.
            resp = file_response(path, "application/octet-stream")
            resp.headers["X-Content-Type-Options"] = "nosniff"
            return resp
        return file_response(path)

    def points(self, request: Request) -> Response | Awaitable[Response]:
        """A point cloud's x/y, subsampled, in :mod:`.pointclouds`' compact form."""
        path = self._local_file(request, POINTCLOUD_SUFFIXES)
        if isinstance(path, Response):
            return path
        return self._points_of(path)

    @staticmethod
    async def _points_of(path: Path) -> Response:
        try:
            # In a worker thread: the first view of a large ASCII scan takes a
            # fraction of a second to parse, and the loop must keep answering.
            body = await asyncio.to_thread(compact_file, path)
        except (PointCloudError, ValueError, OSError) as e:
            return error_response(422, f"cannot read the point cloud: {e}")
        return Response(
            body, 200, "application/octet-stream", {"X-Content-Type-Options": "nosniff"}
        )

    # -- API ---------------------------------------------------------------------------

    def _dataset(self, request: Request) -> DatasetInfo:
        ds = self.store.dataset(request.match_info["owner"], request.match_info["name"])
        if ds is None:
            raise ReviewError(404, "Not found: no such dataset.")
        return ds

    def datasets(self, request: Request) -> Response:
        out = []
        for ds in self.store.datasets():
            ta = orjson.loads(ds.task_attributes_json)
            out.append(
                {
                    "full_name": ds.full_name,
                    "task_type": ds.task_type,
                    "labelsets": list(ds.labelsets),
                    "categories": [
                        {"id": c.get("id"), "name": c.get("name"), "color": c.get("color")}
                        for c in ta.get("categories") or []
                        if isinstance(c, dict)
                    ],
                    "samples_count": self.store.count_samples(ds),
                    "statuses": list(STATUS_ORDER),
                }
            )
        return json_response(out)

    def samples(self, request: Request) -> Response:
        """``?a=LS&b=LS&sort=-score:LS&q=QUERY&page=N&per_page=M``."""
        try:
            return self._samples(request)
        except ReviewError as e:
            return error_response(e.status, e.message, **e.extra)
        except QueryError as e:
            return error_response(400, str(e), query_error=e.as_dict())

    def _samples(self, request: Request) -> Response:
        ds = self._dataset(request)
        q = request.query
        shown = [ls for ls in (q.get("a"), q.get("b")) if ls]
        if not shown:
            shown = list(ds.labelsets)[:2]
        for ls in shown:
            if ls not in ds.labelsets:
                raise ReviewError(404, f"{ds.full_name} has no label set {ls!r}")
        page, per_page = _int(q, "page", 1, 1, 10**9), _int(q, "per_page", 24, 1, MAX_PER_PAGE)
        sort_text = q.get("sort", "name")
        descending = sort_text.startswith("-")
        sort, _, sort_ls = sort_text.lstrip("-").partition(":")
        if sort not in SORTS or (sort != "name" and sort_ls not in shown):
            raise ReviewError(
                400,
                f"sort {sort_text!r}: use name, score:LABELSET or status:LABELSET "
                "(a shown label set), with a leading - for descending",
            )
        resolved = resolve_query(self.store, ds, q.get("q", ""))
        _, total, uuids = find(
            self.store,
            ds,
            resolved,
            shown,
            sort=sort,
            sort_labelset=sort_ls or None,
            descending=descending,
            limit=per_page,
            offset=(page - 1) * per_page,
        )
        samples = []
        for row in self.store.review.rows(uuids, shown):
            labels: dict[str, Any] = {}
            for i, ls in enumerate(shown):
                status, score, attrs, counts, updated = row[3 + 5 * i : 8 + 5 * i]
                labels[ls] = (
                    None
                    if status is None
                    else {
                        "label_status": status,
                        "score": score,
                        "updated_at": updated,
                        "attributes": orjson.Fragment(attrs),
                        "counts": orjson.Fragment(counts or "{}"),
                    }
                )
            samples.append(
                {"uuid": row[0], "name": row[1], **sample_media(row[2]), "labels": labels}
            )
        return json_response(
            {
                "dataset": ds.full_name,
                "labelsets": shown,
                "total": total,
                "page": page,
                "per_page": per_page,
                "pages": max(1, -(-total // per_page)),
                "samples": samples,
            }
        )

    def search(self, request: Request) -> Response:
        """``?q=QUERY[&limit=N]``: the same JSON as ``upload-preds-sandbox search --json``."""
        try:
            ds = self._dataset(request)
            q = request.query
            limit = _int(q, "limit", 0, 0, 10**9) or None
            return json_response(search(self.store, ds, q.get("q", ""), limit=limit).as_json())
        except ReviewError as e:
            return error_response(e.status, e.message, **e.extra)
        except QueryError as e:
            return error_response(400, str(e), query_error=e.as_dict())

    def copy(self, request: Request) -> Response:
        """``{"sample": uuid or name, "from": LS, "to": LS, "overwrite": false}``."""
        try:
            ds = self._dataset(request)
            try:
                body = orjson.loads(request.body)
            except orjson.JSONDecodeError as e:
                raise ReviewError(400, f"the body is not JSON: {e}") from None
            if not isinstance(body, dict):
                raise ReviewError(400, 'expected {"sample", "from", "to", "overwrite"}')
            for key in ("sample", "from", "to"):
                if not isinstance(body.get(key), str) or not body[key]:
                    raise ReviewError(400, f"{key!r} is required (a string)")
            overwrite = body.get("overwrite", False)
            if not isinstance(overwrite, bool):
                raise ReviewError(400, "'overwrite' must be true or false")
            row, old_status, name = copy_label(
                self.store, ds, body["sample"], body["from"], body["to"], overwrite=overwrite
            )
            self.store.commit()
        except ReviewError as e:
            return error_response(e.status, e.message, **e.extra)
        return json_response(
            {
                "sample_uuid": row[0],
                "sample_name": name,
                "labelset": row[1],
                "label_status": row[2],
                "score": row[4],
                "replaced_status": old_status or PSEUDO_STATUS_UNLABELED,
                "updated_at": row[7],
            }
        )


def _int(q: Any, key: str, default: int, lo: int, hi: int) -> int:
    raw = q.get(key)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ReviewError(400, f"{key} must be a whole number") from None
    if not lo <= value <= hi:
        raise ReviewError(400, f"{key} must be between {lo} and {hi}")
    return value
