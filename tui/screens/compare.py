"""Compare: the curves of two or more runs overlaid, and what differs in their configurations; a run
and its re-runs on other backends (issue 15) are shown as pairs."""

from __future__ import annotations

from rich import box
from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from tui.screens.base import AppScreen
from textual.widgets import Header, Static

from tui.formatting import backend_kind, fmt_float, fmt_pct, fmt_test_accuracy, fmt_usd
from tui.widgets.charts import ChartPair, SeriesChart
from tui.widgets.footer import AppFooter


class CompareScreen(AppScreen):
    SUB_TITLE = "Compare"  # the header says which screen this is
    BINDINGS = [Binding("escape", "app.back", "Back"), Binding("x", "toggle_axis", "Steps/epochs")]

    def __init__(self, run_ids: list[str]) -> None:
        super().__init__()
        self.run_ids = run_ids
        self.pairs: list[tuple[str, str]] = []  # (run, its re-run) among the compared runs
        # runs of 1,000 and 25,000 steps side by side: by epoch their curves can be read against each other
        self.by_epoch = False
        self._drawn: list[tuple[str, object, object]] = []   # (name, run, series)

    @staticmethod
    def family(registry, run_id: str) -> list[str]:
        """A run with the run it repeats or its re-runs: the ids to compare, source first; just the
        run itself when it has neither."""
        run = registry.get_run(run_id) or {}
        source = run.get("rerun_of") if run.get("rerun_of") and registry.get_run(run["rerun_of"]) else run_id
        return [source, *(r["id"] for r in registry.reruns_of(source))]

    def compose(self) -> ComposeResult:
        yield Header()
        yield ChartPair(("valid loss", "compare-loss"), ("valid token accuracy", "compare-accuracy"), id="compare-charts")
        with VerticalScroll(id="compare-bottom"):
            yield Static("", id="compare-table")
        yield AppFooter()

    def on_mount(self) -> None:
        from core.jobs.summaries import run_summaries
        from core.registry.compare import config_diff

        summaries = run_summaries(self.app.session.registry, self.run_ids)
        runs = [s.run for s in summaries]
        names = []
        for run in runs:
            name = run["name"] or run["id"]
            while name in names:
                name += "'"
            names.append(name)
        by_id = {run["id"]: name for run, name in zip(runs, names)}
        self.pairs = [(run["rerun_of"], run["id"]) for run in runs if run.get("rerun_of") in by_id]
        summary = Table(title="runs", title_justify="left", box=box.SIMPLE_HEAD, show_edge=False, padding=(0, 1),
                        pad_edge=False, collapse_padding=True)
        # short headers: the table fits 80 columns; 're-run of' only when a pair is compared
        columns = ("run", "re-run of", "backend", "status") if self.pairs else ("run", "backend", "status")
        for col in (*columns, "best loss", "valid acc", "test acc", "cost"):
            summary.add_column(col, justify="left" if col in columns else "right", no_wrap=col in ("run", "status"))
        self._drawn = [(name, s.run, s.series) for s, name in zip(summaries, names)]
        self._draw()
        for s, name in zip(summaries, names):
            run, series = s.run, s.series
            link = (by_id.get(run.get("rerun_of"), "-"),) if self.pairs else ()
            summary.add_row(name, *link, backend_kind(run), run["status"],
                            fmt_float(series.best("valid_loss")), fmt_pct(series.last("valid_mean_token_accuracy")),
                            fmt_test_accuracy(s.test_accuracy, s.test_partial), fmt_usd(run["cost_usd"]))
        diff = Table(title="what differs", title_justify="left", box=box.SIMPLE_HEAD, show_edge=False, padding=(0, 1))
        diff.add_column("setting")
        for name in names:
            diff.add_column(name)
        for key, values in config_diff(runs):
            diff.add_row(key, *("-" if v is None else str(v) for v in values))
        if not diff.row_count:
            diff.add_row("(identical configurations)", *([""] * len(names)))
        from rich.console import Group
        from rich.text import Text

        # the pairs first, then what differs: they are why the runs were put side by side
        pairs = [Text(f"{by_id[a]} re-run as {by_id[b]}", style="bold") for a, b in self.pairs]
        notes = [Text(note, style="yellow") for note in test_set_notes(self.app.session.registry, runs, names)]
        self.query_one("#compare-table", Static).update(Group(*pairs, *notes, diff, summary))

    def _draw(self) -> None:
        """The curves against steps, or against epochs (runs whose epochs are unknown are left out, and said)."""
        left_out = []
        for widget_id, key, title in (("#compare-loss", "valid_loss", "valid loss"),
                                      ("#compare-accuracy", "valid_mean_token_accuracy", "valid accuracy")):
            chart = self.query_one(widget_id, SeriesChart)
            chart.clear()
            chart.title = f"{title} by epoch" if self.by_epoch else title
            for name, run, series in self._drawn:
                steps, values = series.series(key)
                xs = series.in_epochs(steps, ((run.get("job") or {}).get("hyperparameters") or {}).get("n_epochs")) \
                    if self.by_epoch else steps
                if xs is None:
                    if name not in left_out:
                        left_out.append(name)
                    continue
                chart.set_series(name, xs, values)
            chart.refresh()
        if left_out:
            self.app.notify(f"epochs unknown for {', '.join(left_out)}: left out of the by-epoch charts")

    def action_toggle_axis(self) -> None:
        self.by_epoch = not self.by_epoch
        self._draw()


def test_set_notes(registry, runs: list[dict], names: list[str]) -> list[str]:
    """A warning when the runs' test accuracies come from different test sets (other data, seed or
    fractions): side by side they would read as comparable."""
    scored: dict[str, tuple[str, int]] = {}
    for run, name in zip(runs, names):
        full = [e for e in registry.evaluations(run_id=run["id"]) if not e["partial"]]
        if full:
            scored[name] = (full[0]["data_sha"], full[0]["report"].get("n", 0))
    if len({sha for sha, _ in scored.values()}) > 1:
        sizes = " vs ".join(f"{n:,}" for _, n in scored.values())
        return [f"test sets differ ({sizes} examples): test acc is not comparable between these runs"]
    tests = {name: (run.get("config") or {}).get("examples", {}).get("test") for run, name in zip(runs, names)}
    if len({n for n in tests.values() if n is not None}) > 1:
        sizes = " vs ".join(f"{n:,}" for n in tests.values() if n is not None)
        return [f"test splits differ ({sizes} examples): test acc is not comparable between these runs"]
    return []
