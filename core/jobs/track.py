"""Following a job into the registry: events stored as they arrive, the run kept up to date."""

from __future__ import annotations

from collections.abc import AsyncIterator

from core.jobs.follow import EventFollower
from core.jobs.retry import PollIntervals
from core.jobs.series import MetricSeries


# what the fine-tuning API accepts in each state (anything else answers 400 invalid_state)
CONTROLS = {
    "cancel": ("validating_files", "queued", "running", "paused"),
    "pause": ("queued", "running"),
    "resume": ("paused",),
}


def allowed_controls(status: str | None) -> set[str]:
    """The controls (cancel, pause, resume) a job in ``status`` accepts."""
    return {action for action, states in CONTROLS.items() if status in states}


async def track(client, registry, *, backend: str, job_id: str, intervals: PollIntervals | None = None,
                on_job=None, on_retry=None) -> AsyncIterator[dict]:
    """Yield each new event once (oldest first) after storing it; resumes after the last stored
    event, so a restarted follower neither loses nor repeats events."""
    run = registry.run_for_job(backend, job_id)
    seen_ids, seen_keys = registry.seen_event_keys(backend, job_id)

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
    async for event in follower:
        registry.add_events(backend, job_id, [event])
        yield event


def stored_series(registry, backend: str, job_id: str) -> MetricSeries:
    return MetricSeries.from_events(registry.events(backend, job_id))
