"""The engine's knobs and what a job may carry: :class:`EngineConfig`, :class:`Asset`.

:class:`EngineConfig` holds the upload loop's settings (its defaults are the
CLI's). An :class:`Asset` is a file a label names (a segmentation bitmap),
which the engine uploads before the label. :data:`PreCheck` is the caller's
hook that may skip a job before anything else is asked.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from upload_preds.records import LabelJob

__all__ = ["Asset", "EngineConfig", "PreCheck"]

PreCheck = Callable[[LabelJob], "str | None"]


@dataclass(slots=True)
class EngineConfig:
    """Knobs of the engine; the defaults are the CLI's defaults."""

    concurrency: int = 16
    retries: int = 6
    backoff_base: float = 0.5
    backoff_cap: float = 30.0
    max_retry_after: float = 120.0
    rate: float | None = None
    adaptive: bool = True
    max_consecutive_failures: int = 50
    grace_period: float = 5.0
    resume: bool = True
    queue_size: int | None = None
    verify: bool = False


class Asset(Protocol):
    """A file a label refers to (a segmentation bitmap), uploaded before the label.

    A job carries one as ``job.extra["asset"]``: the worker uploads ``png``
    as ``filename`` (POST /assets/, then the presigned storage POST), calls
    ``attach(url)`` to put the asset's url into the label, and only then
    encodes and PUTs the label. The journal hash is taken before, from the
    label as converted (which names the content, not a url).
    """

    @property
    def filename(self) -> str: ...

    @property
    def png(self) -> bytes: ...

    def attach(self, url: str) -> None: ...
