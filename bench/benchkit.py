"""What the benchmarks under bench/ share: child processes, timing, servers, data.

Every ``bench_*.py`` script runs standalone from the repository root
(``python bench/bench_x.py --quick``) and through ``bench/run_all.py``; both
put the script's own folder first on ``sys.path``, so ``import benchkit``
finds this module without an install.

* Child processes: :func:`run_child` runs a command to its end and returns its
  wall time, CPU time and peak RSS, the last two from ``os.wait4``'s rusage of
  that child alone (started by a small launcher, so that the benchmark's own
  size is not counted in); :func:`peak_rss_mib` is the peak RSS of the calling
  process (for a benchmark that measures itself in a fresh child);
  :data:`ORJSON_FLOOR` and :func:`dry_run_command` are the two sides of a
  dry run's ratio.
* Timing in one process: :func:`best_of`, :func:`median_of`, :func:`mean_of`,
  and :func:`paired`, which times a floor and the work alternately on each
  chunk, so that a neighbour's burst on a shared machine hits both halves of a
  pair alike.
* Servers: :func:`start_sandbox` starts ``upload-preds-sandbox serve`` as a
  subprocess (optionally from another checkout's ``src``), :func:`launch` any
  server that writes its URL to a ready file, :func:`stop` ends one;
  :func:`sandbox_env` is the environment of an ``upload-preds`` child talking
  to it.
* Data: a one-dataset manifest (:func:`dataset_manifest`, :func:`image_sample`,
  :func:`sample_uuid`), rows of boxes (:func:`boxes`, :func:`write_jsonl`) and
  a shuffled CSV of box annotations (:func:`write_shuffled_csv`).
* :func:`arguments`: an argument parser with the ``--quick`` flag every
  benchmark has (a run of seconds that checks the script works, not its targets).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parent.parent
_T = TypeVar("_T")


def arguments(doc: str | None, quick: str) -> argparse.ArgumentParser:
    """A parser described by the first line of ``doc``, with ``--quick`` (help: ``quick``)."""
    parser = argparse.ArgumentParser(description=(doc or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=quick)
    return parser


# -- child processes ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Child:
    """How one child process ran: seconds, CPU seconds, peak RSS in MiB, exit code, stdout."""

    wall: float
    cpu: float
    rss_mib: float
    code: int
    stdout: bytes


# Runs the command as its own child and reports that child's wall time, CPU time,
# peak RSS and exit code as JSON on the file descriptor argv[1] (see run_child).
_LAUNCHER = r"""
import json, os, sys, time
t0 = time.perf_counter()
pid = os.fork()
if pid == 0:
    try:
        os.execvp(sys.argv[2], sys.argv[2:])
    finally:
        os._exit(127)
_, status, ru = os.wait4(pid, 0)
wall = time.perf_counter() - t0
code = os.waitstatus_to_exitcode(status)
out = [wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss / 1024, code]
os.write(int(sys.argv[1]), json.dumps(out).encode())
"""


def run_child(
    args: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    ok: Iterable[int] = (0,),
    stdout: bool = False,
) -> Child:
    """Run ``args`` to its end; a code not in ``ok`` ends the benchmark with its stderr.

    The command is started by a small launcher process, not by this one: Linux
    carries a process's peak RSS across fork and exec, so a child started from
    a big benchmark process would report at least that process's size. The
    launcher's own child starts from the launcher's few MiB instead, and the
    launcher passes that child's ``wait4`` figures back. Output goes to
    temporary files, not pipes, so that a child that writes more than a pipe
    holds never blocks while it is waited for.
    """
    read_end, write_end = os.pipe()
    with (
        os.fdopen(read_end, "rb") as report,
        tempfile.TemporaryFile() as out,
        tempfile.TemporaryFile() as err,
    ):
        try:
            launcher = subprocess.Popen(
                [sys.executable, "-c", _LAUNCHER, str(write_end), *args],
                stdout=out if stdout else subprocess.DEVNULL,
                stderr=err,
                env=env,
                pass_fds=(write_end,),
            )
        finally:
            os.close(write_end)  # the launcher holds its own copy
        launcher.wait()
        figures = report.read()
        wall, cpu, rss_mib, code = json.loads(figures) if figures else (0.0, 0.0, 0.0, -1)
        if code not in tuple(ok):
            err.seek(0)
            sys.stderr.write(err.read().decode(errors="replace")[-4000:])
            raise SystemExit(f"command failed ({code}): {' '.join(args)}")
        out.seek(0)
        return Child(wall, cpu, rss_mib, code, out.read())


def peak_rss_mib() -> float:
    """Peak RSS of this process in MiB.

    ``VmHWM`` of the process's own memory map. ``ru_maxrss`` would be the
    obvious source, but Linux carries it across fork+exec, so a child would
    report the parent's size whenever the parent was bigger; it is used only
    where /proc is missing.
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


