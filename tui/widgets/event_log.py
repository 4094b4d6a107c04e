"""A job's events, coloured by level."""

from __future__ import annotations

import time

from rich.text import Text
from textual.widgets import RichLog

STYLES = {"error": "bold red", "warn": "yellow", "warning": "yellow"}


class EventLog(RichLog):
    DEFAULT_CSS = "EventLog { height: 1fr; }"

    def __init__(self, *, show_metrics: bool = False, id: str | None = None) -> None:
        # min_width 1: lines wrap to the log's own width (the default 78 cuts them in a narrow column)
        super().__init__(id=id, wrap=True, markup=False, highlight=False, max_lines=2000, min_width=1)
        self.show_metrics = show_metrics

    def add(self, events: list[dict]) -> None:
        for event in events:
            if event.get("type") == "metrics" and not self.show_metrics:
                continue
            stamp = time.strftime("%H:%M:%S", time.gmtime(event.get("created_at") or 0))
            line = Text(f"{stamp}Z ", style="dim")
            line.append(event.get("message", ""), style=STYLES.get(event.get("level", "info"), ""))
            self.write(line)
