"""A client-side limit on requests and tokens per minute, so a user's tier is not hammered."""

from __future__ import annotations

import asyncio
import time


class Bucket:
    """Token bucket refilled continuously at ``per_minute / 60`` per second, holding a minute's worth."""

    def __init__(self, per_minute: float | None, clock=time.monotonic) -> None:
        self.rate = per_minute / 60 if per_minute else None
        self.capacity = per_minute or 0
        self.level = float(self.capacity)
        self.clock = clock
        self.stamp = clock()
        self.lock = asyncio.Lock()

    async def take(self, amount: float = 1.0) -> None:
        if self.rate is None:
            return
        amount = min(amount, self.capacity)  # a request bigger than the bucket waits for a full one
        async with self.lock:
            while True:
                now = self.clock()
                self.level = min(self.capacity, self.level + (now - self.stamp) * self.rate)
                self.stamp = now
                if self.level >= amount:
                    self.level -= amount
                    return
                await asyncio.sleep((amount - self.level) / self.rate)


class RateLimiter:
    def __init__(self, rpm: float | None = None, tpm: float | None = None) -> None:
        self.requests = Bucket(rpm)
        self.tokens = Bucket(tpm)

    async def acquire(self, tokens: int) -> None:
        await self.requests.take(1)
        await self.tokens.take(tokens)
