"""Calling a backend politely, and giving up in bounded time.

One policy (:data:`DEFAULT_POLICY`) for every call startune makes: retry rate limits (429), server
errors (5xx, 408, 409), timeouts and dropped connections, honouring Retry-After, at most
``attempts`` tries within ``deadline`` seconds; then the last error goes to the caller, which
explains it in one line. Single calls (uploads, job creation) get it through the openai SDK's own
retry settings (:meth:`RetryPolicy.client_options`); loops that poll (the follower, evaluation) get
it through tenacity, so they can tell the user each time they wait (``on_retry``) without the
SDK's retries multiplying theirs (they call through :func:`without_sdk_retries`).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class PollIntervals:
    running: float = 1.0
    waiting: float = 3.0        # validating_files, queued, paused
    max_backoff: float = 8.0    # the longest pause between two tries when the server gives no Retry-After

    @classmethod
    def fast(cls) -> PollIntervals:
        """For the in-process local backend: nothing to be polite to."""
        return cls(running=0.1, waiting=0.2, max_backoff=2.0)


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 8           # tries of one call, the first included
    deadline: float = 30.0      # seconds one call may spend retrying; no pause goes past it
    first_wait: float = 0.5     # the backoff doubles from here (with full jitter) up to max_wait
    max_wait: float = 8.0
    read_timeout: float = 120.0  # one read or write of a request; a server that stops answering is a failure
    connect_timeout: float = 5.0

    def client_options(self) -> dict:
        """Keyword arguments for ``openai.AsyncOpenAI(...)``: the SDK retries single calls the same way
        (its backoff starts at 0.5 s and stops at 8 s, and it honours Retry-After)."""
        import httpx2

        return {"max_retries": self.attempts - 1,
                "timeout": httpx2.Timeout(self.read_timeout, connect=self.connect_timeout)}


DEFAULT_POLICY = RetryPolicy()


def is_transient(exc: BaseException) -> bool:
    """Worth another try: the same request may well succeed in a moment."""
    import openai

    if isinstance(exc, openai.APIConnectionError):  # includes timeouts and dropped connections
        return True
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code in (408, 409, 429) or exc.status_code >= 500
    return False


def retry_after(exc: BaseException) -> float | None:
    """Seconds the server asked us to wait (Retry-After-Ms, then Retry-After in seconds), if any."""
    headers = getattr(getattr(exc, "response", None), "headers", None) or {}
    for name, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        try:
            value = float(headers.get(name) or "nan") / scale
        except ValueError:
            continue
        if value >= 0:  # NaN fails this too
            return value
    return None


def without_sdk_retries(client):
    """The same client with the SDK's retries off, for a caller that retries by this policy itself."""
    if getattr(client, "max_retries", 0) == 0 or not hasattr(client, "with_options"):
        return client  # already so (a copy would also lose whatever a test attached to this one)
    return client.with_options(max_retries=0)


async def call_with_backoff(fn: Callable[[], Awaitable], intervals: PollIntervals | None = None,
                            sleep: Callable[[float], Awaitable] = asyncio.sleep, on_retry=None,
                            policy: RetryPolicy = DEFAULT_POLICY):
    """``await fn()``, retried by ``policy`` (waits capped by ``intervals.max_backoff`` unless the
    server asks for longer); ``on_retry(exc, wait)`` hears each wait. Non-transient errors, and the
    last transient one, are raised."""
    from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, stop_before_delay

    cap = min(policy.max_wait, intervals.max_backoff) if intervals is not None else policy.max_wait

    def wait(state) -> float:
        asked = retry_after(state.outcome.exception())
        if asked is not None:
            return asked
        # full jitter: concurrent callers that failed together do not come back together
        return random.uniform(0, min(cap, policy.first_wait * 2 ** (state.attempt_number - 1)))

    def before_sleep(state) -> None:
        if on_retry is not None:
            on_retry(state.outcome.exception(), state.upcoming_sleep)

    retrying = AsyncRetrying(
        retry=retry_if_exception(is_transient), wait=wait, sleep=sleep, before_sleep=before_sleep, reraise=True,
        stop=stop_after_attempt(policy.attempts) | stop_before_delay(policy.deadline))
    async def attempt():  # tenacity awaits only coroutine functions; fn may be a lambda returning a coroutine
        return await fn()

    return await retrying(attempt)
