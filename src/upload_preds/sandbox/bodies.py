"""Request bodies: read through ASGI ``receive`` under a cap, decompressed, or parsed as a form.

:func:`read_body` is called by the application only after the API key was
checked, so a client without the key never makes the sandbox read or inflate
anything. It refuses a declared ``Content-Length`` over the route's cap before
reading a byte, counts what arrives (chunked bodies declare nothing), and undoes
``Content-Encoding`` (gzip, x-gzip, deflate, identity) as the pieces arrive, at
most ``limit`` bytes out. Inflating happens in slices of :data:`SLICE` bytes
with a yield to the event loop between them, so a small body that inflates to
many megabytes (a "bomb") costs at most the cap's worth of work, spread so
other clients are served meanwhile, and is refused (413) at the cap.

:func:`parse_multipart` reads ``multipart/form-data`` (the presigned asset upload).
"""

from __future__ import annotations

import asyncio
import zlib
from dataclasses import dataclass

from upload_preds.sandbox.routing import Receive

#: Bytes inflated before yielding to the event loop (about a millisecond of work).
SLICE = 256 * 1024


class BodyTooLarge(Exception):
    """A request body past the route's cap, before or after decompression."""


class BadBody(ValueError):
    """An unknown ``Content-Encoding`` or corrupt compressed data; the message says which."""


class Disconnected(Exception):
    """The client left (or was cut off) before its body arrived in full."""


class _Inflater:
    def __init__(self, encoding: str, limit: int) -> None:
        self.encoding = encoding
        self.limit = limit
        self.size = 0
        self._d: zlib._Decompress | None = None

    async def feed(self, data: bytes, out: list[bytes]) -> None:
        if self._d is None:
            if self.encoding == "deflate":
                # zlib-wrapped per the RFC; raw deflate is what some clients send.
                wbits = zlib.MAX_WBITS if data[:1] == b"\x78" else -zlib.MAX_WBITS
            else:
                wbits = 16 + zlib.MAX_WBITS
            self._d = zlib.decompressobj(wbits)
        d = self._d
        while data:
            if d.eof:
                return  # bytes after the end of the stream are ignored, as gzip(1) does
            try:
                piece = d.decompress(data, SLICE)
            except zlib.error as e:
                raise BadBody(f"the {self.encoding} body is corrupt: {e}") from None
            self.size += len(piece)
            if self.size > self.limit:
                raise BodyTooLarge
            out.append(piece)
            data = d.unconsumed_tail
            if data:
                await asyncio.sleep(0)  # let other clients' requests run between slices

    def finish(self) -> None:
        if self._d is not None and not self._d.eof:
            raise BadBody(f"the {self.encoding} body is truncated")


async def read_body(receive: Receive, headers: dict[str, str], limit: int) -> bytes:
    """The whole request body, decoded, at most ``limit`` bytes before and after decoding.

    Raises :class:`BodyTooLarge`, :class:`BadBody` or :class:`Disconnected`.
    """
    declared = headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    encoding = headers.get("content-encoding", "").strip().lower()
    inflater: _Inflater | None = None
    if encoding in ("gzip", "x-gzip", "deflate"):
        inflater = _Inflater(encoding, limit)
    elif encoding not in ("", "identity"):
        raise BadBody(f"unsupported Content-Encoding {encoding!r}")
    out: list[bytes] = []
    received = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise Disconnected
        data: bytes = message.get("body", b"")
        received += len(data)
        if received > limit:
            raise BodyTooLarge
        if inflater is None:
            if data:
                out.append(data)
        elif data:
            await inflater.feed(data, out)
        if not message.get("more_body", False):
            break
    if inflater is not None and received:
        inflater.finish()
    return out[0] if len(out) == 1 else b"".join(out)


@dataclass(frozen=True, slots=True)
class FilePart:
    """A file field of a multipart form."""

    filename: str
    content_type: str | None
    data: bytes


def parse_multipart(body: bytes, content_type: str) -> dict[str, str | FilePart]:
    """The fields of a ``multipart/form-data`` body (first value wins).

    Raises ``ValueError`` when the content type has no boundary or the body
    does not follow it.
    """
    ctype, params = _header_params(content_type)
    boundary = params.get("boundary")
    if ctype != "multipart/form-data" or not boundary:
        raise ValueError("expected multipart/form-data with a boundary")
    delimiter = b"--" + boundary.encode("latin-1")
    # Prefix CRLF so the first delimiter looks like every other one.
    chunks = (b"\r\n" + body).split(b"\r\n" + delimiter)
    if len(chunks) < 3 or not chunks[-1].startswith(b"--"):
        raise ValueError("the multipart body does not end with its closing boundary")
    fields: dict[str, str | FilePart] = {}
    for chunk in chunks[1:-1]:
        head, sep, data = chunk.partition(b"\r\n\r\n")
        if not sep:
            raise ValueError("a multipart part has no blank line after its headers")
        headers: dict[str, str] = {}
        for line in head.split(b"\r\n"):
            key, colon, value = line.decode("utf-8", "replace").partition(":")
            if colon:
                headers[key.strip().lower()] = value.strip()
        _, disp = _header_params(headers.get("content-disposition", ""))
        name = disp.get("name")
        if name is None or name in fields:
            continue
        if "filename" in disp:
            fields[name] = FilePart(disp["filename"], headers.get("content-type"), data)
        else:
            fields[name] = data.decode("utf-8", "replace")
    return fields


def _header_params(value: str) -> tuple[str, dict[str, str]]:
    """``'form-data; name="a"; filename="b"'`` → ``('form-data', {'name': 'a', 'filename': 'b'})``."""
    main, *rest = value.split(";")
    params: dict[str, str] = {}
    for item in rest:
        k, eq, v = item.strip().partition("=")
        if eq:
            v = v.strip()
            if len(v) >= 2 and v[0] == v[-1] == '"':
                v = v[1:-1].replace('\\"', '"')
            params[k.strip().lower()] = v
    return main.strip().lower(), params
