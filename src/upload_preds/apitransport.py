"""The transport under :class:`~upload_preds.client.SegmentsClient`: session, send, retry, errors.

How it works
------------
:class:`ApiTransport` (which ``SegmentsClient`` extends with the API's calls)
owns one ``aiohttp.ClientSession`` whose connector is limited to
``concurrency`` connections, so every request reuses a pooled keep-alive
connection. Bodies are encoded with ``orjson``; bodies above
:data:`GZIP_THRESHOLD` bytes are gzip-compressed (``Content-Encoding: gzip``),
as the official SDK does. ``_send`` makes one request and returns its status,
body and headers, or raises :class:`~upload_preds.apianswers.TransportError`;
``_error`` turns an answer that is not 2xx into an
:class:`~upload_preds.apianswers.ApiError` (classified by status code only;
``detail`` parsed from the body, ``retry_after`` from the ``Retry-After``
header). ``_send_retrying`` and :meth:`ApiTransport.request_json` retry
transient failures (connection errors, timeouts, 408/425/429/5xx gateway
statuses) with capped exponential backoff and full jitter, honouring
``Retry-After``; a 2xx answer whose body is the throttling message is the 429
it is.

Those retried reads are paced when the client has a ``pacer`` (a
:class:`~upload_preds.ratecontrol.Pacer`): each attempt first reserves a slot,
a success and a 429 are reported to it, so many concurrent reads (name
lookups, the guard's label reads, see :mod:`upload_preds.fanout`) keep
``--rate`` and slow down together when throttled. During an upload the
engine lends the client its own pacer, so the guard's refreshes and the PUTs
share one rate.

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
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import orjson
from multidict import CIMultiDictProxy
from pydantic import SecretStr
from yarl import URL

from upload_preds.apianswers import (
    THROTTLED_PHRASE,
    THROTTLED_SCAN,
    ApiError,
    TransportError,
    detail_from_body,
    parse_retry_after,
    throttled_status,
)
from upload_preds.errors import UsageError
from upload_preds.ratecontrol import Pacer

# Bodies larger than this are gzip-compressed; small ones would only grow and cost CPU.
GZIP_THRESHOLD = 1024
try:  # not `from upload_preds import __version__`: the package __init__ may import us
    VERSION = importlib.metadata.version("upload-preds")
except importlib.metadata.PackageNotFoundError:  # running from a source tree
    VERSION = "0"
_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain"})
# Retries of the preflight's read calls (the engine has its own, for label PUTs).
TRANSIENT = frozenset({408, 425, 429, 500, 502, 503, 504})
_BACKOFF_BASE = 0.5
_BACKOFF_CAP = 10.0
_MAX_RETRY_AFTER = 60.0


def _is_loopback(host: str) -> bool:
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class ApiTransport:
    """The session, the sending and the retrying of :class:`~upload_preds.client.SegmentsClient`.

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

    # -- lifecycle ---------------------------------------------------------------------------

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
                "User-Agent": f"upload-preds/{VERSION}",
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
        transient: frozenset[int] = TRANSIENT,
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
        transient: frozenset[int] = TRANSIENT,
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
