"""The pacer and the adaptive limiter with a fake clock: the arithmetic, no sleeping."""

from __future__ import annotations

import asyncio

import pytest

from upload_preds.ratecontrol import AdaptiveLimiter, Pacer


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def succeed(pacer: Pacer, clock: FakeClock, *, seconds: float, rate: float) -> None:
    """Report successes at ``rate`` per second for ``seconds``."""
    for _ in range(int(seconds * rate)):
        clock.now += 1 / rate
        pacer.on_success()


def test_unlimited_pacer_never_delays() -> None:
    pacer = Pacer(clock=FakeClock())
    assert [pacer.reserve() for _ in range(100)] == [0.0] * 100


@pytest.mark.parametrize(("rate", "burst"), [(10.0, 1.0), (50.0, 5.0), (200.0, 1.0)])
def test_rate_cap_spaces_requests_after_the_burst(rate: float, burst: float) -> None:
    clock = FakeClock()
    pacer = Pacer(rate, burst=burst, adaptive=False, clock=clock)
    delays = [pacer.reserve() for _ in range(20)]
    assert delays[: int(burst)] == [0.0] * int(burst)
    # Each further request waits one interval more than the previous one.
    interval = 1 / rate
    for a, b in zip(delays[int(burst) :], delays[int(burst) + 1 :], strict=False):
        assert b - a == pytest.approx(interval)


def test_a_pause_holds_everyone_and_pacing_resumes_after_it() -> None:
    clock = FakeClock()
    pacer = Pacer(10.0, adaptive=False, clock=clock)
    pacer.pause(2.0)
    assert pacer.reserve() == pytest.approx(2.0)
    assert pacer.reserve() == pytest.approx(2.1)


def test_first_throttle_pauses_all_then_learns_a_rate() -> None:
    clock = FakeClock()
    pacer = Pacer(clock=clock)
    pacer.reserve()
    for _ in range(20):  # 20 successes in 0.1 s
        pacer.on_success()
        clock.now += 0.005
    pacer.on_throttled(1.0, 0.5)
    assert pacer.reserve() >= 0.99  # everybody waits Retry-After
    assert pacer.rate is not None
    assert pacer.rate < 200


def test_probe_429_with_a_learned_rate_lowers_the_rate_without_a_global_pause() -> None:
    clock = FakeClock()
    pacer = Pacer(clock=clock)
    pacer.reserve()
    pacer.on_throttled(1.0, 0.5)  # nothing known: global pause, slow-start
    succeed(pacer, clock, seconds=1.5, rate=100)
    pacer.on_throttled(1.0, 0.5)  # slow-start overshoot: now a ceiling is known
    learned = pacer.rate
    assert learned is not None
    succeed(pacer, clock, seconds=2.0, rate=100)
    learned = pacer.rate
    assert learned is not None
    pacer.on_throttled(1.0, 0.5)  # a probe
    assert pacer.rate is not None
    assert pacer.rate < learned
    assert pacer.paused_until <= clock.now
    clock.now += 0.05
    pacer.on_throttled(1.0, 0.5)  # one more from a request that was in flight
    assert pacer.paused_until <= clock.now
    clock.now += 0.05
    pacer.on_throttled(1.0, 0.5)  # a third within the cooldown: the lower rate did not help
    assert pacer.paused_until == pytest.approx(clock.now + 1.0)


def test_limiter_halves_once_per_cooldown_and_grows_back() -> None:
    clock = FakeClock()
    limiter = AdaptiveLimiter(16, cooldown=0.5, clock=clock)
    limiter.on_throttled()
    limiter.on_throttled()  # same episode
    assert int(limiter.limit) == 8
    clock.now += 1
    limiter.on_throttled()
    assert int(limiter.limit) == 4
    assert limiter.min_seen == 4
    for _ in range(200):
        limiter.on_success()
    assert int(limiter.limit) == 16


def test_limiter_admits_no_more_than_its_limit() -> None:
    async def main() -> list[int]:
        limiter = AdaptiveLimiter(3)
        peak: list[int] = []

        async def use() -> None:
            await limiter.acquire()
            peak.append(limiter.in_flight)
            await asyncio.sleep(0.001)
            limiter.release()

        await asyncio.gather(*(use() for _ in range(20)))
        return peak

    assert max(asyncio.run(main())) == 3
