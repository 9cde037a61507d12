"""Starting and stopping a sandbox: in a background thread, or in the foreground for the CLI.

Both ways go through :func:`serve_until`: open the store, seed it from the
manifest, bind the socket, serve the ASGI application with uvicorn
(:mod:`.transport`), report the bound address through a callback, wait for a
stop event, then close connections (answering what is in flight, for up to
``Limits.shutdown_grace``, 2 s) and the store (which checkpoints the WAL).

:func:`start_sandbox` runs that coroutine on a new event loop in a daemon
thread and blocks until the port is bound (or re-raises the start-up error in
the caller), returning a :class:`SandboxHandle`. The handle talks to the loop
only through ``asyncio.run_coroutine_threadsafe``, so faults and stats can be
changed and read from any thread while requests are served.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, TypeVar

import platformdirs

from upload_preds.sandbox.app import Sandbox
from upload_preds.sandbox.faults import Faults
from upload_preds.sandbox.manifest import Manifest, ManifestError, load_manifest, parse_manifest
from upload_preds.sandbox.store import Store
from upload_preds.sandbox.transport import Limits, bind, serve

KEY_ENV = "UPLOAD_PREDS_SANDBOX_KEY"
MANIFEST_NAME = "dataset.json"
KeySource = Literal["argument", "environment", "generated"]
T = TypeVar("T")


def default_db_path() -> Path:
    """Where the CLI keeps its database unless ``--db`` says otherwise."""
    return Path(platformdirs.user_state_dir("upload-preds")) / "sandbox.sqlite3"


def default_data_path() -> Path:
    """The demo manifest ``sample_data/dataset.json``.

    Looked for in the current directory, then in the source checkout this
    package lives in (``src/upload_preds/sandbox`` → repository root), then
    as the copy an installed wheel carries (``demo_dataset.json`` beside this
    module, see pyproject.toml). Not found: :class:`ManifestError` says to pass
    ``--data``.
    """
    here = Path(__file__).resolve()
    candidates = [
        Path.cwd() / "sample_data" / MANIFEST_NAME,
        here.parents[3] / "sample_data" / MANIFEST_NAME,
        here.parent / "demo_dataset.json",
    ]
    for c in candidates:
        if c.is_file():
            return c
    raise ManifestError(
        "no dataset manifest given and sample_data/dataset.json was not found "
        f"(looked in {', '.join(str(c.parent) for c in candidates)}); "
        "pass --data FILE (the format is in the README)"
    )


def resolve_api_key(api_key: str | None) -> tuple[str, KeySource]:
    """The key and where it came from: the argument, else the environment, else a fresh one."""
    if api_key:
        return api_key, "argument"
    env = os.environ.get(KEY_ENV)
    if env:
        return env, "environment"
    return secrets.token_urlsafe(24), "generated"


def resolve_manifest(data: Path | str | Mapping[str, Any] | None) -> Manifest:
    if data is None:
        return load_manifest(default_data_path())
    if isinstance(data, Mapping):
        return parse_manifest(dict(data))
    return load_manifest(data)


@dataclass(frozen=True, slots=True)
class Started:
    """What :func:`serve_until` reports once it listens."""

    url: str
    host: str
    port: int
    db_path: str
    seeded: tuple[int, int, int, int]  # datasets, label sets, samples, labels added


async def serve_until(
    *,
    manifest: Manifest,
    db: str,
    api_key: str,
    host: str,
    port: int,
    faults: Faults | None,
    seed: int | None,
    stop: asyncio.Event,
    on_started: Callable[[Started, Sandbox], None],
    max_page_size: int | None = None,
    limits: Limits | None = None,
) -> None:
    """Serve until ``stop`` is set; everything is closed on the way out."""
    if db != ":memory:":
        Path(db).parent.mkdir(parents=True, exist_ok=True)
    store = Store(db)
    try:
        result = store.seed(manifest)
        source = Path(manifest.path)
        # Relative image URLs of the manifest's samples are relative to its folder.
        media_root = source.parent if source.is_file() else None
        sandbox = Sandbox(store, api_key, faults, seed, media_root, max_page_size)
        sock = bind(host, port)
        bound: Any = sock.getsockname()
        bound_host, bound_port = str(bound[0]), int(bound[1])
        sandbox.bind(bound_host, bound_port)
        url_host = f"[{bound_host}]" if ":" in bound_host else bound_host
        url = f"http://{url_host}:{bound_port}/"
        started = Started(
            url,
            bound_host,
            bound_port,
            db,
            (result.datasets, result.labelsets, result.samples, result.labels),
        )
        await serve(sandbox, sock, limits or Limits(), stop, lambda: on_started(started, sandbox))
    finally:
        store.close()


class SandboxHandle:
    """A sandbox serving from a background thread. Use as a context manager or call :meth:`stop`."""

    def __init__(
        self,
        *,
        url: str,
        api_key: str,
        key_source: KeySource,
        db_path: str,
        loop: asyncio.AbstractEventLoop,
        stop_event: asyncio.Event,
        thread: threading.Thread,
        sandbox: Sandbox,
    ) -> None:
        self.url = url
        self.api_key = api_key
        self.key_source = key_source
        self.db_path = db_path
        self._loop = loop
        self._stop_event = stop_event
        self._thread = thread
        self._sandbox = sandbox

    def __repr__(self) -> str:
        return f"<SandboxHandle {self.url} db={self.db_path}>"

    def _on_loop(self, fn: Callable[[], T]) -> T:
        async def call() -> T:
            return fn()

        fut: Future[T] = asyncio.run_coroutine_threadsafe(call(), self._loop)
        return fut.result(timeout=30)

    def set_faults(self, faults: Faults, seed: int | None = None) -> None:
        """Replace the fault setting (the random stream restarts from ``seed``)."""
        self._on_loop(lambda: self._sandbox.set_faults(faults, seed))

    @property
    def faults(self) -> Faults:
        return self._sandbox.faults

    def stats(self) -> dict[str, Any]:
        """What ``GET /_sandbox/stats`` answers, without going through HTTP."""
        return self._on_loop(self._sandbox.stats)

    def reset_stats(self) -> None:
        self._on_loop(self._sandbox.counts.clear)

    def stop(self) -> None:
        """Close connections and the database, and end the thread. Idempotent."""
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop_event.set)
            self._thread.join(timeout=30)

    def __enter__(self) -> SandboxHandle:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def start_sandbox(
    *,
    data: Path | str | Mapping[str, Any] | None = None,
    db: str | Path = ":memory:",
    api_key: str | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    faults: Faults | None = None,
    seed: int | None = None,
    max_page_size: int | None = None,
    limits: Limits | None = None,
) -> SandboxHandle:
    """Start a sandbox on a background thread and return once it accepts connections.

    ``data``: a manifest file, an already parsed manifest, or None for the demo
    manifest. ``db``: a SQLite file (reused if it exists) or ``":memory:"``.
    ``api_key``: None takes ``UPLOAD_PREDS_SANDBOX_KEY``, else a random key
    (read it from ``handle.api_key``). ``port=0`` picks a free port.
    Raises :class:`ManifestError` for a bad manifest and ``OSError`` when the
    address cannot be bound. ``max_page_size``: serve at most this many items
    per page of a listing, whatever ``per_page`` asks (None: no cap), as the
    platform may; raises ``ValueError`` when it is below 1. ``limits``: what one
    client may take (head size, deadlines, connections; :class:`~.transport.Limits`).
    """
    if max_page_size is not None and max_page_size < 1:
        raise ValueError(f"max_page_size must be 1 or more, got {max_page_size}")
    manifest = resolve_manifest(data)
    key, source = resolve_api_key(api_key)
    db_str = str(db)
    ready = threading.Event()
    box: dict[str, Any] = {}
    loop = asyncio.new_event_loop()

    def on_started(started: Started, sandbox: Sandbox) -> None:
        box["started"], box["sandbox"] = started, sandbox
        ready.set()

    async def main() -> None:
        box["stop"] = asyncio.Event()
        await serve_until(
            manifest=manifest,
            db=db_str,
            api_key=key,
            host=host,
            port=port,
            faults=faults,
            seed=seed,
            stop=box["stop"],
            on_started=on_started,
            max_page_size=max_page_size,
            limits=limits,
        )

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(main())
        except BaseException as e:
            box["error"] = e
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()
            ready.set()

    thread = threading.Thread(target=run, name=f"upload-preds-sandbox:{port}", daemon=True)
    thread.start()
    ready.wait()
    if "error" in box:
        thread.join()
        raise box["error"]
    started: Started = box["started"]
    return SandboxHandle(
        url=started.url,
        api_key=key,
        key_source=source,
        db_path=db_str,
        loop=loop,
        stop_event=box["stop"],
        thread=thread,
        sandbox=box["sandbox"],
    )
