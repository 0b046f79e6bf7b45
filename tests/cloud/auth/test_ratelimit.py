"""The public rate limit (GCRA): a burst of the limit, then one per share of the period."""

from __future__ import annotations

from cloud.auth.ratelimit import RateLimiter


def test_a_burst_then_one_per_share_of_the_period() -> None:
    now = [1000.0]
    limiter = RateLimiter("3/minute", clock=lambda: now[0])
    assert [limiter.hit("a").allowed for _ in range(4)] == [True, True, True, False]
    refused = limiter.hit("a")
    assert refused.retry_after_s == 20  # one request's share of the minute
    now[0] += 20
    assert limiter.hit("a").allowed
    assert not limiter.hit("a").allowed
    assert limiter.hit("b").allowed  # another client
    assert limiter.hit("a", bucket="report").allowed  # another bucket


def test_idle_clients_are_forgotten() -> None:
    now = [0.0]
    limiter = RateLimiter("1000/second", clock=lambda: now[0])
    for i in range(20_000):
        limiter.hit(f"10.0.{i // 256}.{i % 256}")
    now[0] += 10  # all of them idle since: their budgets are full again
    for i in range(10):
        limiter.hit(f"x{i}")
    assert len(limiter._tat) <= 10
