"""Job statuses across backends. Azure OpenAI adds its own to OpenAI's: they all mean "not started
yet", and are shown with what they mean rather than treated as unknown."""

from __future__ import annotations

TERMINAL = ("succeeded", "failed", "cancelled")
# Azure's names for a job that waits (created: accepted; pending: files imported, waiting for capacity;
# notRunning: queued but not scheduled), beside OpenAI's validating_files and queued.
WAITING = ("validating_files", "queued", "created", "pending", "notRunning")
MEANING = {"created": "accepted, not started (Azure)", "pending": "waiting to start (Azure)",
           "notRunning": "waiting for capacity (Azure)", "cancelling": "being cancelled (Azure)",
           "pausing": "being paused (Azure)"}


def describe(status: str | None) -> str:
    """The status as shown to a person: Azure's own ones say what they mean."""
    status = status or "unknown"
    meaning = MEANING.get(status)
    return f"{status}: {meaning}" if meaning else status


def is_waiting(status: str | None) -> bool:
    return status in WAITING
