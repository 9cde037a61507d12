"""Run one async job per item, by a bounded number of workers: never one task per item.

:func:`each` starts ``workers`` tasks that take items from one shared
iterator until it is exhausted, so at most ``workers`` jobs are in flight and
memory does not grow with the number of items (``asyncio.gather`` over
300,000 coroutines took 650 MiB here, see ``shared/design.md``). The first
job that raises cancels the others and its exception is raised.

Pacing is not done here but in the client the jobs call: a
:class:`~upload_preds.client.SegmentsClient` with a ``pacer`` reserves a slot
of that :class:`~upload_preds.ratecontrol.Pacer` before every retried read
and tells it about successes and 429s, so lookups and label reads run by
:func:`each` keep ``--rate``, slow down together on throttling and, during an
upload, share the engine's pacer with the PUTs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

__all__ = ["each"]

T = TypeVar("T")


async def each(items: Iterable[T], job: Callable[[T], Awaitable[None]], *, workers: int) -> None:
    """``await job(item)`` for every item, by at most ``workers`` concurrent tasks.

    ``items`` is consumed lazily (a generator is fine). The first failure
    cancels the other workers and is raised. (Python 3.10 has no TaskGroup.)
    """
    todo = iter(items)

    async def worker() -> None:
        for item in todo:
            await job(item)

    tasks = [asyncio.ensure_future(worker()) for _ in range(max(1, workers))]
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
