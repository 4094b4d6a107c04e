from __future__ import annotations

import asyncio
import time

from core.status import TERMINAL


async def wait_for(client, job_id: str, statuses=TERMINAL, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while True:
        job = await client.fine_tuning.jobs.retrieve(job_id)
        if job.status in statuses:
            return job
        assert time.monotonic() < deadline, f"job {job_id} still {job.status} after {timeout}s"
        await asyncio.sleep(0.05)


async def all_events(client, job_id: str) -> list:
    """Every event, oldest first, following the `after` cursor through the pages."""
    events, after = [], None
    while True:
        page = await client.fine_tuning.jobs.list_events(job_id, limit=50, **({"after": after} if after else {}))
        events.extend(page.data)
        if not page.has_more:
            return list(reversed(events))
        after = page.data[-1].id
