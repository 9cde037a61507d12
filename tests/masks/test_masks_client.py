"""The asset upload of SegmentsClient against a recording server: the key stays home.

A small aiohttp server plays both the API (``POST /assets/`` answering a
presigned POST) and the storage; it records what each request carried. The
storage POST must carry the signed fields and the file, and never the API key.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import BodyPartReader, web

from upload_preds.client import ApiError, SegmentsClient

KEY = "sk-secret-key-123"


async def _run() -> tuple[list[dict[str, Any]], str | None]:
    seen: list[dict[str, Any]] = []
    state: dict[str, Any] = {}

    async def assets(request: web.Request) -> web.Response:
        body = await request.json()
        seen.append({"path": "/assets/", "auth": request.headers.get("Authorization"), **body})
        origin = str(request.url.origin())
        return web.json_response(
            {
                "uuid": "u-1",
                "url": f"{origin}/files/u-1/{body['filename']}",
                "presignedPostFields": {
                    "url": f"{origin}/storage/",
                    "fields": {"key": "assets/u-1/m.png", "policy": "p0", "x-amz-signature": "s"},
                },
            },
            status=201,
        )

    async def storage(request: web.Request) -> web.Response:
        names: list[str] = []
        data = b""
        reader = await request.multipart()
        async for part in reader:
            assert isinstance(part, BodyPartReader)
            names.append(str(part.name))
            content = await part.read()
            if part.name == "file":
                data = bytes(content)
        seen.append({"path": "/storage/", "auth": request.headers.get("Authorization"),
                     "parts": names, "data": data})  # fmt: skip
        if state.get("deny"):
            return web.Response(
                status=403,
                text="<Error><Code>AccessDenied</Code><Message>Policy expired</Message></Error>",
            )
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/assets/", assets)
    app.router.add_post("/storage/", storage)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    denied: str | None = None
    try:
        async with SegmentsClient(f"http://127.0.0.1:{port}/", KEY) as client:
            created = await client.create_asset("m.png")
            await client.upload_to_storage(created, "m.png", b"\x89PNG-bytes")
            state["deny"] = True
            try:
                await client.upload_to_storage(created, "m.png", b"x")
            except ApiError as exc:
                denied = f"{exc.status} {exc.detail}"
    finally:
        await runner.cleanup()
    return seen, denied


def test_storage_upload_sends_fields_then_file_without_the_key() -> None:
    seen, denied = asyncio.run(_run())
    api, store, _again = seen
    assert api == {"path": "/assets/", "auth": f"APIKey {KEY}", "filename": "m.png"}
    assert store["auth"] is None
    assert store["parts"] == ["key", "policy", "x-amz-signature", "file"]
    assert store["data"] == b"\x89PNG-bytes"
    assert denied == "403 storage: AccessDenied: Policy expired"