#: The floor of reading a JSONL file, run as ``python -c ORJSON_FLOOR FILE``:
#: ``orjson.loads`` of every line, what any reader of the file must at least do.
ORJSON_FLOOR = """
import sys, orjson
with open(sys.argv[1], 'rb') as f:
    for line in f:
        orjson.loads(line)
"""


def dry_run_command(path: Path, *flags: str) -> list[str]:
    """``upload-preds PATH --dry-run --quiet FLAGS`` as a child process runs it."""
    return [sys.executable, "-m", "upload_preds", str(path), "--dry-run", "--quiet", *flags]


def sequence_label(conv: Any, rows: list[dict[str, Any]], frames: Any, file: str) -> Any:
    """The attributes of one sequence label made of ``rows`` (all of one sample) by
    ``conv`` (an ``upload_preds`` Converter), as the pipeline converts a group: each
    row a member at its line of ``file`` (relative paths in rows resolve from it)."""
    from upload_preds.records import Location, Record

    items = [(Location(file, n), {"r": r}) for n, r in enumerate(rows, 1)]
    key = conv.sequence_key(Record(items[0][0], "jsonl", rows[0]))
    assert isinstance(key, str)
    job = conv.convert_sequence(key, items, frames)
    assert not isinstance(job, list), job[:3]
    return job.attributes


# -- timing ---------------------------------------------------------------------------------


def best_of(fn: Callable[[], object], repeat: int) -> float:
    """The fastest of ``repeat`` calls, in seconds."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def median_of(fn: Callable[[], _T], runs: int = 5) -> tuple[float, _T]:
    """The median of ``runs`` calls in seconds, and the last call's result."""
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def mean_of(fn: Callable[[], object], repeat: int) -> float:
    """Seconds per call, over ``repeat`` calls in a row (for calls too short to time alone)."""
    t0 = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - t0) / repeat


def paired(
    chunks: int, floor: Callable[[int], object], work: Callable[[int], object]
) -> tuple[float, float, float]:
    """Time ``floor(k)`` and ``work(k)`` alternately on each chunk ``k``.

    The machine is shared: a neighbour's burst would skew two long runs timed one
    after the other, but it hits both halves of a pair alike. Returns the total
    floor time, the total work time and the median per-chunk ratio.
    """
    ratios = []
    t_floor = t_work = 0.0
    for k in range(chunks):
        t0 = time.perf_counter()
        floor(k)
        t1 = time.perf_counter()
        work(k)
        t2 = time.perf_counter()
        t_floor += t1 - t0
        t_work += t2 - t1
        ratios.append((t2 - t1) / (t1 - t0))
    return t_floor, t_work, statistics.median(ratios)


# -- servers --------------------------------------------------------------------------------


def launch(
    what: str,
    cmd: Sequence[str],
    ready: Path,
    env: Mapping[str, str] | None = None,
    timeout: float = 60.0,
) -> tuple[subprocess.Popen[bytes], str]:
    """Start a server process and wait for the URL it writes to ``ready``.

    Its stderr goes to a temporary file (a pipe nobody reads could fill and
    stall the server), shown when the server does not start.
    """
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(list(cmd), stdout=subprocess.DEVNULL, stderr=err, env=env)
        deadline = time.monotonic() + timeout
        while not ready.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                proc.wait()
                err.seek(0)
                raise SystemExit(f"{what} did not start: {err.read().decode(errors='replace')}")
            time.sleep(0.05)
    time.sleep(0.05)  # the file is written whole (renamed); let the server settle
    url: str = json.loads(ready.read_text())["url"]
    return proc, url


def start_sandbox(
    tmp: Path,
    *flags: str,
    key: str,
    data: Path | None = None,
    db: str | None = None,
    src: str | None = None,
) -> tuple[subprocess.Popen[bytes], str]:
    """``upload-preds-sandbox serve`` on a free port: (process, URL ending in ``/``).

    ``db`` defaults to a new SQLite file in ``tmp``; ``src`` is another checkout's
    ``src`` folder, put first on the server's ``PYTHONPATH`` (before/after runs).
    """
    ready = tmp / f"ready-{time.monotonic_ns()}.json"
    db = db or str(tmp / f"sandbox-{time.monotonic_ns()}.sqlite3")
    cmd = [sys.executable, "-m", "upload_preds.sandbox.cli", "serve", "--port", "0"]
    cmd += ["--db", db, "--api-key", key, "--ready-file", str(ready)]
    if data is not None:
        cmd += ["--data", str(data)]
    env = None
    if src is not None:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    proc, url = launch("the sandbox", [*cmd, *flags], ready, env)
    return proc, url.rstrip("/") + "/"


