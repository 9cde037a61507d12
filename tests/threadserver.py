"""An aiohttp server on a real socket, run on its own event loop in a background thread.

The test servers written for one test folder (the engine's scriptable server,
the preflight's page-capping proxy) need the same frame: a loop in a daemon
thread, an application answering every method and path through one handler,
bound to 127.0.0.1 on a free port, and a clean stop from the test's thread.
:class:`ThreadServer` is that frame; a server gives it its handler (and, when
it holds one, an ``on_stop`` coroutine, e.g. to close a client session).
``tests/conftest.py`` puts this folder on ``sys.path``, so it imports by name.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ThreadServer:
    """Serves ``handler`` for every request; ``url`` ends with a slash like an API base URL."""

    def __init__(
        self,
        handler: Handler,
        *,
        on_start: Callable[[], Awaitable[None]] | None = None,
        on_stop: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._handler = handler
        self._on_start = on_start
        self._on_stop = on_stop
        self._runner: web.AppRunner | None = None
        self.port = 0
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(ready,), daemon=True)
        self._thread.start()
        ready.wait(10)
        self.url = f"http://127.0.0.1:{self.port}/"

    def _run(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._start())
        ready.set()
        self.loop.run_forever()

    async def _start(self) -> None:
        if self._on_start is not None:
            await self._on_start()
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handler)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    def stop(self) -> None:
        async def shutdown() -> None:
            if self._on_stop is not None:
                await self._on_stop()
            if self._runner is not None:
                await self._runner.cleanup()

        asyncio.run_coroutine_threadsafe(shutdown(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()
