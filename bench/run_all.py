"""Run every benchmark under bench/ one after another (``make bench``).

Each benchmark prints its own ratios, measured side by side in one run; this
script only runs them in sequence, each in its own process, so that one
benchmark's memory or threads never disturb the next. Run it on a quiet
machine: the ratios are robust to noise, the absolute numbers are not.

Usage: ``python bench/run_all.py [--quick] [NAME ...]`` (names without
``bench_`` and ``.py``, e.g. ``dry_run upload``; default: all, in the order
below). ``--quick`` is passed on: every benchmark then runs in seconds, which
checks that it works, not its targets.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ORDER = [
    "dry_run",
    "input",
    "convert",
    "masks",
    "coco",
    "mot",
    "sequences",
    "multisensor",
    "multisensor_seg",
    "preflight",
    "guard_refresh",
    "sandbox",
    "upload",
    "review_search",
    "review_points",
    "pcseg",
    "startup",
    "csv_names",
]


def main() -> int:
    flags = [a for a in sys.argv[1:] if a == "--quick"]
    names = [a for a in sys.argv[1:] if a != "--quick"] or ORDER
    unknown = [n for n in names if not (HERE / f"bench_{n}.py").is_file()]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(ORDER)}")
        return 2
    failed = []
    for name in names:
        print(f"\n=== bench_{name}.py ===", flush=True)
        started = time.perf_counter()
        code = subprocess.call([sys.executable, str(HERE / f"bench_{name}.py"), *flags])
        print(f"=== bench_{name}.py: exit {code}, {time.perf_counter() - started:.0f} s ===")
        if code:
            failed.append(name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
