"""Following a job into the registry: events stored as they arrive, the run kept up to date."""

from __future__ import annotations

from collections.abc import AsyncIterator

from core.errors import ConfigError
from core.jobs.follow import EventFollower
from core.retry import PollIntervals
from core.registry.db import content_key


async def track(client, registry, *, backend: str, job_id: str, intervals: PollIntervals | None = None,
                on_job=None, on_retry=None, replay: bool = False, since: str | None = None) -> AsyncIterator[dict]:
    """Yield the job's events oldest first, each once, storing new ones before yielding them.

    Without ``replay`` or ``since``: only events the registry has not stored yet (a screen that
    already shows the stored ones). With ``replay``: the whole stream, stored events first; with
    ``since``: the stream after that event id. Each caller's stream starts where *it* asks, never
    where another follower stopped, so a follower killed between storing and printing an event
    prints it again when rerun (exactly once from the user's cursor)."""
    run = registry.run_for_job(backend, job_id)
    # one snapshot: what is replayed and what the follower treats as seen are the same events
    stored = registry.events(backend, job_id)
    seen_ids, seen_keys = {e["id"] for e in stored}, {content_key(e) for e in stored}
    waiting_for = since  # events up to and including this id are the caller's already

    def wanted(event: dict) -> bool:
        nonlocal waiting_for
        if waiting_for is None:
            return True
        if event["id"] == waiting_for:
            waiting_for = None
        return False

    def job_changed(job: dict) -> None:
        nonlocal run
        if run is None:
            run_id = registry.add_run(backend=backend, job=job)
            run = registry.get_run(run_id)
        else:
            registry.update_run(run["id"], job)
        if on_job is not None:
            on_job(job)

    follower = EventFollower(client, job_id, seen_ids=seen_ids, seen_keys=seen_keys, intervals=intervals,
                             on_job=job_changed, on_retry=on_retry)
    if replay or since is not None:
        for event in stored:
            if wanted(event):
                yield event
    if waiting_for is not None:
        # the cursor is not in the registry: the backend's history must have it, or it is a mistake
        fresh = await follower.fetch_new()
        registry.add_events(backend, job_id, fresh)
        if all(event["id"] != since for event in fresh):
            raise ConfigError(f"event {since!r} is not in job {job_id}'s events",
                              hint="pass an event id printed by `startune follow --json`, or drop --since")
        for event in fresh:
            if wanted(event):
                yield event
    async for event in follower:
        registry.add_events(backend, job_id, [event])
        yield event

