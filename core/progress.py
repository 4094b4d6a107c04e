"""Progress reporting without a UI dependency.

Long core functions take an optional ``progress`` callback.  The command line
feeds it to a rich progress bar, the TUI posts it to a widget from a worker,
tests pass nothing.
"""

from __future__ import annotations

from typing import Protocol


class ProgressFn(Protocol):
    def __call__(self, stage: str, done: int, total: int | None = None) -> None:
        """``stage`` names the step ("reading", "cleaning", "uploading train.jsonl", ...)."""


def null_progress(stage: str, done: int, total: int | None = None) -> None:
    return None
