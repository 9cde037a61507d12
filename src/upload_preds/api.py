"""The Python API: :func:`upload` runs the same engine as the CLI and returns its report.

For notebooks and training scripts::

    import upload_preds

    report = upload_preds.upload(
        [{"sample_uuid": "...", "annotations": [{"category": "car", "bbox": [1, 2, 30, 40]}]}],
        labelset="my-predictions",
        create_labelset=True,
    )
    assert report.exit_code == 0, report.to_dict()["failure_examples"]

``inputs`` is a path, a list of paths, or an iterable of row dicts (spooled to
a temporary JSONL file, so a generator is fine). The API key and URL come from
the arguments, else from ``SEGMENTS_API_KEY`` / ``SEGMENTS_API_URL``, exactly
as on the command line. Nothing is printed; pass ``on_plan`` to see the
preflight lines. Errors that stop a run before it starts raise
:class:`~upload_preds.errors.UploadPredsError` subclasses; row failures are in
the report. When called inside a running event loop (Jupyter), the run happens
in a worker thread with its own loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import orjson
from pydantic import SecretStr

from upload_preds.convert import ConvertOptions
from upload_preds.run import Run
from upload_preds.runinputs import RunInputs
from upload_preds.runreport import UploadReport
from upload_preds.settings import Settings, parse_shard

PathLike = str | os.PathLike[str]


def spool_rows(rows: Any, stack: contextlib.ExitStack) -> str:
    """Write an iterable of row dicts to a temporary JSONL file (for the Python API)."""
    fd, name = tempfile.mkstemp(prefix="upload-preds-rows-", suffix=".jsonl")
    stack.callback(os.unlink, name)
    with os.fdopen(fd, "wb") as out:
        for row in rows:
            out.write(orjson.dumps(row) + b"\n")
    return name


def _paths(
    inputs: PathLike | Sequence[PathLike] | Iterable[Mapping[str, Any]], stack: contextlib.ExitStack
) -> list[str]:
    if isinstance(inputs, (str, os.PathLike)):
        return [os.fspath(inputs)]
    items: list[Any] = list(inputs)
    paths = [os.fspath(i) for i in items if isinstance(i, (str, os.PathLike))]
    if items and len(paths) == len(items):
        return paths
    return [spool_rows(items, stack)]


def upload(
    inputs: PathLike | Sequence[PathLike] | Iterable[Mapping[str, Any]],
    *,
    labelset: str = "ground-truth",
    dataset: str | None = None,
    api_key: str | None = None,
    api_url: str | None = None,
    sandbox: bool = False,
    sandbox_data: PathLike | None = None,
    create_labelset: bool = False,
    labelset_description: str = "",
    label_status: str = "PRELABELED",
    overwrite: bool = False,
    verify: bool = False,
    dry_run: bool = False,
    resume: bool = True,
    state: PathLike | None = None,
    shard: str | None = None,
    on_duplicate: Literal["error", "last"] = "error",
    concurrency: int = 16,
    retries: int = 6,
    timeout: float = 60.0,
    rate: float | None = None,
    fmt: str | None = None,
    bbox_format: Literal["xyxy", "xywh", "cxcywh"] = "xyxy",
    normalized: bool = False,
    categories_file: PathLike | None = None,
    min_score: float | None = None,
    score_from: Literal["max", "mean", "min", "none"] = "mean",
    object_score_attribute: str | None = None,
    frames: int | None = None,
    output_labels: PathLike | None = None,
    failures: PathLike | None = None,
    allow_insecure_http: bool = False,
    on_plan: Callable[[str], None] | None = None,
) -> UploadReport:
    """Upload predictions; see the README for every option (they mirror the CLI flags)."""
    convert = ConvertOptions(
        default_labelset=labelset,
        label_status=label_status,
        bbox_format=bbox_format,
        min_score=min_score,
        score_from=score_from,
        object_score_attribute=object_score_attribute,
        normalized=normalized,
        frames=frames,
    )
    with contextlib.ExitStack() as stack:
        journal_host = None
        sandbox_db = None
        if sandbox:
            from upload_preds.sandbox import default_db_path, start_sandbox

            handle = stack.enter_context(
                start_sandbox(
                    data=Path(sandbox_data) if sandbox_data is not None else None,
                    db=default_db_path(),
                )
            )
            api_url, api_key = handle.url, handle.api_key
            sandbox_db = str(handle.db_path)
            journal_host = f"sandbox:{Path(handle.db_path).resolve()}"
        key = SecretStr(api_key) if api_key else Settings.env_api_key()
        settings = Settings(
            api_url=api_url or Settings.env_api_url(),
            api_key=key,
            allow_insecure_http=allow_insecure_http,
            dataset=dataset,
            labelset=labelset,
            create_labelset=create_labelset,
            labelset_description=labelset_description,
            label_status=convert.label_status,
            overwrite=overwrite,
            verify=verify,
            dry_run=dry_run,
            resume=resume,
            state=Path(state) if state is not None else None,
            shard=parse_shard(shard),
            on_duplicate=on_duplicate,
            concurrency=concurrency,
            retries=retries,
            timeout=timeout,
            rate=rate,
            failures=Path(failures) if failures is not None else None,
        )
        run_inputs = RunInputs(
            paths=_paths(inputs, stack),
            convert=convert,
            fmt=fmt,
            categories_file=Path(categories_file) if categories_file is not None else None,
            output_labels=Path(output_labels) if output_labels is not None else None,
        )
        run = Run(
            settings,
            run_inputs,
            on_plan=on_plan,
            sandbox_db=sandbox_db,
            journal_host=journal_host,
        )
        return _run_sync(run)


def _run_sync(run: Run) -> UploadReport:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(run.execute())
    # Inside a running loop (a notebook): run in a thread with a loop of its own.
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["report"] = asyncio.run(run.execute())
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=target, name="upload-preds")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    report: UploadReport = box["report"]
    return report
