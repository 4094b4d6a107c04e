"""Compare: the curves of two or more runs overlaid, and what differs in their configurations."""

from __future__ import annotations

from rich import box
from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from tui.screens.base import AppScreen
from textual.widgets import Footer, Header, Static

from tui.formatting import fmt_float, fmt_pct
from tui.widgets.charts import SeriesChart


class CompareScreen(AppScreen):
    BINDINGS = [Binding("escape", "app.back", "Back")]

    def __init__(self, run_ids: list[str]) -> None:
        super().__init__()
        self.run_ids = run_ids

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="compare-charts"):
            yield SeriesChart("valid loss", id="compare-loss")
            yield SeriesChart("valid token accuracy", id="compare-accuracy")
        with VerticalScroll(id="compare-bottom"):
            yield Static("", id="compare-table")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        from core.jobs.summaries import run_summaries
        from core.registry.compare import config_diff

        summaries = run_summaries(self.app.session.registry, self.run_ids)
        runs = [s.run for s in summaries]
        names = []
        summary = Table(title="runs", title_justify="left", box=box.SIMPLE_HEAD, show_edge=False, padding=(0, 1))
        for col in ("run", "status", "best valid loss", "last valid acc", "test acc"):
            summary.add_column(col, justify="left" if col in ("run", "status") else "right")
        for run, series, accuracy in ((s.run, s.series, s.test_accuracy) for s in summaries):
            name = run["name"] or run["id"]
            while name in names:
                name += "'"
            names.append(name)
            for widget_id, key in (("#compare-loss", "valid_loss"), ("#compare-accuracy", "valid_mean_token_accuracy")):
                steps, values = series.series(key)
                self.query_one(widget_id, SeriesChart).set_series(name, steps, values)
            summary.add_row(name, run["status"], fmt_float(series.best("valid_loss")),
                            fmt_pct(series.last("valid_mean_token_accuracy")),
                            fmt_pct(accuracy))
        diff = Table(title="what differs", title_justify="left", box=box.SIMPLE_HEAD, show_edge=False, padding=(0, 1))
        diff.add_column("setting")
        for name in names:
            diff.add_column(name)
        for key, values in config_diff(runs):
            diff.add_row(key, *("-" if v is None else str(v) for v in values))
        if not diff.row_count:
            diff.add_row("(identical configurations)", *([""] * len(names)))
        from rich.console import Group

        # what differs first: it is why the runs were put side by side
        self.query_one("#compare-table", Static).update(Group(diff, summary))
