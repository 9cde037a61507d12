"""The ``upload-preds-sandbox`` command: ``serve`` (the default), ``search`` and ``copy``.

``serve`` runs the sandbox in the foreground. ``search`` and ``copy`` open
the sandbox's database directly (``--db``, default the one ``serve`` uses),
so they work whether or not a sandbox is running on it (SQLite in WAL mode
lets them read and write beside a running server), and run the very code the
review page's API runs (:mod:`.review`). A bare ``upload-preds-sandbox`` or one that starts with an option
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
from typing import Annotated, Any

import typer

from upload_preds.errors import ExitCode
from upload_preds.sandbox.app import Sandbox
from upload_preds.sandbox.faults import Faults
from upload_preds.sandbox.manifest import ManifestError, load_manifest
from upload_preds.sandbox.review import ReviewError, SearchResult, copy_label, search
from upload_preds.sandbox.schema import DatasetInfo
from upload_preds.sandbox.search import QueryError
from upload_preds.sandbox.server import (
    KEY_ENV,
    Started,
    default_data_path,
    default_db_path,
    resolve_api_key,
    serve_until,
)
from upload_preds.sandbox.store import Store

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
    max_page_size: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Serve at most N items per page of a listing, whatever per_page asks "
            "(as the platform may). Default: no cap.",
            show_default=False,
        ),
    ] = None,
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
            max_page_size=max_page_size,
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


DbOpt = Annotated[
    str | None,
    typer.Option(
        help="The sandbox's SQLite file. Default: sandbox.sqlite3 in the user state directory "
        "(the one `serve` uses).",
        show_default=False,
    ),
]
DatasetOpt = Annotated[str, typer.Option("--dataset", "-d", help="The dataset, as OWNER/NAME.")]


def _open_store(db: str | None) -> Store:
    path = db if db is not None else str(default_db_path())
    if path == ":memory:" or not Path(path).is_file():
        raise _fail(
            f"no sandbox database at {path}; run `{PROG}` once to create it, "
            "or pass --db with the file `serve` printed"
        )
    try:
        return Store(path)
    except Exception as e:  # sqlite3.DatabaseError: not a sandbox database
        raise _fail(f"cannot use {path}: {e}") from None


def _dataset(store: Store, full_name: str) -> DatasetInfo:
    owner, _, name = full_name.partition("/")
    ds = store.dataset(owner, name)
    if ds is None:
        known = ", ".join(d.full_name for d in store.datasets()) or "none"
        raise _fail(f"no dataset {full_name!r} in {store.path} (datasets: {known})")
    return ds


def _cell(value: Any) -> str:
    """A count or a metadata value as the table shows it (metadata as JSON: text quoted)."""
    return (
        str(value)
        if isinstance(value, int) and not isinstance(value, bool)
        else (json.dumps(value, ensure_ascii=False))
    )


def _print_table(result: SearchResult) -> None:
    header = ["name", "uuid", *result.columns]
    rows = [[n, u, *(_cell(c[k]) for k in result.columns)] for n, u, c in result.samples]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for r in [header, *rows]:
        typer.echo("  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip())


@app.command("search")
def search_command(
    query: Annotated[
        str,
        typer.Argument(
            help="Terms, all must hold: LABELSET.CATEGORY:OP N (OP: > >= < <= =) or "
            "LABELSET.total_count:OP N, KEY:VALUE / KEY:>=N / KEY:[A,B] for sample "
            "metadata, a bare word for the sample name; e.g. "
            '"ground-truth.car:>0 predictions.total_count:=0 camera:front". Quote names '
            "with spaces or dots in double quotes: '\"model.v3\".car:>0'.",
            show_default=False,
        ),
    ],
    dataset: DatasetOpt,
    db: DbOpt = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print JSON: {dataset, query, total, columns, samples}.")
    ] = False,
    limit: Annotated[
        int, typer.Option(min=0, help="Print at most this many samples (0: all).")
    ] = 0,
) -> None:
    """List the samples that match a search (name, uuid and the counts the terms compare)."""
    store = _open_store(db)
    try:
        ds = _dataset(store, dataset)
        in_dataset = store.count_samples(ds)
        try:
            result = search(store, ds, query, limit=limit or None)
        except QueryError as e:
            raise _fail(f"invalid query, column {e.start + 1}:\n{e.pointer()}") from None
    finally:
        store.close()
    if as_json:
        typer.echo(json.dumps(result.as_json(), ensure_ascii=False))
        return
    _print_table(result)
    shown = len(result.samples)
    more = f" (showing {shown})" if shown < result.total else ""
    typer.echo(f"{result.total} of {in_dataset} samples in {ds.full_name} match{more}", err=True)


@app.command("copy")
def copy_command(
    sample: Annotated[str, typer.Argument(help="The sample's uuid or name.", show_default=False)],
    dataset: DatasetOpt,
    source: Annotated[str, typer.Option("--from", help="The label set to copy from.")],
    target: Annotated[str, typer.Option("--to", help="The label set to copy into.")],
    db: DbOpt = None,
    overwrite: Annotated[
        bool,
        typer.Option(
            help="Replace the target label even when a person worked on it "
            "(any status but PRELABELED). Off by default."
        ),
    ] = False,
) -> None:
    """Copy one sample's label into another label set as PRELABELED (the upload guard applies)."""
    store = _open_store(db)
    try:
        ds = _dataset(store, dataset)
        try:
            row, old, name = copy_label(store, ds, sample, source, target, overwrite=overwrite)
            store.commit()
        except ReviewError as e:
            typer.echo(f"{PROG}: error: {e.message}", err=True)
            # Refused by the guard: exit 1, like rows an upload skipped; else a usage error.
            raise typer.Exit(1 if e.status == 409 else int(ExitCode.USAGE)) from None
    finally:
        store.close()
    replaced = f", replacing a {old} label" if old else ""
    typer.echo(
        f"{PROG}: copied {name} ({row[0]}) from {source!r} to {target!r} as {row[2]}{replaced}",
        err=True,
    )


def _start_line(started: Started, key: str, source: str, faults: Faults, seed: int | None) -> str:
    d, ls, s, lab = started.seeded
    seeded = f"seeded {d} datasets, {ls} label sets, {s} samples, {lab} labels"
    if source == "generated":
        key_text = f"key {key} (generated; pass --api-key or set {KEY_ENV} to keep one)"
    elif source == "environment":
        key_text = f"key from ${KEY_ENV}"
    else:
        key_text = "key from --api-key"
    parts = [
        f"{PROG}: serving {started.url}",
        f"db {started.db_path} ({seeded})",
        key_text,
        f"review page {started.url} (asks for the key once)",
    ]
    if faults.active:
        active = {k: v for k, v in faults.as_dict().items() if v}
        parts.append(
            "faults " + ", ".join(f"{k}={v}" for k, v in active.items()) + f", seed={seed}"
        )
    return " | ".join(parts)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point; routes a bare or option-first invocation to ``serve``."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args == ["--version"]:
        from upload_preds import __version__

        typer.echo(f"{PROG} {__version__}")
        raise SystemExit(0)
    if not args or (args[0].startswith("-") and args[0] not in ("--help", "-h")):
        args.insert(0, "serve")
    app(args=args, prog_name=PROG)


if __name__ == "__main__":
    main()
