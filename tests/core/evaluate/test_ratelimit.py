"""The evaluation's client-side limit (aiolimiter): a minute's burst, then the per-minute pace."""

from __future__ import annotations

import time

from core.evaluate.ratelimit import RateLimiter


async def test_tokens_per_minute_pace_after_the_burst():
    limiter = RateLimiter(tpm=1200)  # 20 tokens a second
    start = time.monotonic()
    await limiter.acquire(1200)      # a minute's worth at once
    assert time.monotonic() - start < 0.2
    await limiter.acquire(10)        # now waits for 10 tokens to drain: ~0.5 s
    assert 0.3 < time.monotonic() - start < 3


async def test_oversized_requests_and_slow_limits_still_run():
    limiter = RateLimiter(rpm=0.5, tpm=100)
    await limiter.acquire(5_000)     # bigger than the bucket: waits for a full one, never raises
    assert limiter.requests is not None


async def test_no_limits_never_wait():
    limiter = RateLimiter()
    start = time.monotonic()
    for _ in range(1000):
        await limiter.acquire(10**6)
    assert time.monotonic() - start < 0.5


def test_non_positive_limits_are_one_line():
    import pytest

    from core.errors import ConfigError

    for kw in ({"rpm": -1}, {"tpm": 0}, {"rpm": float("nan")}):
        with pytest.raises(ConfigError, match="give a limit above 0"):
            RateLimiter(**kw)
