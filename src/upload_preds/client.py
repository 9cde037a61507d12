"""Async client for the parts of the Segments.ai API that an uploader needs.

How it works
------------
One :class:`SegmentsClient` owns one ``aiohttp.ClientSession`` whose connector is
limited to ``concurrency`` connections, so every request reuses a pooled
keep-alive connection. Bodies are encoded with ``orjson``; bodies above
:data:`GZIP_THRESHOLD` bytes are gzip-compressed (``Content-Encoding: gzip``), as
the official SDK does. Each call returns parsed JSON (or, for the hot
:meth:`SegmentsClient.put_label`, only the status and the label's ``updated_at``)
or raises one of (defined in :mod:`upload_preds.apianswers`, with how error
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
(connection errors, timeouts, 408/425/429/5xx gateway statuses) with capped
exponential backoff and full jitter, honouring ``Retry-After``: a single 503
while paging 100 pages of samples must not stop a run before it starts.

Those retried reads are paced when the client has a ``pacer`` (a
:class:`~upload_preds.ratecontrol.Pacer`): each attempt first reserves a slot,
a success and a 429 are reported to it, so many concurrent reads (name
lookups, the guard's label reads, see :mod:`upload_preds.fanout`) keep
``--rate`` and slow down together when throttled. During an upload the
engine lends the client its own pacer, so the guard's refreshes and the PUTs
share one rate.

Listings (:meth:`SegmentsClient.iter_samples`) page until an empty page or a
404 "Invalid page.", never stopping on a short page (a server may cap the page
size), and halve the page size on a 502. A 2xx answer whose body is the
throttling message (``{"detail": "Request was throttled..."}``) is treated as
the 429 it is, for every call.

Why aiohttp directly, not httpx
-------------------------------
The target is "client CPU seconds per label at most 2x a bare aiohttp PUT
loop". Measured on this 2-core machine (10,000 small PUTs to a local aiohttp
server, one process each side)::

    transport                       16 in flight        64 in flight
    aiohttp 3.14 directly           3601 req/s 276 us   4062 req/s 246 us  CPU/request
    httpx 0.28 + httpx-aiohttp 0.2  1409 req/s 687 us   1324 req/s 754 us  CPU/request

httpx on top of the aiohttp transport costs 2.5-3x the CPU of aiohttp alone
(its request/response models, header normalisation and stream wrappers run per
request), so it cannot meet a 2x budget that also has to cover JSON encoding,
hashing and the journal; httpx's default transport is slower still (see
``shared/design.md``). This client therefore talks to aiohttp directly and
keeps testability by being a small class with a real-socket test server.

Security
--------
* The key is held as a pydantic ``SecretStr``; it is placed only in the
  ``Authorization: APIKey <key>`` header of the session. No repr, exception
  message or log line built here contains it, and server-provided messages are
  scrubbed of it in case a server echoes headers back.
* Plain ``http://`` is refused unless the host is loopback or
  ``allow_insecure_http`` is set.
* Redirects are never followed (``allow_redirects=False``), so the key is never
  sent to another host; a 3xx answer is an :class:`ApiError` that says so.
* aiohttp exceptions are converted to :class:`TransportError` with
  ``from None``: their request info carries the headers, so they must not end
  up in a traceback.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import ipaddress
import random
import zlib
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import aiohttp
import orjson
from multidict import CIMultiDictProxy
from pydantic import SecretStr
from yarl import URL

from upload_preds.apianswers import (
    THROTTLED_PHRASE,
    THROTTLED_SCAN,
    ApiError,
    ClientError,
    TransportError,
    detail_from_body,
    parse_retry_after,
    throttled_status,
    updated_at_of,
    xml_text,
)
from upload_preds.errors import UsageError
from upload_preds.ratecontrol import Pacer

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
# Bodies larger than this are gzip-compressed; small ones would only grow and cost CPU.
GZIP_THRESHOLD = 1024
# The lib_version sent to /api_status/: the SDK release whose API this client follows.
SDK_COMPAT_VERSION = "1.33.0"
try:  # not `from upload_preds import __version__`: the package __init__ may import us
    _VERSION = importlib.metadata.version("upload-preds")
except importlib.metadata.PackageNotFoundError:  # running from a source tree
    _VERSION = "0"
_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain"})
# Retries of the preflight's read calls (the engine has its own, for label PUTs).
_TRANSIENT = frozenset({408, 425, 429, 500, 502, 503, 504})
_LISTING_TRANSIENT = _TRANSIENT - {502}  # a listing's 502 halves the page instead
_BACKOFF_BASE = 0.5
_BACKOFF_CAP = 10.0
_MAX_RETRY_AFTER = 60.0
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


def _is_loopback(host: str) -> bool:
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _split_dataset(full_name: str) -> str:
    """``owner/name`` as a quoted URL path fragment; a UsageError when malformed."""
    owner, sep, name = full_name.partition("/")
    if not sep or not owner or not name or "/" in name:
        raise UsageError(
            f"dataset {full_name!r} is not of the form OWNER/NAME",
            hint="pass --dataset like 'my-team/street-scenes'",
        )
    return f"{quote(owner, safe='')}/{quote(name, safe='')}"


class SegmentsClient:
    """Async Segments API client; use as ``async with SegmentsClient(...) as client``.

    ``concurrency`` bounds the connection pool; ``timeout`` bounds a whole
    request (connect, send, wait, read) and ``connect_timeout`` the TCP/TLS
    connect alone.
    """

    def __init__(
        self,
        api_url: str,
        api_key: SecretStr | str,
        *,
        concurrency: int = 16,
        timeout: float = 60.0,
        connect_timeout: float = 10.0,
        allow_insecure_http: bool = False,
        gzip_threshold: int = GZIP_THRESHOLD,
        retries: int = 6,
        pacer: Pacer | None = None,
    ) -> None:
        parts = urlsplit(api_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UsageError(
                f"API URL {api_url!r} is not an http(s) URL",
                hint="use e.g. --api-url https://api.segments.ai/",
            )
        if parts.scheme == "http" and not allow_insecure_http and not _is_loopback(parts.hostname):
            raise UsageError(
                f"refusing to send the API key over plain http to {parts.hostname}",
                hint="use https://, or pass --allow-insecure-http if you really mean it",
            )
        self.api_url = api_url if api_url.endswith("/") else api_url + "/"
        # Identifies the server in the journal: scheme, host and port, never credentials.
        port = f":{parts.port}" if parts.port else ""
        self.host_key = f"{parts.scheme}://{parts.hostname}{port}{parts.path.rstrip('/')}"
        self._key = api_key if isinstance(api_key, SecretStr) else SecretStr(api_key)
        self.concurrency = concurrency
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.gzip_threshold = gzip_threshold
        self.retries = retries
        #: Paces the retried reads (see the module docstring); None: unpaced.
        self.pacer = pacer
        self._session: aiohttp.ClientSession | None = None
        # Asset files go to a presigned storage URL with no API key: a session of their own.
        self._storage_session: aiohttp.ClientSession | None = None
        self._json_headers = {"Content-Type": "application/json"}
        self._gzip_headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}

    def __repr__(self) -> str:
        return f"SegmentsClient(api_url={self.api_url!r}, concurrency={self.concurrency})"

    # -- lifecycle ---------------------------------------------------------------------------

    async def __aenter__(self) -> SegmentsClient:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def open(self) -> None:
        """Create the session (must run inside the event loop that will use it)."""
        if self._session is not None:
            return
        connector = aiohttp.TCPConnector(limit=self.concurrency, ttl_dns_cache=300)
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(
                total=self.timeout, connect=self.connect_timeout, sock_connect=self.connect_timeout
            ),
            headers={
                "Authorization": f"APIKey {self._key.get_secret_value()}",
                "X-source": "upload-preds",
                "User-Agent": f"upload-preds/{_VERSION}",
                "Accept": "application/json",
            },
            # netrc/proxy env vars could add credentials or route the key elsewhere.
            trust_env=False,
            raise_for_status=False,
        )
        # aiohttp silently re-sends an idempotent request once when a reused connection
        # drops. The engine retries with backoff and counts every attempt, so that hidden
        # second layer would only make the counts lie; it has no public switch.
        if hasattr(self._session, "_retry_connection"):
            setattr(self._session, "_retry_connection", False)  # noqa: B010

    async def aclose(self) -> None:
        if self._storage_session is not None:
            await self._storage_session.close()
            self._storage_session = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    # -- low level ---------------------------------------------------------------------------

    def _scrub(self, text: str) -> str:
        secret = self._key.get_secret_value()
        return text.replace(secret, "***") if secret else text

    async def _send(
        self, method: str, path: str, body: bytes | None = None
    ) -> tuple[int, bytes, CIMultiDictProxy[str]]:
        """One request; returns (status, body, headers) or raises TransportError."""
        session = self._session
        if session is None:
            raise RuntimeError("SegmentsClient used outside 'async with'")
        headers = None
        if body is not None:
            if len(body) > self.gzip_threshold:
                compressor = zlib.compressobj(6, zlib.DEFLATED, 31)
                body = compressor.compress(body) + compressor.flush()
                headers = self._gzip_headers
            else:
                headers = self._json_headers
        # encoded=True: paths are quoted by the callers, so yarl need not re-parse them.
        url = URL(self.api_url + path, encoded=True)
        try:
            async with session.request(
                method, url, data=body, headers=headers, allow_redirects=False
            ) as resp:
                data = await resp.read()
                status = resp.status
                if 200 <= status < 300 and THROTTLED_PHRASE in data[:THROTTLED_SCAN]:
                    status = throttled_status(status, data)
                return status, data, resp.headers
        except asyncio.TimeoutError:
            raise TransportError(
                "timeout", f"no answer within {self.timeout:g} s", method=method, path=path
            ) from None
        except aiohttp.ClientError as exc:
            detail = self._scrub(f"{type(exc).__name__}: {exc}".rstrip(": "))
            raise TransportError("connection", detail, method=method, path=path) from None

    def _error(
        self,
        method: str,
        path: str,
        status: int,
        data: bytes,
        headers: CIMultiDictProxy[str],
    ) -> ApiError:
        hdrs = headers
        if 300 <= status < 400:
            target = hdrs.get("Location", "?")
            detail = (
                f"the server redirected to {target}; redirects are not followed so that the "
                "API key is only sent to --api-url: set --api-url to the final address"
            )
        else:
            reason = {401: "Unauthorized", 403: "Forbidden", 404: "Not found"}.get(status, "")
            detail = detail_from_body(data, reason or f"HTTP {status}")
        return ApiError(
            status,
            self._scrub(detail),
            method=method,
            path=path,
            retry_after=parse_retry_after(hdrs.get("Retry-After")),
        )

    async def _send_retrying(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        *,
        transient: frozenset[int] = _TRANSIENT,
    ) -> tuple[int, bytes, CIMultiDictProxy[str]]:
        """:meth:`_send`, retrying transient failures (see the module docstring);
        ``transient`` is the set of statuses retried."""
        attempt = 0
        while True:
            pacer = self.pacer  # read each time: the engine lends its own during a run
            if pacer is not None:
                wait = pacer.reserve()
                if wait > 0:
                    await asyncio.sleep(wait)
            retry_after: float | None = None
            try:
                status, data, headers = await self._send(method, path, body)
            except TransportError:
                if attempt >= self.retries:
                    raise
                status = 0
            else:
                if pacer is not None and status < 400:
                    pacer.on_success()
                if status not in transient or attempt >= self.retries:
                    return status, data, headers
                retry_after = parse_retry_after(headers.get("Retry-After"))
                if retry_after is not None:
                    retry_after = min(retry_after, _MAX_RETRY_AFTER)
            backoff = random.uniform(0, min(_BACKOFF_CAP, _BACKOFF_BASE * 2**attempt))
            if pacer is not None and status == 429:
                # Every read slows down (and, rate unknown yet, pauses for Retry-After).
                pacer.on_throttled(retry_after, backoff)
            await asyncio.sleep(retry_after if retry_after is not None else backoff)
            attempt += 1

    async def request_json(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        transient: frozenset[int] = _TRANSIENT,
    ) -> Any:
        """Send ``body`` (JSON-encoded when not ``None``) and return the parsed JSON answer."""
        payload = None if body is None else orjson.dumps(body)
        status, data, headers = await self._send_retrying(
            method, path, payload, transient=transient
        )
        if not 200 <= status < 300:
            raise self._error(method, path, status, data, headers)
        if not data:
            return None
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            raise ApiError(
                status, "the answer is not JSON: is --api-url right?", method=method, path=path
            ) from None

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
                headers={"User-Agent": f"upload-preds/{_VERSION}"},
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
