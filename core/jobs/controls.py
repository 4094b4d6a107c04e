"""Acting on a job, the one road for the command line and the app: cancel, pause and resume with the run
brought up to date in the registry, and attaching to a job started elsewhere (its run found or made)."""

from __future__ import annotations

from core.jobs.records import as_record
from core.status import CONTROLS


async def control(client, registry, *, backend: str, job_id: str, action: str) -> dict:
    """Cancel, pause or resume ``job_id``; the job as the backend answers, also stored on its run."""
    if action not in CONTROLS:
        raise ValueError(f"unknown control {action!r}")
    answered = await getattr(client.fine_tuning.jobs, action)(job_id)
    job = as_record(answered)
    run = registry.run_for_job(backend, job_id)
    if run is not None:
        registry.update_run(run["id"], job)
    return job


def attach(registry, *, backend: str, job: dict) -> str:
    """The run that follows ``job`` on ``backend``: the registry's own, or a new one for a job launched
    elsewhere (another machine, the backend's console, a script), so its events and results are kept."""
    run = registry.run_for_job(backend, job["id"])
    return run["id"] if run is not None else registry.add_run(backend=backend, job=job)
