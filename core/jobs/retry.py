"""Calling a backend politely: retry rate limits, server errors and dropped connections with
backoff, honouring Retry-After; everything else is the caller's to handle."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class PollIntervals:
    running: float = 1.0
    waiting: float = 3.0        # validating_files, queued, paused
    max_backoff: float = 30.0

    @classmethod
    def fast(cls) -> PollIntervals:
        """For the in-process local backend: nothing to be polite to."""
        return cls(running=0.1, waiting=0.2, max_backoff=2.0)


async def call_with_backoff(fn: Callable[[], Awaitable], intervals: PollIntervals,
                            sleep: Callable[[float], Awaitable] = asyncio.sleep, on_retry=None):
    """Retry 429s, 5xx, timeouts and dropped connections, honouring Retry-After; raise the rest."""
    import openai

    delay = 0.5
    while True:
        try:
            return await fn()
        except (openai.RateLimitError, openai.InternalServerError, openai.APIConnectionError) as exc:
            wait = delay * (0.5 + random.random())
            headers = getattr(getattr(exc, "response", None), "headers", None) or {}
            if headers.get("retry-after-ms"):
                wait = float(headers["retry-after-ms"]) / 1000
            elif headers.get("retry-after"):
                try:
                    wait = float(headers["retry-after"])
                except ValueError:
                    pass
            if on_retry is not None:
                on_retry(exc, wait)
            await sleep(min(wait, intervals.max_backoff))
            delay = min(delay * 2, intervals.max_backoff)
        except openai.APIStatusError as exc:
            if exc.status_code in (408, 409) or exc.status_code >= 500:
                await sleep(min(delay, intervals.max_backoff))
                delay = min(delay * 2, intervals.max_backoff)
                continue
            raise
