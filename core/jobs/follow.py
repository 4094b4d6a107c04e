"""Following a job's events: each exactly once, oldest first, through rate limits and restarts.

The API lists events newest first with an ``after`` cursor (older than that id). Each poll pages
back from the newest event until it meets one already seen, so nothing between two polls is
missed. Some servers regenerate ids; an event whose (time, type, message) was already seen is the
same event. Polls are fast while a job runs, slower while it waits, immediate after a change.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

from core.retry import PollIntervals, call_with_backoff, without_sdk_retries
from core.jobs.records import as_record
from core.registry.db import content_key
from core.status import TERMINAL

PAGE = 100


class EventFollower:
    """``async for event in EventFollower(client, job_id): ...`` — events as the API's dicts."""

    def __init__(self, client, job_id: str, *, seen_ids=(), seen_keys=(), intervals: PollIntervals | None = None,
                 sleep: Callable[[float], Awaitable] = asyncio.sleep,
                 on_job: Callable[[dict], None] | None = None, on_retry=None) -> None:
        self.client = without_sdk_retries(client)  # the policy retries here, with on_retry; never both
        self.job_id = job_id
        self.seen_ids: set[str] = set(seen_ids)
        self.seen_keys: set[str] = set(seen_keys)
        self.intervals = intervals or PollIntervals()
        self.sleep = sleep
        self.on_job = on_job
        self.on_retry = on_retry
        self.job: dict | None = None

    def _seen(self, event: dict) -> bool:
        return event["id"] in self.seen_ids or content_key(event) in self.seen_keys

    def _mark(self, event: dict) -> None:
        self.seen_ids.add(event["id"])
        self.seen_keys.add(content_key(event))

    async def fetch_new(self) -> list[dict]:
        """Unseen events, oldest first."""
        fresh: list[dict] = []
        after = None
        while True:
            kwargs = {"limit": PAGE} | ({"after": after} if after else {})

            def page_of(kwargs: dict = kwargs):
                return self.client.fine_tuning.jobs.list_events(self.job_id, **kwargs)

            page = await call_with_backoff(page_of, self.intervals, self.sleep, self.on_retry)
            events = [as_record(e) for e in page.data]
            reached_known = False
            for event in events:
                if self._seen(event):
                    reached_known = True
                    break
                fresh.append(event)
            if reached_known or not page.has_more or not events:
                break
            after = events[-1]["id"]
        fresh.reverse()
        out = []
        for event in fresh:
            if not self._seen(event):  # a page boundary can repeat an event
                self._mark(event)
                out.append(event)
        return out

    async def refresh_job(self) -> dict:
        job = await call_with_backoff(lambda: self.client.fine_tuning.jobs.retrieve(self.job_id), self.intervals,
                                      self.sleep, self.on_retry)
        self.job = as_record(job)
        if self.on_job is not None:
            self.on_job(self.job)
        return self.job

    def __aiter__(self) -> AsyncIterator[dict]:
        return self._run()

    async def _run(self) -> AsyncIterator[dict]:
        previous = None
        while True:
            job = await self.refresh_job()
            status = job["status"]
            # events are read after the status, so a terminal status means the last events are in
            for event in await self.fetch_new():
                yield event
            if status in TERMINAL:
                # a server may write its last event just after the status: look once more
                await self.sleep(self.intervals.running)
                for event in await self.fetch_new():
                    yield event
                return
            if status != previous and previous is not None:
                previous = status
                continue
            previous = status
            await self.sleep(self.intervals.running if status == "running" else self.intervals.waiting)
