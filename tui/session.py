"""What the app holds for its lifetime: the registry, the backend client, and the jobs it follows.

Following runs in async workers on the app, not on a screen, so it continues when the user leaves
the Monitor screen; each job's events are kept here so a screen opened later shows them at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.jobs.backends import BackendChoice
    from core.jobs.series import MetricSeries
    from core.registry.db import Registry


@dataclass
class FollowedJob:
    backend: str
    job_id: str
    job: dict = field(default_factory=dict)
    events: list[dict] = field(default_factory=list)
    series: MetricSeries | None = None
    following: bool = False


class Session:
    def __init__(self, registry: Registry | None = None, choice: BackendChoice | None = None,
                 clock: Callable[[], float] = time.time, local_dir=None, local_options: dict | None = None) -> None:
        self._registry = registry
        self._choice = choice
        self.clock = clock
        self.local_dir = local_dir
        self.local_options = local_options or {}
        self.jobs: dict[tuple[str, str], FollowedJob] = {}
        self._client = None
        self._client_choice = None
        self._retired: list = []  # clients of an earlier backend still used by a following worker
        self._embedded = None

    @property
    def registry(self) -> Registry:
        if self._registry is None:
            from core.registry.db import Registry

            self._registry = Registry()
        return self._registry

    @property
    def choice(self) -> BackendChoice:
        if self._choice is None:
            from core.jobs.backends import resolve_backend

            self._choice = resolve_backend()
        return self._choice

    def use_backend(self, choice: BackendChoice) -> None:
        self._choice = choice

    async def client(self, choice: BackendChoice | None = None):
        """A client for the backend (the local one is started once and kept while the app runs)."""
        choice = choice or self.choice
        if self._client is not None and self._client_choice == choice:
            return self._client
        if self._client is not None:
            # the backend changed: close the old client now, unless a job of that backend is still followed
            # with it (then at exit), so its connections do not stay open for the rest of the session
            old_key = self._client_choice.key
            if any(job.following and job.backend == old_key for job in self.jobs.values()):
                self._retired.append(self._client)
            else:
                await self._client.close()
            self._client = None
        if choice.backend.trains_here:
            if self._embedded is None:
                from core.backend.embedded import EmbeddedBackend

                self._embedded = EmbeddedBackend(self.local_dir, **self.local_options)
            client = self._embedded.client()
        else:
            from core.jobs.backends import remote_client

            client = remote_client(choice)
        self._client, self._client_choice = client, choice
        return client

    def job(self, backend: str, job_id: str) -> FollowedJob:
        key = (backend, job_id)
        if key not in self.jobs:
            from core.jobs.series import MetricSeries

            events = self.registry.events(backend, job_id)
            run = self.registry.run_for_job(backend, job_id)
            self.jobs[key] = FollowedJob(backend, job_id, (run or {}).get("job") or {}, events,
                                         MetricSeries.from_events(events))
        return self.jobs[key]

    async def aclose(self) -> None:
        for client in self._retired:
            await client.close()
        if self._client is not None:
            await self._client.close()
        if self._embedded is not None:
            await self._embedded.aclose()
