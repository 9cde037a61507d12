"""What the API's answers mean: the client's errors, ``Retry-After``, error and throttling bodies.

:class:`~upload_preds.client.SegmentsClient` raises the errors drawn in its
module docstring, defined here: :class:`ClientError`, and under it
:class:`ApiError` (a non-2xx status, with the server's own ``detail`` and its
``Retry-After`` in seconds, :func:`parse_retry_after`) and
:class:`TransportError` (no usable answer). An error body is read in the
Django-REST-Framework style the platform uses (:func:`detail_from_body`); a
2xx whose body is the throttling message is the 429 it is
(:func:`throttled_status`); a label answer's ``updated_at`` and an S3 error
body's fields are read without trusting their shape (:func:`updated_at_of`,
:func:`xml_text`). None of these ever holds the API key: messages are built
from the method, the path and what the server said.
"""

from __future__ import annotations

import email.utils
import math
import time

import orjson

__all__ = [
    "THROTTLED_PHRASE",
    "THROTTLED_SCAN",
    "ApiError",
    "ClientError",
    "TransportError",
    "detail_from_body",
    "parse_retry_after",
    "throttled_status",
    "updated_at_of",
    "xml_text",
]

# A 2xx whose body is DRF's throttling message is not a success (the official SDK
# checks the body for this phrase); only the start of a body is scanned, so the hot
# path costs one bounded substring search per answer.
THROTTLED_PHRASE = b"Request was throttled"
THROTTLED_SCAN = 512


class ClientError(Exception):
    """Base class of errors raised by one API request."""

    def __init__(self, message: str, *, method: str, path: str) -> None:
        super().__init__(message)
        self.message = message
        self.method = method
        self.path = path

    def __str__(self) -> str:
        return self.message


class ApiError(ClientError):
    """The server answered with a status that is not 2xx.

    ``detail`` is the server's own message (or the HTTP reason phrase when the
    body has none); ``retry_after`` is in seconds, ``None`` without the header.
    """

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        method: str,
        path: str,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(f"{method} {path}: HTTP {status}: {detail}", method=method, path=path)
        self.status = status
        self.detail = detail
        self.retry_after = retry_after

    def __repr__(self) -> str:
        return f"ApiError(status={self.status}, detail={self.detail!r}, path={self.path!r})"


class TransportError(ClientError):
    """No usable answer: connection refused/reset/dropped, or a timeout.

    ``kind`` is ``"timeout"`` or ``"connection"``.
    """

    def __init__(self, kind: str, detail: str, *, method: str, path: str) -> None:
        super().__init__(f"{method} {path}: {detail}", method=method, path=path)
        self.kind = kind
        self.detail = detail

    def __repr__(self) -> str:
        return f"TransportError(kind={self.kind!r}, detail={self.detail!r}, path={self.path!r})"


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value: delta-seconds or an HTTP date.

    Returns ``None`` when the header is absent or unparsable, never a negative number.
    """
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:  # an HTTP date is always GMT; be lenient with servers
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if math.isnan(seconds) or math.isinf(seconds):
        return None
    return max(0.0, seconds)


def detail_from_body(body: bytes, reason: str) -> str:
    """The human message of an error body in DRF style, else its first line of text."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        text = body.decode("utf-8", "replace").strip()
        first = text.splitlines()[0][:300] if text else ""
        return first or reason
    if isinstance(data, dict):
        if isinstance(data.get("detail"), str) and len(data) == 1:
            return str(data["detail"])
        parts = []
        for key, value in data.items():
            if isinstance(value, list):
                msg = "; ".join(str(v) for v in value)
            else:
                msg = value if isinstance(value, str) else orjson.dumps(value).decode()
            parts.append(msg if key in ("detail", "non_field_errors") else f"{key}: {msg}")
        return "; ".join(parts) or reason
    if isinstance(data, list):
        return "; ".join(str(v) for v in data) or reason
    return str(data)


def throttled_status(status: int, data: bytes) -> int:
    """429 when a 2xx body is ``{"detail": "Request was throttled..."}``, else ``status``.

    Only a top-level ``detail`` counts: a label whose attributes happen to hold the
    phrase is still a label.
    """
    try:
        body = orjson.loads(data)
    except orjson.JSONDecodeError:
        return status
    if isinstance(body, dict):
        detail = body.get("detail")
        if isinstance(detail, str) and THROTTLED_PHRASE.decode() in detail:
            return 429
    return status


def updated_at_of(data: bytes) -> str | None:
    """``updated_at`` of a label answer, or None (no body, not JSON, no such field)."""
    try:
        label = orjson.loads(data) if data else None
    except orjson.JSONDecodeError:
        return None
    stamp = label.get("updated_at") if isinstance(label, dict) else None
    return stamp if isinstance(stamp, str) else None


def xml_text(text: str, tag: str) -> str:
    """The text of the first ``<tag>`` element of an S3 error body, or ``""``."""
    start = text.find(f"<{tag}>")
    end = text.find(f"</{tag}>", start + 1)
    return text[start + len(tag) + 2 : end].strip() if start >= 0 and end > start else ""
