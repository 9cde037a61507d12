"""Fault injection: latency, server errors, throttling and dropped connections.

:class:`Faults` is the immutable setting (all off by default); :class:`FaultInjector`
is its running state, owned by the server's event-loop thread: one seeded
``random.Random`` (so ``--seed N`` replays the same decisions for the same
request order) and a token bucket.

Per request, :meth:`FaultInjector.decide` returns one :class:`Decision`:

1. the token bucket (``throttle_rps``) is consulted first; an empty bucket
   answers 429 with ``Retry-After``;
2. then one uniform draw ``u`` picks, in that order, a 5xx error
   (``u < error_rate``), a drop (``u < error_rate + drop_rate``; half of the
   drops happen after the request was applied, the other half before), or a
   normal answer. One draw for both makes the two rates exact shares of all
   requests, so tests can compare measured shares with the flags;
3. every answer, including the faulty ones, leaves ``latency_ms`` plus a
   uniform extra in ``[0, jitter_ms]`` after its request arrived. The
   request is handled at once and its answer held back until then, so the
   server's own work overlaps with the delay (as a platform's processing
   overlaps with the network's), and N concurrent clients see N / latency.
"""

from __future__ import annotations

import enum
import math
import random
import time
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Faults:
    """What to inject. Rates are shares of all API requests, in ``[0, 1]``."""

    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    error_rate: float = 0.0
    throttle_rps: float | None = None
    drop_rate: float = 0.0
    # Burst size of the token bucket; None: a tenth of a second's worth (at
    # least 1), so the measured rate settles on the flag within a second.
    throttle_burst: float | None = None

    def __post_init__(self) -> None:
        problems = self.problems()
        if problems:
            raise ValueError("; ".join(problems))

    def problems(self) -> list[str]:
        """What is wrong with these settings, one message per flag (empty: fine)."""
        out: list[str] = []
        for name in ("latency_ms", "jitter_ms"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v >= 0):
                out.append(f"--{name.replace('_', '-')} must be 0 or more, got {v}")
        for name in ("error_rate", "drop_rate"):
            v = getattr(self, name)
            if not (math.isfinite(v) and 0 <= v <= 1):
                out.append(f"--{name.replace('_', '-')} must be between 0 and 1, got {v}")
        if not out and self.error_rate + self.drop_rate > 1:
            out.append("--error-rate and --drop-rate together must not exceed 1")
        if self.throttle_rps is not None and not (
            math.isfinite(self.throttle_rps) and self.throttle_rps > 0
        ):
            out.append(f"--throttle-rps must be more than 0, got {self.throttle_rps}")
        if self.throttle_burst is not None and not (
            math.isfinite(self.throttle_burst) and self.throttle_burst >= 1
        ):
            out.append(f"throttle_burst must be 1 or more, got {self.throttle_burst}")
        return out

    @property
    def active(self) -> bool:
        """Whether anything at all is injected (the fast path skips the injector otherwise)."""
        return bool(
            self.latency_ms
            or self.jitter_ms
            or self.error_rate
            or self.drop_rate
            or self.throttle_rps is not None
        )

    def as_dict(self) -> dict[str, float | None]:
        return {
            "latency_ms": self.latency_ms,
            "jitter_ms": self.jitter_ms,
            "error_rate": self.error_rate,
            "throttle_rps": self.throttle_rps,
            "drop_rate": self.drop_rate,
            "throttle_burst": self.throttle_burst,
        }


class Action(enum.Enum):
    """What to do with one request."""

    PASS = "pass"
    THROTTLE = "throttle"
    ERROR = "error"
    DROP_BEFORE = "drop-before"
    DROP_AFTER = "drop-after"


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    delay_s: float = 0.0
    status: int = 200  # for ERROR: 500, 502 or 503
    retry_after_s: int = 0  # for THROTTLE


ERROR_STATUSES = (500, 502, 503)
_REASONS = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}


def gateway_body(status: int) -> str:
    """The HTML a reverse proxy answers with when the application behind it fails."""
    title = f"{status} {_REASONS[status]}"
    return (
        f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
        f"<center><h1>{title}</h1></center>\r\n<hr><center>nginx</center>\r\n"
        "</body>\r\n</html>\r\n"
    )


def throttled_detail(seconds: int) -> str:
    """The platform's (Django REST framework's) throttled message."""
    return f"Request was throttled. Expected available in {seconds} seconds."


class FaultInjector:
    """The running state of one :class:`Faults` setting. Not thread-safe: loop thread only."""

    def __init__(self, faults: Faults, seed: int | None = None) -> None:
        self.faults = faults
        self._rng = random.Random(seed)
        rps = faults.throttle_rps
        self._capacity = (faults.throttle_burst or max(1.0, rps / 10)) if rps is not None else 0.0
        self._tokens = self._capacity
        self._last = time.monotonic()

    def decide(self) -> Decision:
        f = self.faults
        delay = f.latency_ms / 1000
        if f.jitter_ms:
            delay += self._rng.uniform(0, f.jitter_ms) / 1000
        if f.throttle_rps is not None:
            now = time.monotonic()
            self._tokens = min(self._capacity, self._tokens + (now - self._last) * f.throttle_rps)
            self._last = now
            if self._tokens < 1:
                wait = (1 - self._tokens) / f.throttle_rps
                return Decision(Action.THROTTLE, delay, 429, max(1, math.ceil(wait)))
            self._tokens -= 1
        if f.error_rate or f.drop_rate:
            u = self._rng.random()
            if u < f.error_rate:
                return Decision(Action.ERROR, delay, self._rng.choice(ERROR_STATUSES))
            if u < f.error_rate + f.drop_rate:
                after = self._rng.random() < 0.5
                return Decision(Action.DROP_AFTER if after else Action.DROP_BEFORE, delay)
        return Decision(Action.PASS, delay)
