"""Async client for the parts of the Segments.ai API that an uploader needs.

How it works
------------
:class:`SegmentsClient` holds the API's calls (datasets, label sets, samples,
labels, assets); what sends them (the pooled ``aiohttp`` session, gzip,
retries, pacing, error mapping, and why aiohttp directly) is the
:class:`~upload_preds.apitransport.ApiTransport` it extends. Each call returns
parsed JSON (or, for the hot :meth:`SegmentsClient.put_label`, only the status
and the label's ``updated_at``) or raises one of (defined in :mod:`upload_preds.apianswers`, with how error
and throttling bodies are read)::

    ClientError                   base of what a single request can raise
    ├── ApiError                  the server answered with a non-2xx status
    │                             .status .detail .retry_after .method .path
    └── TransportError            no usable answer: refused, reset, dropped, timed out

Errors are classified by status code only; ``detail`` is the human message
parsed from a Django-REST-Framework style body (``{"detail": ".."}`` or
``{"field": [".."]}``) and ``retry_after`` comes from the ``Retry-After``
header (delta-seconds or an HTTP date). Label PUTs are not retried here: the
engine decides, because those retries need the shared pacer and the abort
rules. The few read calls of the preflight (:meth:`SegmentsClient.request_json`
and :meth:`SegmentsClient.check_key`) retry transient failures themselves
(connection errors, timeouts, 408/425/429/5xx gateway statuses; how: see
:mod:`upload_preds.apitransport`): a single 503
while paging 100 pages of samples must not stop a run before it starts.

Listings (:meth:`SegmentsClient.iter_samples`) page until an empty page or a
404 "Invalid page.", never stopping on a short page (a server may cap the page
size), and halve the page size on a 502. A 2xx answer whose body is the
throttling message (``{"detail": "Request was throttled..."}``) is treated as
the 429 it is, for every call.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import aiohttp
import orjson

from upload_preds.apianswers import (
    ApiError,
    ClientError,
    TransportError,
    parse_retry_after,
    updated_at_of,
    xml_text,
)
from upload_preds.apitransport import GZIP_THRESHOLD, TRANSIENT, VERSION, ApiTransport
from upload_preds.errors import UsageError

__all__ = [
    "DEFAULT_API_URL",
    "GZIP_THRESHOLD",
    "ApiError",
    "ClientError",
    "SegmentsClient",
    "TransportError",
    "parse_retry_after",
]

DEFAULT_API_URL = "https://api.segments.ai/"
# The lib_version sent to /api_status/: the SDK release whose API this client follows.
SDK_COMPAT_VERSION = "1.33.0"
_LISTING_TRANSIENT = TRANSIENT - {502}  # a listing's 502 halves the page instead
# Listings: a 502 means "page too large" as often as "gateway hiccup" (the SDK's
# advice on a 502 is a smaller page), so the page size is halved down to this.
MIN_PAGE_SIZE = 10


def _smaller_page(size: int, offset: int) -> int | None:
    """A page size at most half of ``size`` that divides ``offset`` (so page
    ``offset // n + 1`` starts at the next unseen sample); None below the floor."""
    n = size // 2
    while n >= MIN_PAGE_SIZE:
        if offset % n == 0:
            return n
        n -= 1
    return None


def _split_dataset(full_name: str) -> str:
    """``owner/name`` as a quoted URL path fragment; a UsageError when malformed."""
    owner, sep, name = full_name.partition("/")
    if not sep or not owner or not name or "/" in name:
        raise UsageError(
            f"dataset {full_name!r} is not of the form OWNER/NAME",
            hint="pass --dataset like 'my-team/street-scenes'",
        )
    return f"{quote(owner, safe='')}/{quote(name, safe='')}"


class SegmentsClient(ApiTransport):
    """Async Segments API client; use as ``async with SegmentsClient(...) as client``.

    ``concurrency`` bounds the connection pool; ``timeout`` bounds a whole
    request (connect, send, wait, read) and ``connect_timeout`` the TCP/TLS
    connect alone (see :class:`~upload_preds.apitransport.ApiTransport`).
    """

    def __repr__(self) -> str:
        return f"SegmentsClient(api_url={self.api_url!r}, concurrency={self.concurrency})"

    # -- lifecycle ---------------------------------------------------------------------------

    async def __aenter__(self) -> SegmentsClient:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- API ---------------------------------------------------------------------------------

    async def check_key(self) -> None:
        """``GET /api_status/``: raises ApiError (401/403 for a bad key) unless the key works.

        A 426 ("upgrade your SDK") is not an error for this client.
        """
        path = "api_status/?" + urlencode({"lib_version": SDK_COMPAT_VERSION})
        status, data, headers = await self._send_retrying("GET", path)
        if not (200 <= status < 300 or status == 426):
            raise self._error("GET", path, status, data, headers)

    async def get_dataset(self, full_name: str) -> dict[str, Any]:
        result: dict[str, Any] = await self.request_json(
            "GET", f"datasets/{_split_dataset(full_name)}/"
        )
        return result

    async def list_labelsets(self, full_name: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = await self.request_json(
            "GET", f"datasets/{_split_dataset(full_name)}/labelsets/"
        )
        return result

    async def create_labelset(
        self, full_name: str, name: str, description: str = ""
    ) -> dict[str, Any]:
        body = {"name": name, "description": description, "attributes": "{}"}
        result: dict[str, Any] = await self.request_json(
            "POST", f"datasets/{_split_dataset(full_name)}/labelsets/", body
        )
        return result

    async def get_sample(self, uuid: str) -> dict[str, Any]:
        result: dict[str, Any] = await self.request_json("GET", f"samples/{quote(uuid, safe='')}/")
        return result

    async def iter_samples(
        self,
        full_name: str,
        *,
        labelset: str | None = None,
        label_status: Sequence[str] | None = None,
        name__contains: str | None = None,
        per_page: int = 1000,
        ends_below: int = 0,
    ) -> AsyncIterator[dict[str, Any]]:
        """Every sample of a dataset, page by page, sorted by name.

        The listing has no count and a server may cap ``per_page`` below what
        was asked, so a short page proves nothing: pages are read until an
        empty one or a 404 "Invalid page.". ``sort=name`` (as the SDK sends)
        keeps the order stable from one page to the next. A 502 halves the
        page size (down to :data:`MIN_PAGE_SIZE`) and asks again from the
        same sample on; other transient failures are retried as usual.

        ``ends_below=2`` (a name lookup) takes a first page of 0 or 1 samples
        as the whole answer: no server caps a page at one sample, and a lookup
        of a unique name then costs one request instead of two.
        """
        base = f"datasets/{_split_dataset(full_name)}/samples/"
        query: dict[str, str] = {}
        if labelset is not None:
            query["labelset"] = labelset
        if label_status:
            query["label_status"] = ",".join(label_status)
        if name__contains is not None:
            query["name__contains"] = name__contains
        query["sort"] = "name"
        page = 1
        received = 0  # samples before this page: every earlier page was full
        served = per_page  # the page size the server really uses (it may cap ours)
        while True:
            path = base + "?" + urlencode({**query, "per_page": str(per_page), "page": str(page)})
            try:
                samples = await self.request_json("GET", path, transient=_LISTING_TRANSIENT)
            except ApiError as exc:
                if exc.status == 404 and page > 1:
                    return  # "Invalid page.": past the last sample
                if exc.status != 502:
                    raise
                smaller = _smaller_page(min(per_page, served), received)
                if smaller is not None:
                    per_page, page = smaller, received // smaller + 1
                    served = per_page
                    continue
                # The page cannot shrink further: retry it like any transient failure.
                samples = await self.request_json("GET", path)
            if not isinstance(samples, list):
                raise ApiError(200, "the sample list is not a JSON array", method="GET", path=path)
            if not samples:
                return
            if page == 1:
                served = len(samples)
            received += len(samples)
            for sample in samples:
                yield sample
            if page == 1 and len(samples) < ends_below:
                return
            page += 1

    def label_path(self, sample_uuid: str, labelset: str) -> str:
        return f"labels/{quote(sample_uuid, safe='')}/{quote(labelset, safe='')}/"

    async def put_label(
        self, sample_uuid: str, labelset: str, body: Mapping[str, Any] | bytes
    ) -> tuple[int, str | None]:
        """``PUT /labels/{uuid}/{labelset}/`` (an upsert); returns the 2xx status and
        the label's ``updated_at`` as the server wrote it (None when it gave none).

        ``updated_at`` is what the journal records to recognise, on a rerun, that
        the label on the server is still the one this PUT wrote.
        """
        payload = body if isinstance(body, bytes) else orjson.dumps(body)
        path = self.label_path(sample_uuid, labelset)
        status, data, headers = await self._send("PUT", path, payload)
        if not 200 <= status < 300:
            raise self._error("PUT", path, status, data, headers)
        return status, updated_at_of(data)

    async def get_label_status(self, sample_uuid: str, labelset: str) -> str | None:
        """The status of a sample's label in ``labelset``; None when it has none (404).

        Not retried here: ``--verify`` calls it from the engine, under its retry rules.
        """
        path = self.label_path(sample_uuid, labelset)
        status, data, headers = await self._send("GET", path)
        if status == 404:
            return None
        if not 200 <= status < 300:
            raise self._error("GET", path, status, data, headers)
        try:
            label = orjson.loads(data)
        except orjson.JSONDecodeError:
            label = None
        found = label.get("label_status") if isinstance(label, dict) else None
        if not isinstance(found, str):
            raise ApiError(status, "the label has no label_status", method="GET", path=path)
        return found

    async def create_asset(self, filename: str) -> dict[str, Any]:
        """``POST /assets/ {"filename"}`` (not retried here: the engine retries it).

        Returns ``{"uuid", "url", "presignedPostFields": {"url", "fields"}}``.
        """
        path = "assets/"
        status, data, headers = await self._send("POST", path, orjson.dumps({"filename": filename}))
        if not 200 <= status < 300:
            raise self._error("POST", path, status, data, headers)
        try:
            answer = orjson.loads(data)
            post = answer["presignedPostFields"]
            if not (
                isinstance(answer["url"], str)
                and isinstance(post["url"], str)
                and isinstance(post["fields"], dict)
            ):
                raise TypeError
        except (orjson.JSONDecodeError, KeyError, TypeError):
            raise ApiError(
                status,
                "the asset answer has no url and presignedPostFields {url, fields}",
                method="POST",
                path=path,
            ) from None
        result: dict[str, Any] = answer
        return result

    async def upload_to_storage(self, asset: Mapping[str, Any], filename: str, data: bytes) -> None:
        """The presigned multipart POST of an asset's file to its storage (S3 on the
        platform): the signed ``fields`` then the file, WITHOUT the API key (the
        storage session has no ``Authorization`` header; the key must never reach
        the storage host). Not retried here: the engine retries it.
        """
        post = asset["presignedPostFields"]
        url = str(post["url"])
        session = self._storage_session
        if session is None:
            if self._session is None:
                raise RuntimeError("SegmentsClient used outside 'async with'")
            session = self._storage_session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(
                    total=self.timeout,
                    connect=self.connect_timeout,
                    sock_connect=self.connect_timeout,
                ),
                headers={"User-Agent": f"upload-preds/{VERSION}"},
                trust_env=False,
            )
        form = aiohttp.FormData()
        for name, value in post["fields"].items():
            form.add_field(str(name), str(value))
        form.add_field("file", data, filename=filename, content_type="image/png")
        where = urlsplit(url).path or "/"
        try:
            async with session.post(url, data=form, allow_redirects=False) as resp:
                body = await resp.read()
                status = resp.status
                retry_after = parse_retry_after(resp.headers.get("Retry-After"))
        except asyncio.TimeoutError:
            raise TransportError(
                "timeout", f"no answer within {self.timeout:g} s", method="POST", path=where
            ) from None
        except aiohttp.ClientError as exc:
            detail = self._scrub(f"{type(exc).__name__}: {exc}".rstrip(": "))
            raise TransportError("connection", detail, method="POST", path=where) from None
        if not 200 <= status < 300:
            text = body.decode("utf-8", "replace")
            # S3 answers XML: <Error><Code>..</Code><Message>..</Message></Error>.
            code = xml_text(text, "Code")
            message = xml_text(text, "Message") or text.strip()[:200] or f"HTTP {status}"
            detail = f"storage: {code + ': ' if code else ''}{message}"
            raise ApiError(
                status, self._scrub(detail), method="POST", path=where, retry_after=retry_after
            )

    async def find_label(self, sample_uuid: str, labelset: str) -> dict[str, Any] | None:
        """``GET /labels/{uuid}/{labelset}/``, retried and paced like the other reads;
        None when the sample has no label in that set (404)."""
        path = self.label_path(sample_uuid, labelset)
        try:
            label = await self.request_json("GET", path)
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise
        if not isinstance(label, dict):
            raise ApiError(200, "the label is not a JSON object", method="GET", path=path)
        return label

    async def get_label(self, sample_uuid: str, labelset: str) -> dict[str, Any]:
        result: dict[str, Any] = await self.request_json(
            "GET", self.label_path(sample_uuid, labelset)
        )
        return result
