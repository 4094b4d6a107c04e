"""A client-side limit on requests and tokens per minute, so a user's tier is not hammered.

aiolimiter's leaky buckets, each holding a minute's worth (the burst a per-minute limit allows)."""

from __future__ import annotations


class RateLimiter:
    def __init__(self, rpm: float | None = None, tpm: float | None = None) -> None:
        from aiolimiter import AsyncLimiter

        from core.errors import ValueRefused

        for flag, value in (("--rpm", rpm), ("--tpm", tpm)):
            if value is not None and not value > 0:  # NaN and negatives too
                raise ValueRefused(flag, value, "give a limit above 0, or leave it out", shown=str(value))
        self.requests = AsyncLimiter(rpm, 60) if rpm else None
        self.tokens = AsyncLimiter(tpm, 60) if tpm else None

    async def acquire(self, tokens: int) -> None:
        if self.requests is not None:
            await self.requests.acquire(min(1, self.requests.max_rate))
        if self.tokens is not None:
            # a request bigger than the bucket waits for a full one rather than never running
            await self.tokens.acquire(min(tokens, self.tokens.max_rate))
