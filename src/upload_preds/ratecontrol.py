"""Rate control shared by all upload workers: a pacer and an adaptive concurrency limit.

Two independent controls, both consulted before every request:

* :class:`Pacer` decides *when* the next request may start. It is a GCRA-style
  scheduler (each request reserves the next slot on a shared timeline, so a
  fixed rate needs no background task) combined with a global pause. Its rate
  is the minimum of the user's ``--rate`` cap and an *adaptive* rate learned
  from 429 answers:

  - throttled while unlimited (nothing learned yet): every worker pauses for
    ``Retry-After``, the rate starts at 90% of the success rate just seen and
    slow-starts (x1.5 every 0.25 s) until the next 429;
  - that 429 ends slow-start: the rate falls back to the previous step (or to
    90% of the success rate of the last half second, if lower) and creeps up
    from there;
  - from then on a 429 that starts a new episode (more than ``cooldown`` after
    the last decrease) is a probe that went slightly too far: the shared rate
    drops to 93% of the current rate (or to the success rate measured over
    the last second, whichever is higher, but not below 80%), the rate that
    was throttled becomes the *ceiling*, and the decrease slows every worker,
    without a global pause; the throttled request itself still waits its
    ``Retry-After``. A third 429 within the cooldown means the lower rate was
    not enough: then every worker pauses for ``Retry-After``.
  - without 429s the rate climbs 10%/s while below 90% of the ceiling and
    0.5%/s above it (2%/s after 30 s without a 429), so a token-bucket
    throttle is probed every 15-20 s; the limit is dropped when it reaches 4x
    the ceiling or no longer binds (the success rate fell below half of it:
    latency or concurrency limit the requests now).

  Why not pause everybody on every 429: the platform states ``Retry-After``
  in whole seconds (DRF), so a server refilling 200 tokens/s with a small
  burst answers "1 s" when the next token is 5 ms away; a one-second global
  stall per probe would cost ~10% of the throughput.
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
        self._ceiling = 0.0  # the rate at which we were last throttled
        self._episode_429s = 0  # 429s since the last decrease
        # Success counting in 0.05 s buckets over the last 2 s, for the observed rate.
        self._bucket_len = 0.05
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

    def observed_rate(self, window: float = 2.0) -> float:
        """Successes per second over the last ``window`` seconds (at most 2)."""
        now = self._clock()
        self._expire(now)
        first = now - window
        n = sum(c for t, c in self._buckets if t >= first - self._bucket_len / 2)
        return n / max(window, self._bucket_len)

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
        window = min(1.0, now - max(self._first_send or now, self.paused_until))
        if window >= 0.25 and self.observed_rate(window) < 0.5 * rate:
            # The rate no longer binds (latency or concurrency does): stop limiting.
            self.adaptive_rate = None
            return
        if self._estimated:
            # Near the capacity measured at the last throttling: creep; well below: climb.
            self._next_increase = now + 1.0
            # Quiet for long (15 s): the ceiling may have moved, climb faster again.
            if rate < 0.9 * self._ceiling:
                rate *= 1.10
            else:
                # Quiet for long: the throttle may have gone or moved; probe faster.
                rate *= 1.02 if now - self._last_decrease > 30.0 else 1.005
            # Far above it: the throttle has gone away, stop limiting.
            self.adaptive_rate = None if rate > 4 * self._ceiling else rate
        else:
            # No measurement yet (throttled at once): slow-start, about x5 per second.
            self._next_increase = now + 0.25
            self.adaptive_rate = rate * 1.5

    def on_throttled(self, retry_after: float | None, fallback_pause: float) -> None:
        """A 429: pause everybody and, when adaptive, lower the rate (once per cooldown)."""
        self.throttle_events += 1
        pause = retry_after if retry_after is not None else fallback_pause
        now = self._clock()
        new_episode = now - self._last_decrease >= self.cooldown
        self._episode_429s = 1 if new_episode else self._episode_429s + 1
        if self.adaptive and self._estimated and self._episode_429s <= 2:
            # A probe of a rate already learned went slightly too far (requests in
            # flight may bring a second 429): lowering the shared rate slows every
            # worker enough; the throttled request itself still waits Retry-After
            # (the engine does that). Pausing all for a whole Retry-After (whole
            # seconds) would cost more than the probe gained.
            pause = 0.0
        else:
            self.pause(pause)
        if not self.adaptive or not new_episode:
            return
        since = self._first_send if self._first_send is not None else now
        sending_for = min(1.0, now - max(since, self._last_decrease + self._last_pause))
        self._last_decrease = now
        self._last_pause = pause
        current = self.rate
        self._next_increase = now + pause + 1.0
        if current is None:
            # Throttled while unlimited: start from the rate just seen and slow-start.
            seen = self.observed_rate(max(0.25, sending_for))
            new = 0.9 * seen if seen > 0 else 10.0
            self._next_increase = now + pause + 0.25
        elif self.observed_rate(max(0.25, sending_for)) < 1.0:
            # Nothing gets through at all: back off further, learn nothing.
            new = 0.5 * current
            self._next_increase = now + pause + 0.25
        elif not self._estimated:
            # Slow-start overshot: the previous step was fine, this one is too fast; the
            # success rate over the last half second (when measured) bounds it too.
            self._estimated = True
            new = current / 1.5
            seen = self.observed_rate(0.5) if sending_for >= 0.5 else 0.0
            if seen > 0:
                new = min(new, 0.9 * seen)
            # The overshoot says little about the capacity: creep from here.
            self._ceiling = new / 0.9
        else:
            # Sending at a steady rate above capacity: the success rate over the last
            # second is the capacity (plus the throttle's small burst).
            self._ceiling = current
            seen = self.observed_rate(sending_for) if sending_for >= 0.5 else 0.0
            new = min(0.93 * current, max(0.8 * current, 0.95 * seen))
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