def source_tree(rev: str, into: Path) -> Path:
    """``src`` of ``rev`` unpacked under ``into`` (``git archive``); the path of that
    ``src``, to time another version of the code beside this one (``PYTHONPATH``)."""
    into.mkdir(parents=True, exist_ok=True)
    archive = into / "src.tar"
    with archive.open("wb") as fh:
        subprocess.run(["git", "-C", str(ROOT), "archive", rev, "src"], stdout=fh, check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(into, filter="data")
    return into / "src"


def stop(proc: subprocess.Popen[bytes]) -> None:
    """End a server process: terminate, then kill if it does not stop within 10 s."""
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def sandbox_env(key: str, url: str) -> dict[str, str]:
    """This environment without any ``SEGMENTS_*`` variable, plus the sandbox's key and URL."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEGMENTS_")}
    env.update(SEGMENTS_API_KEY=key, SEGMENTS_API_URL=url, NO_COLOR="1")
    return env


# -- data -----------------------------------------------------------------------------------


def sample_uuid(dataset: str, i: int) -> str:
    """A stable uuid for sample ``i`` of a benchmark's dataset."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"bench/{dataset}/{i}"))


def image_sample(uuid_: str, name: str, **metadata: Any) -> dict[str, Any]:
    """An image sample of a manifest (its URL is never fetched)."""
    url = f"https://example.invalid/{name}"
    return {
        "uuid": uuid_,
        "name": name,
        "attributes": {"image": {"url": url}},
        "metadata": metadata,
    }


def dataset_manifest(
    name: str,
    task_type: str,
    categories: Sequence[str],
    samples: list[dict[str, Any]],
    labelsets: Sequence[str] = ("ground-truth",),
) -> dict[str, Any]:
    """A sandbox manifest of one dataset ``bench/<name>``, category ids from 1."""
    cats = [{"id": i, "name": c} for i, c in enumerate(categories, 1)]
    return {
        "datasets": [
            {
                "owner": "bench",
                "name": name,
                "task_type": task_type,
                "task_attributes": {"format_version": "0.1", "categories": cats},
                "labelsets": [{"name": ls, "description": ""} for ls in labelsets],
                "samples": samples,
            }
        ]
    }


def boxes(
    rng: random.Random,
    names: Sequence[str],
    count: int = 5,
    width: float = 600,
    height: float = 400,
) -> list[dict[str, Any]]:
    """``count`` shorthand boxes of 5-80 pixels a side, each with a category name and a score."""
    out = []
    for _ in range(count):
        x, y = rng.uniform(0, width), rng.uniform(0, height)
        w, h = rng.uniform(5, 80), rng.uniform(5, 80)
        bbox = [round(x, 1), round(y, 1), round(x + w, 1), round(y + h, 1)]
        out.append({"category": rng.choice(names), "bbox": bbox, "score": round(rng.random(), 3)})
    return out


def write_jsonl(path: Path, rows: Iterable[Mapping[str, Any]]) -> None:
    """One JSON object a line (orjson, as the uploader's own writers)."""
    import orjson

    with path.open("wb") as f:
        for row in rows:
            f.write(orjson.dumps(row) + b"\n")


def write_shuffled_csv(
    path: Path, annotations: int, names: Sequence[str], labelset: str | None = None, seed: int = 2
) -> None:
    """A CSV of one box a line, five lines a sample, in shuffled order.

    The lines of a sample are spread over the whole file (the grouping stage's
    worst case); only a permutation of line numbers is held, not the lines.
    """
    rng = random.Random(seed)
    samples = max(1, annotations // 5)
    order = list(range(annotations))
    rng.shuffle(order)
    ls_head, ls_cell = (",labelset", f",{labelset}") if labelset is not None else ("", "")
    with path.open("w", encoding="utf-8", newline="") as f:
        f.write(f"sample_uuid{ls_head},category,xmin,ymin,xmax,ymax,score\n")
        for k in order:
            x, y = (k * 37) % 1800, (k * 17) % 1000
            f.write(
                f"{uuid.UUID(int=k % samples + 1)}{ls_cell},{names[k % len(names)]},"
                f"{x},{y},{x + 50},{y + 40},{(k % 997) / 997:.3f}\n"
            )
