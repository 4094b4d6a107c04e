"""Job statuses: the one home for their names and the groups the backend, registry, CLI and app act on.

Azure OpenAI adds its own names to OpenAI's; they mean "not started yet" or "on the way to a stop", and are
shown with what they mean rather than treated as unknown.
"""

from __future__ import annotations

from typing import Literal

JobStatus = Literal[
    "validating_files", "queued", "running", "paused", "succeeded", "failed", "cancelled",
    # Azure OpenAI's own
    "created", "pending", "notRunning", "cancelling", "pausing",
]

ACTIVE: tuple[JobStatus, ...] = ("validating_files", "queued", "running")
TERMINAL: tuple[JobStatus, ...] = ("succeeded", "failed", "cancelled")
UNFINISHED: tuple[JobStatus, ...] = (*ACTIVE, "paused")
# What a user may do to a job, by its status (the local backend enforces these; front ends offer them).
CANCELLABLE: tuple[JobStatus, ...] = UNFINISHED
PAUSABLE: tuple[JobStatus, ...] = ("running", "queued")
RESUMABLE: tuple[JobStatus, ...] = ("paused",)
CONTROLS: dict[str, tuple[JobStatus, ...]] = {"cancel": CANCELLABLE, "pause": PAUSABLE, "resume": RESUMABLE}
# Azure's names for a job that waits (created: accepted; pending: files imported, waiting for capacity;
# notRunning: queued but not scheduled), beside OpenAI's validating_files and queued.
WAITING: tuple[JobStatus, ...] = ("validating_files", "queued", "created", "pending", "notRunning")
MEANING: dict[str, str] = {
    "created": "accepted, not started (Azure)", "pending": "waiting to start (Azure)",
    "notRunning": "waiting for capacity (Azure)", "cancelling": "being cancelled (Azure)",
    "pausing": "being paused (Azure)",
}


def describe(status: str | None) -> str:
    """The status as shown to a person: Azure's own ones say what they mean."""
    status = status or "unknown"
    meaning = MEANING.get(status)
    return f"{status}: {meaning}" if meaning else status


def allowed_controls(status: str | None) -> set[str]:
    """The controls (cancel, pause, resume) a job in ``status`` accepts (anything else answers 400
    invalid_state)."""
    return {action for action, states in CONTROLS.items() if status in states}


def is_waiting(status: str | None) -> bool:
    return status in WAITING


def is_terminal(status: str | None) -> bool:
    return status in TERMINAL
