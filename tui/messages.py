"""Typed messages the workers post; screens and the app react to them."""

from __future__ import annotations

from dataclasses import dataclass, field

from textual.message import Message


@dataclass
class JobUpdated(Message):
    """New events (oldest first) and/or a new job state for a followed job."""

    backend: str
    job_id: str
    job: dict | None
    events: list[dict] = field(default_factory=list)


@dataclass
class JobEnded(Message):
    backend: str
    job_id: str
    job: dict


@dataclass
class Progress(Message):
    stage: str
    done: int
    total: int | None
