"""Runs (home): every run in the registry, newest first; open, delete, compare, attach."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import DataTable, Header, Static

from tui.formatting import (
    backend_kind,
    fmt_float,
    fmt_stops,
    fmt_test_accuracy,
    fmt_usd,
    today_of,
)
from tui.messages import JobUpdated, RunsRead
from tui.screens.base import AppScreen
from tui.widgets.footer import AppFooter

# what a user scans for first comes first: the columns that do not fit the width whole are left out and
# named above the table (a column cut in the middle read as a value: "startune-" for startune-local)
COLUMNS = ("", "run", "status", "valid loss", "best", "test acc", "cost", "stops serving", "model", "backend",
           "dataset")
# which columns stay when not all fit, most wanted first (COLUMNS keeps the order on screen)
PRIORITY = ("", "run", "status", "test acc", "stops serving", "valid loss", "best", "cost", "model", "backend",
            "dataset")
HIDDEN_WHEN_EMPTY = ("stops serving",)  # only OpenAI's models stop serving: no column of dashes for local runs
CELL_PADDING = 2          # DataTable's cell_padding on both sides
SCROLLBAR = 2             # kept free for the vertical scrollbar a long list shows


def fitting_columns(cells: list[tuple], width: int) -> list[int]:
    """Indexes into COLUMNS of the columns to show, in COLUMNS' order, each whole: by PRIORITY while they
    fit in ``width`` cells (the selection mark, the name and the status always); ``cells``: each row's
    values, the selection mark first."""
    from rich.cells import cell_len

    needed = {}
    for i, header in enumerate(COLUMNS):
        values = [str(row[i]) for row in cells]
        if header in HIDDEN_WHEN_EMPTY and all(v == "-" for v in values):
            continue
        needed[i] = max([cell_len(header), *map(cell_len, values)]) + CELL_PADDING
    shown, used = set(), 0
    for rank, header in enumerate(PRIORITY):
        i = COLUMNS.index(header)
        if i in needed and (rank < 3 or used + needed[i] <= width - SCROLLBAR):
            shown.add(i)
            used += needed[i]
    return sorted(shown)


def run_row(run: dict, series, accuracy: float | None, today=None, partial: int | None = None) -> tuple:
    """``today``: the day shutdown dates count from (the app's clock); ``partial``: examples scored when the
    test accuracy is from a partial evaluation."""
    return (
        run["name"] or run["id"], run["status"] or "-", fmt_float(series.last("valid_loss")),
        fmt_float(series.best("valid_loss")), fmt_test_accuracy(accuracy, partial), fmt_usd(run["cost_usd"]),
        fmt_stops(run.get("fine_tuned_model"), today, job=run.get("job")) if today else "-", run["model"] or "-",
        backend_kind(run), Path(run["dataset"] or "-").name,
    )


WELCOME_STEPS = (
    ("n", "pick a dataset: a CSV, TSV, JSON(L) or Parquet file of texts and labels "
          "(try assets/sample_reviews.csv)"),
    ("ctrl+b", "on to Build: clean, split and write the training files"),
    ("ctrl+l", "on to Launch: pick a model, see the cost, start the job, watch it train"),
    ("r, e", "on a finished run: its results, then its score on the test split"),
    ("j", "or follow a job that already runs on the backend"),
    ("F1", "every key · ctrl+p every screen and action · ctrl+q quit"),
)


def welcome():
    """What a new user sees instead of an empty table: the steps, each with its key."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    steps = Table.grid(padding=(0, 2))
    steps.add_column(style="bold", no_wrap=True)
    steps.add_column()
    for key, what in WELCOME_STEPS:
        steps.add_row(key, what)
    return Group(Text.from_markup("[b]Welcome to startune[/b]: from labelled reviews to a fine-tuned model.\n"),
                 steps, Text("\nYour runs will be listed here, newest first."))


class RunsScreen(AppScreen):
    SUB_TITLE = "Runs"  # the header says which screen this is
    # short words: the footer shows every key at 80 columns; enter is a priority binding so the
    # footer lists it (the table's own enter would hide it)
    BINDINGS = [
        Binding("enter", "open", "Open", key_display="⏎", priority=True),
        Binding("n", "new_run", "New"),
        Binding("space", "select", "Select", key_display="␣"),
        Binding("c", "compare", "Compare"),
        Binding("d", "delete", "Delete"),
        Binding("R", "rerun", "Re-run"),
        Binding("y", "copy", "Copy", show=False),   # in the help, as j
        Binding("j", "jobs", "Jobs", show=False),   # in the help: at 80 columns the footer keeps f1 Help instead
        Binding("r", "refresh", "Refresh", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.selected: set[str] = set()
        self.rows: list[dict] = []

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="runs-body"):
            yield Static("", id="runs-backend", classes="status-line")
            yield DataTable(id="runs-table", cursor_type="row", zebra_stripes=True)
            yield Static(welcome(), id="runs-empty")
        yield AppFooter()

    def on_mount(self) -> None:
        self._columns: list[int] = []
        self._listed: list = []
        self._say_backend([])
        self.action_refresh()

    def _say_backend(self, left_out: list[str]) -> None:
        line = f"Backend: {self.app.session.choice.describe()}"
        if left_out:
            line += f" · a wider window shows {', '.join(left_out)}"
        self.query_one("#runs-backend", Static).update(Text(line))

    def on_screen_resume(self) -> None:
        self.action_refresh()

    @on(JobUpdated)
    def _job_updated(self, message: JobUpdated) -> None:
        if message.job is not None:
            self.action_refresh()

    @work(thread=True, exclusive=True, group="runs", exit_on_error=False)
    def action_refresh(self) -> None:
        from core.jobs.summaries import run_summaries

        today = today_of(self.app.session.clock)
        rows = [(s.run, run_row(s.run, s.series, s.test_accuracy, today, s.test_partial))
                for s in run_summaries(self.app.session.registry)]
        self.post_message(RunsRead(rows))

    @on(RunsRead)
    def _read(self, message: RunsRead) -> None:
        self._listed = message.rows
        self._show()

    def on_resize(self) -> None:
        if self._listed:
            self._show(only_if_refitted=True)

    def _show(self, only_if_refitted: bool = False) -> None:
        """Draw the listed runs in the columns that fit; a resize that fits the same columns draws nothing."""
        rows = self._listed
        table = self.query_one(DataTable)
        cursor = table.cursor_row
        marked = [(run, ("✓" if run["id"] in self.selected else " ", *cells)) for run, cells in rows]
        # the table's own width is 0 before its first layout: the screen's is the same then
        columns = fitting_columns([cells for _, cells in marked], table.size.width or self.size.width)
        if only_if_refitted and columns == self._columns:
            return
        if columns != self._columns:
            table.clear(columns=True)
            for i in columns:
                table.add_column(COLUMNS[i], key=COLUMNS[i] or "sel")
            self._columns = columns
        else:
            table.clear()
        left_out = [COLUMNS[i] for i in range(len(COLUMNS)) if i not in columns and COLUMNS[i] not in HIDDEN_WHEN_EMPTY]
        self._say_backend(left_out if rows else [])
        if bool(self.rows) != bool(rows):
            self.call_later(self.refresh_bindings)
        self.rows = [run for run, _ in rows]
        for run, cells in marked:
            # names, models and datasets are the user's text, never markup (a suffix "[bold]x" showed as "x")
            table.add_row(*(Text(str(cells[i])) for i in columns), key=run["id"])
        if rows:
            table.move_cursor(row=min(cursor, len(rows) - 1))
        self.query_one("#runs-empty").display = not rows
        table.display = bool(rows)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Open, select, compare and delete need a run: hidden while there is none."""
        if action in ("open", "select", "compare", "delete", "rerun", "copy") and not self.rows:
            return False
        return True

    def _current(self) -> dict | None:
        table = self.query_one(DataTable)
        if not self.rows or table.cursor_row >= len(self.rows):
            return None
        return self.rows[table.cursor_row]

    def action_new_run(self) -> None:
        self.app.action_open_dataset()

    @on(DataTable.RowSelected)
    def action_open(self) -> None:
        run = self._current()
        if run is not None:
            self.app.open_run(run["id"])

    def action_select(self) -> None:
        run = self._current()
        if run is None:
            return
        self.selected ^= {run["id"]}
        table = self.query_one(DataTable)
        table.update_cell(run["id"], "sel", "✓" if run["id"] in self.selected else " ")

    def action_compare(self) -> None:
        from tui.screens.compare import CompareScreen

        chosen = [r["id"] for r in self.rows if r["id"] in self.selected]
        current = self._current()
        if not chosen and current is not None:
            # nothing selected: the run under the cursor with the run it repeats or its re-runs
            chosen = CompareScreen.family(self.app.session.registry, current["id"])
        if len(chosen) < 2:
            self.app.notify("Select two or more runs with space, then press c; c alone compares a run with "
                            "its re-runs.", severity="warning")
            return
        self.app.push_screen(CompareScreen(chosen))

    def action_delete(self) -> None:
        from tui.screens.confirm import ConfirmScreen

        run = self._current()
        if run is None:
            return

        def done(confirmed: bool | None) -> None:
            if confirmed:
                self.app.session.registry.delete_run(run["id"])
                self.selected.discard(run["id"])
                self.action_refresh()

        self.app.push_screen(ConfirmScreen(f"Delete run {run['name']} from the registry?\n"
                                           "The job and its model stay on the backend."), done)

    def action_rerun(self) -> None:
        """Re-run on...: then the new run's Monitor, followed when it is on the app's backend."""
        from tui.screens.rerun import RerunScreen

        run = self._current()
        if run is None:
            return

        def done(result) -> None:
            if not result:
                return
            run_id, job_id, choice = result
            if choice.key == self.app.session.choice.key:
                self.app.follow(choice.key, job_id)
            self.app.open_run(run_id)

        self.app.push_screen(RerunScreen(run), done)

    def action_copy(self) -> None:
        """y: the ids, names and paths of the run under the cursor, to copy whole (core.jobs.handles)."""
        from core.jobs.handles import run_handles
        from tui.screens.copy import CopyScreen

        run = self._current()
        if run is not None:
            self.app.push_screen(CopyScreen(run["name"] or run["id"], run_handles(run)))

    def action_jobs(self) -> None:
        from tui.screens.jobs import BackendJobsScreen

        self.app.push_screen(BackendJobsScreen())
