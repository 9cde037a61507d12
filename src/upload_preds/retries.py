"""One request of a job, sent under the engine's limiter and pacer and retried.

:meth:`RetryingSender._call` is how every request of the engine goes out (a
label's PUT, an asset's two uploads, ``--verify``'s GET):

* it takes a slot from :class:`~upload_preds.ratecontrol.AdaptiveLimiter` and a
  start time from the shared :class:`~upload_preds.ratecontrol.Pacer`, so a
  429 slows every worker;
* retried (up to ``retries`` times, capped exponential backoff with full
  jitter, or ``Retry-After`` when given): connection errors, timeouts, 408,
  425, 429, 500, 502, 503, 504 (:data:`RETRYABLE_STATUSES`). Failed at once
  with the server's message: every other status (400, 404, 409, 422, 3xx,
  ...). 401/403 abort the run (:class:`~upload_preds.errors.AuthError`) on
  the first occurrence, except for a storage upload, which carries no key;
* :meth:`RetryingSender._server_failure` classifies what failed for
  server-side reasons (retries exhausted, 3xx, other 5xx) and aborts with
  :class:`~upload_preds.errors.ServerFailingError` after
  ``max_consecutive_failures`` of them in a row.

A mixin of :class:`~upload_preds.engine.UploadEngine`, which holds the state
named below.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import Any

from upload_preds.client import ApiError, TransportError
from upload_preds.engineconfig import EngineConfig
from upload_preds.errors import AuthError, ServerFailingError
from upload_preds.outcomes import (
    SKIP_INTERRUPTED,
    SKIP_NOT_SENT,
    EngineEvent,
    EventKind,
    OutcomeRecorder,
)
from upload_preds.ratecontrol import AdaptiveLimiter, Pacer
from upload_preds.records import LabelJob

__all__ = ["AUTH_STATUSES", "DONE", "FAIL_REASONS", "RETRYABLE_STATUSES", "RetryingSender"]

RETRYABLE_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
AUTH_STATUSES = frozenset({401, 403})

# Failure reasons by status; others read "HTTP <status>".
FAIL_REASONS = {
    400: "rejected by the server (400)",
    401: "API key rejected (401)",
    403: "API key not allowed (403)",
    404: "not found (404)",
    409: "conflict (409)",
    422: "rejected by the server (422)",
    429: "throttled (429)",
}


class _Done:
    """What :meth:`RetryingSender._call` returns when it has recorded the job's outcome."""


DONE = _Done()


class RetryingSender(OutcomeRecorder):
    """Sends one request of a job, retried; records the job's outcome when it fails."""

    config: EngineConfig
    limiter: AdaptiveLimiter
    pacer: Pacer
    _stopping: bool
    _stop_event: asyncio.Event | None
    _retrying: int
    _consecutive_failures: int
    _random: random.Random

    async def _sleep(self, delay: float) -> bool:
        """Sleep ``delay`` seconds; True when a stop was requested meanwhile."""
        event = self._stop_event
        if event is None or event.is_set():
            return self._stopping
        try:
            await asyncio.wait_for(event.wait(), delay)
        except asyncio.TimeoutError:
            return False
        return True

    def _backoff(self, attempt: int) -> float:
        cfg = self.config
        return self._random.uniform(0.0, min(cfg.backoff_cap, cfg.backoff_base * 2**attempt))

    async def _call(
        self, job: LabelJob, send: Callable[[], Awaitable[Any]], auth_aborts: bool = True
    ) -> Any:
        """``send()`` under the limiter and pacer, retried; its result, or ``DONE`` when
        the job's outcome (failed, skipped) has been recorded instead.

        ``auth_aborts`` False: a 401/403 is not about the API key (a storage
        upload, which carries no key) and fails the job alone.
        """
        cfg = self.config
        limiter = self.limiter
        pacer = self.pacer
        attempt = 0
        while True:
            await limiter.acquire()
            try:
                if self._stopping:  # stopped while waiting for a slot
                    self._skipped(job, SKIP_NOT_SENT if attempt == 0 else SKIP_INTERRUPTED)
                    return DONE
                delay = pacer.reserve()
                if delay > 0 and await self._sleep(delay):
                    self._skipped(job, SKIP_NOT_SENT if attempt == 0 else SKIP_INTERRUPTED)
                    return DONE
                self.result.requests += 1
                error: ApiError | TransportError
                try:
                    answer = await send()
                except ApiError as exc:
                    error = exc
                except TransportError as exc:
                    error = exc
                else:
                    limiter.on_success()
                    pacer.on_success()
                    return answer
            finally:
                limiter.release()

            status = error.status if isinstance(error, ApiError) else None
            retry_after = error.retry_after if isinstance(error, ApiError) else None
            if retry_after is not None:
                retry_after = min(retry_after, cfg.max_retry_after)
            if status == 429:
                self.result.throttled += 1
                backoff = self._backoff(attempt)
                pacer.on_throttled(retry_after, backoff)
                limiter.on_throttled()
            if status in AUTH_STATUSES and auth_aborts:
                reason = FAIL_REASONS[status]
                self._failed(job, reason, error.detail, status)
                self._abort(
                    AuthError(
                        f"the server rejected the API key ({status}: {error.detail})",
                        hint="check SEGMENTS_API_KEY / --api-key and that the key may write "
                        "to this dataset; what was uploaded is recorded, a rerun resumes",
                    )
                )
                return DONE
            if status is None or status in RETRYABLE_STATUSES:
                if attempt < cfg.retries and not self._stopping:
                    delay = retry_after if retry_after is not None else self._backoff(attempt)
                    attempt += 1
                    self.result.retries += 1
                    if self.on_event is not None:
                        self.on_event(
                            EngineEvent(
                                EventKind.RETRYING,
                                job,
                                None,
                                error.detail,
                                status,
                                attempt,
                                delay,
                            )
                        )
                    self._retrying += 1
                    try:
                        stopped = await self._sleep(delay)
                    finally:
                        self._retrying -= 1
                    if stopped:
                        self._skipped(job, SKIP_INTERRUPTED)
                        return DONE
                    continue
                if self._stopping:
                    self._skipped(job, SKIP_INTERRUPTED)
                    return DONE
                self._server_failure(job, error, status)
                return DONE
            if 300 <= status < 400 or status >= 500:
                self._server_failure(job, error, status)
                return DONE
            reason = FAIL_REASONS.get(status, f"HTTP {status}")
            if not auth_aborts:
                reason = f"asset upload rejected ({status})"
            self._failed(job, reason, error.detail, status)
            return DONE

    def _server_failure(
        self, job: LabelJob, error: ApiError | TransportError, status: int | None
    ) -> None:
        if isinstance(error, TransportError):
            reason = "timeout" if error.kind == "timeout" else "connection failed"
        else:
            reason = FAIL_REASONS.get(status or 0, f"HTTP {status}")
        if status is None or status in RETRYABLE_STATUSES:
            reason += f" after {self.config.retries} retries"
        self._failed(job, reason, error.detail, status)
        self._consecutive_failures += 1
        limit = self.config.max_consecutive_failures
        if limit and self._consecutive_failures >= limit:
            self._abort(
                ServerFailingError(
                    f"the server failed {self._consecutive_failures} labels in a row "
                    f"(last: {reason}: {error.detail})",
                    hint="the service may be down or overloaded: try again later; "
                    "what was uploaded is recorded and a rerun resumes",
                )
            )
