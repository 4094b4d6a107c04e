"""One home for each word: job controls come from the status groups the backend enforces, a run's backend
is read back from its registry key by the class that made it (tests/tui/test_choices.py: the app's selects)."""

from __future__ import annotations

import pytest

from core import status
from core.jobs.backends import BackendChoice


@pytest.mark.parametrize("job_status", status.JobStatus.__args__)
def test_the_controls_offered_are_those_the_backend_accepts(job_status):
    offered = status.allowed_controls(job_status)
    assert ("cancel" in offered) == (job_status in status.CANCELLABLE)
    assert ("pause" in offered) == (job_status in status.PAUSABLE)
    assert ("resume" in offered) == (job_status in status.RESUMABLE)
    assert not offered or not status.is_terminal(job_status)


@pytest.mark.parametrize("choice", [BackendChoice("local"), BackendChoice("openai"),
                                    BackendChoice("openai", "https://proxy.example/v1"),
                                    BackendChoice("azure", "https://r.openai.azure.com"),
                                    BackendChoice("compatible", "http://127.0.0.1:8765/v1")])
def test_a_backend_is_read_back_from_its_registry_key(choice):
    assert BackendChoice.from_key(choice.key) == choice
