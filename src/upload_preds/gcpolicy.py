"""Keeping Python's cyclic garbage collector off objects that cannot form cycles.

The collector runs every few hundred container allocations and walks the objects
it tracks. Streaming a million rows through the grouping allocates millions of
dicts and lists, in two patterns where that walk is pure cost:

* the long-lived heap of the run (modules, options, categories, the sample index)
  is walked again by every full collection: :func:`frozen_heap` moves it out of
  the collector's sight for the duration (``gc.freeze``); and
* a batch of parsed rows (a spilled partition, the lines of one label) stays alive
  as a whole and holds no cycles (``orjson`` output, checked rows): :func:`paused_gc`
  switches the collector off while such a batch is built.

Objects stay freed by reference counting in both cases. Measured on 200,000
per-frame rows (``bench/bench_sequences.py``): full collections took 0.6 s of a
4.6 s dry run before the heap was frozen, 0.07 s after; parsing a spilled
partition took 4 us a line with the collector running, 1 us paused.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

__all__ = ["frozen_heap", "paused_gc"]


@contextlib.contextmanager
def frozen_heap() -> Iterator[None]:
    """The objects that exist now are left out of collections until the block ends."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """No cyclic collection inside the block (for building batches without cycles)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
