"""The ``upload-preds-sandbox`` command: ``serve`` (the default) runs the sandbox in the foreground.

A typer app with one command today; more (``search``, ...) will join it. A
bare ``upload-preds-sandbox`` or one that starts with an option
(``upload-preds-sandbox --port 9000``) is routed to ``serve`` by :func:`main`
before typer parses it, so ``serve`` behaves as the default command.

Start-up reports one line on stderr: the URL, the database, what was seeded
and where the key came from (the key itself only when it was generated).
``--ready-file`` additionally writes ``{"url", "db", "pid", "key_source"}`` as
JSON once the port is bound, for scripts and tests that start the sandbox as
a subprocess. SIGINT and SIGTERM stop it cleanly (connections closed, WAL
checkpointed, exit 0). Every usage or setup problem is one message and exit
code 2, never a traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from pathlib import Path
from typing import Annotated

import typer

from upload_preds.errors import ExitCode
from upload_preds.sandbox.app import Sandbox
from upload_preds.sandbox.faults import Faults
from upload_preds.sandbox.manifest import ManifestError, load_manifest
from upload_preds.sandbox.server import (
    KEY_ENV,
    Started,
    default_data_path,
    default_db_path,
    resolve_api_key,
    serve_until,
)

PROG = "upload-preds-sandbox"
DEFAULT_PORT = 8787

app = typer.Typer(
    add_completion=False,
    no_args_is_help=False,
    help="A local stand-in for the Segments.ai API, for trying upload-preds safely. "
    "Without a command it runs `serve`.",
)


@app.callback()
def _group() -> None:
    """A local stand-in for the Segments.ai API. Without a command it runs `serve`."""


def _fail(message: str) -> typer.Exit:
    typer.echo(f"{PROG}: error: {message}", err=True)
    return typer.Exit(int(ExitCode.USAGE))


@app.command()
def serve(
    data: Annotated[
        Path | None,
        typer.Option(
            help="Seed manifest (JSON). Default: sample_data/dataset.json.", show_default=False
        ),
    ] = None,
    db: Annotated[
        str | None,
        typer.Option(
            help="SQLite file, reused across runs; ':memory:' for a throwaway store. "
            "Default: sandbox.sqlite3 in the user state directory.",
            show_default=False,
        ),
    ] = None,
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(min=0, max=65535, help="Port to bind; 0 picks a free one.")
    ] = DEFAULT_PORT,
    api_key: Annotated[
        str | None,
        typer.Option(
            help=f"Key clients must send. Default: ${KEY_ENV}, else a random one printed once.",
            show_default=False,
        ),
    ] = None,
    seed: Annotated[
        int | None, typer.Option(help="Seed of the fault random stream (reproducible faults).")
    ] = None,
    latency_ms: Annotated[float, typer.Option(min=0, help="Delay added to every response.")] = 0.0,
    jitter_ms: Annotated[
        float, typer.Option(min=0, help="Extra delay, uniform in [0, jitter].")
    ] = 0.0,
    error_rate: Annotated[
        float, typer.Option(min=0, max=1, help="Share of requests answered 500/502/503.")
    ] = 0.0,
    throttle_rps: Annotated[
        float | None,
        typer.Option(min=0, help="Requests per second past which the sandbox answers 429."),
    ] = None,
    drop_rate: Annotated[
        float,
        typer.Option(
            min=0,
            max=1,
            help="Share of connections closed without an answer (half after the write).",
        ),
    ] = 0.0,
    ready_file: Annotated[
        Path | None,
        typer.Option(help="Write {url, db, pid, key_source} as JSON here once listening."),
    ] = None,
) -> None:
    """Serve the sandbox API until Ctrl-C or SIGTERM."""
    try:
        faults = Faults(
            latency_ms=latency_ms,
            jitter_ms=jitter_ms,
            error_rate=error_rate,
            throttle_rps=throttle_rps,
            drop_rate=drop_rate,
        )
    except ValueError as e:
        raise _fail(str(e)) from None
    try:
        manifest = load_manifest(data if data is not None else default_data_path())
    except ManifestError as e:
        raise _fail(f"{e}") from None
    db_path = db if db is not None else str(default_db_path())
    key, source = resolve_api_key(api_key)

    def on_started(started: Started, sandbox: Sandbox) -> None:
        typer.echo(_start_line(started, key, source, faults, seed), err=True)
        if ready_file is not None:
            tmp = ready_file.with_name(ready_file.name + ".tmp")
            tmp.write_text(
                json.dumps(
                    {
                        "url": started.url,
                        "db": started.db_path,
                        "pid": os.getpid(),
                        "key_source": source,
                    }
                ),
                encoding="utf-8",
            )
            tmp.replace(ready_file)

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            # Not available on Windows' event loop; there Ctrl-C raises KeyboardInterrupt.
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        await serve_until(
            manifest=manifest,
            db=db_path,
            api_key=key,
            host=host,
            port=port,
            faults=faults,
            seed=seed,
            stop=stop,
            on_started=on_started,
        )

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        pass
    except OSError as e:
        raise _fail(f"cannot serve on {host}:{port} with db {db_path}: {e.strerror or e}") from None
    except Exception as e:  # sqlite3.DatabaseError and the like: a db that is not ours
        raise _fail(f"cannot use {db_path}: {e}") from None
    typer.echo(f"{PROG}: stopped", err=True)


def _start_line(started: Started, key: str, source: str, faults: Faults, seed: int | None) -> str:
    d, ls, s, lab = started.seeded
    seeded = f"seeded {d} datasets, {ls} label sets, {s} samples, {lab} labels"
    if source == "generated":
        key_text = f"key {key} (generated; pass --api-key or set {KEY_ENV} to keep one)"
    elif source == "environment":
        key_text = f"key from ${KEY_ENV}"
    else:
        key_text = "key from --api-key"
    parts = [f"{PROG}: serving {started.url}", f"db {started.db_path} ({seeded})", key_text]
    if faults.active:
        active = {k: v for k, v in faults.as_dict().items() if v}
        parts.append(
            "faults " + ", ".join(f"{k}={v}" for k, v in active.items()) + f", seed={seed}"
        )
    return " | ".join(parts)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point; routes a bare or option-first invocation to ``serve``."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or (args[0].startswith("-") and args[0] not in ("--help", "-h")):
        args.insert(0, "serve")
    app(args=args, prog_name=PROG)


if __name__ == "__main__":
    main()
