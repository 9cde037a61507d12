"""Rate control shared by all upload workers: a pacer and an adaptive concurrency limit.

Two independent controls, both consulted before every request:

* :class:`Pacer` decides *when* the next request may start. It is a GCRA-style
  scheduler (each request reserves the next slot on a shared timeline, so a
  fixed rate needs no background task) combined with a global pause: a 429
  answer moves the whole timeline past ``now + Retry-After``, so every worker
  waits, not just the one that was throttled. Its rate is the minimum of the
  user's ``--rate`` cap and an *adaptive* rate learned from throttling. On a
  429 the rate drops to 90% of the success rate observed over the last
  second or two: while requests are being throttled, that is the server's
  real capacity. When there is no such measurement yet (throttled within
  half a second of the start or of the last pause) it starts from a guess
  and slow-starts (x1.25 every 0.25 s) until the next 429 measures the
  capacity. Afterwards it climbs back 5%/s while well below the measured
  capacity and 1%/s near it, so a token-bucket throttle is probed rarely,
  and it is dropped altogether once far above it (the throttle went away).
  Decreases happen at most once per cooldown, so a burst of 429s from
  requests that were already in flight counts once.
* :class:`AdaptiveLimiter` decides *how many* requests may be in flight: a
  semaphore whose size follows AIMD (halved on throttling at most once per
  cooldown, +1/limit per success, so roughly +1 per round trip), between 1 and
  the configured ``--concurrency``.

Both take an injectable clock so the arithmetic can be tested without sleeping.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Callable

__all__ = ["AdaptiveLimiter", "Pacer"]

Clock = Callable[[], float]


class Pacer:
    """When may the next request start? Shared pause plus an optional (adaptive) rate."""

    def __init__(
        self,
        rate: float | None = None,
        *,
        burst: float = 1.0,
        adaptive: bool = True,
        cooldown: float = 1.0,
        clock: Clock = time.monotonic,
    ) -> None:
        if rate is not None and rate <= 0:
            raise ValueError("rate must be positive")
        self.max_rate = rate
        self.adaptive = adaptive
        self.adaptive_rate: float | None = None
        self.burst = max(1.0, burst)
        self.cooldown = cooldown
        self._clock = clock
        self._tat = 0.0  # theoretical arrival time of the next request
        self.paused_until = 0.0
        self._last_decrease = -1e9
        self._last_pause = 0.0
        self._first_send: float | None = None
        self._next_increase = 0.0
        self._estimated = False  # has a throttled period been long enough to measure?
        self._capacity = 0.0  # the success rate measured while throttled
        # Success counting in 0.25 s buckets over the last 2 s, for the observed rate.
        self._bucket_len = 0.25
        self._buckets: collections.deque[tuple[float, int]] = collections.deque()
        self.throttle_events = 0

    @property
    def rate(self) -> float | None:
        """The rate in force now (requests/s), ``None`` when unlimited."""
        if self.adaptive_rate is None:
            return self.max_rate
        if self.max_rate is None:
            return self.adaptive_rate
        return min(self.max_rate, self.adaptive_rate)

    def reserve(self) -> float:
        """Take the next slot; returns how many seconds to wait before sending."""
        now = self._clock()
        if self._first_send is None:
            self._first_send = now
        rate = self.rate
        start = max(now, self.paused_until)
        if rate is None:
            return start - now
        interval = 1.0 / rate
        # A slot may lie up to (burst - 1) intervals in the past: that is the allowed burst.
        slot = max(self._tat, start - (self.burst - 1.0) * interval)
        self._tat = slot + interval
        return max(0.0, slot - now, start - now)

    def pause(self, seconds: float) -> None:
        """Let nobody start a request for ``seconds`` from now."""
        until = self._clock() + seconds
        if until > self.paused_until:
            self.paused_until = until
            # Requests after the pause are paced from its end, not released all at once.
            self._tat = max(self._tat, until)

    def observed_rate(self) -> float:
        """Successes per second over the last ~2 s."""
        now = self._clock()
        self._expire(now)
        if not self._buckets:
            return 0.0
        span = max(self._bucket_len, now - self._buckets[0][0])
        return sum(n for _, n in self._buckets) / span

    def _expire(self, now: float) -> None:
        while self._buckets and self._buckets[0][0] < now - 2.0:
            self._buckets.popleft()

    def on_success(self) -> None:
        now = self._clock()
        buckets = self._buckets
        if buckets and now - buckets[-1][0] < self._bucket_len:
            start, n = buckets[-1]
            buckets[-1] = (start, n + 1)
        else:
            buckets.append((now, 1))
            self._expire(now)
        rate = self.adaptive_rate
        if rate is None or now < self._next_increase:
            return
        if self.observed_rate() < 0.5 * rate:
            # The rate no longer binds (latency or concurrency does): stop limiting.
            self.adaptive_rate = None
            return
        if self._estimated:
            # Near the capacity measured at the last throttling: creep; well below: climb.
            self._next_increase = now + 1.0
            rate *= 1.05 if rate < 0.95 * self._capacity else 1.01
            # Far above it: the throttle has gone away, stop limiting.
            self.adaptive_rate = None if rate > 4 * self._capacity else rate
        else:
            # No measurement yet (throttled at once): slow-start, about x2.4 per second.
            self._next_increase = now + 0.25
            self.adaptive_rate = rate * 1.25

    def on_throttled(self, retry_after: float | None, fallback_pause: float) -> None:
        """A 429: pause everybody and, when adaptive, lower the rate (once per cooldown)."""
        self.throttle_events += 1
        pause = retry_after if retry_after is not None else fallback_pause
        self.pause(pause)
        now = self._clock()
        if not self.adaptive or now - self._last_decrease < self.cooldown:
            return
        # How long we have been sending since the previous pause: a success rate measured
        # over at least half a second while throttled is the server's real capacity.
        since = self._first_send if self._first_send is not None else now
        measured_for = now - max(since, self._last_decrease + self._last_pause, now - 2.0)
        observed = self.observed_rate()
        self._last_decrease = now
        self._last_pause = pause
        self._next_increase = now + pause + (1.0 if observed else 0.25)
        current = self.rate
        if measured_for >= 0.5 and observed > 0:
            self._estimated = True
            self._capacity = observed
            new = 0.9 * observed
        elif current is not None:
            new = 0.5 * current
        else:
            # Throttled at the very start: a first guess that slow-start corrects.
            new = 0.9 * observed if observed > 0 else 10.0
        self.adaptive_rate = max(1.0, new)


class AdaptiveLimiter:
    """A semaphore whose size adapts: AIMD between 1 and ``max_limit``."""

    def __init__(
        self, max_limit: int, *, cooldown: float = 0.5, clock: Clock = time.monotonic
    ) -> None:
        if max_limit < 1:
            raise ValueError("max_limit must be at least 1")
        self.max_limit = max_limit
        self.limit = float(max_limit)
        self.min_seen = max_limit
        self.in_flight = 0
        self.cooldown = cooldown
        self._clock = clock
        self._last_decrease = -1e9
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()

    async def acquire(self) -> None:
        if self.in_flight < int(self.limit) and not self._waiters:
            self.in_flight += 1
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        try:
            await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                # We were handed a slot just as we got cancelled: pass it on.
                self.release()
            else:
                self._waiters.remove(fut)
            raise

    def release(self) -> None:
        self.in_flight -= 1
        self._wake()

    def _wake(self) -> None:
        while self._waiters and self.in_flight < int(self.limit):
            fut = self._waiters.popleft()
            if not fut.done():
                self.in_flight += 1
                fut.set_result(None)

    def on_success(self) -> None:
        if self.limit < self.max_limit:
            self.limit = min(float(self.max_limit), self.limit + 1.0 / self.limit)
            self._wake()

    def on_throttled(self) -> None:
        now = self._clock()
        if now - self._last_decrease < self.cooldown:
            return
        self._last_decrease = now
        self.limit = max(1.0, self.limit / 2)
        self.min_seen = min(self.min_seen, int(self.limit))
