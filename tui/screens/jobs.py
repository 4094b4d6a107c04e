"""The backend's own jobs, including ones launched elsewhere: attach to follow them here."""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from tui.screens.base import AppModal
from textual.widgets import DataTable, Static

from core.jobs.records import as_record
from tui.formatting import fmt_stops, today_of


class BackendJobsScreen(AppModal):
    BINDINGS = [Binding("escape", "dismiss", "Close"), Binding("a", "attach", "Attach")]

    def __init__(self) -> None:
        super().__init__()
        self.jobs: list[dict] = []

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog-wide"):
            yield Static("Backend jobs (enter or a: attach, escape: close)", classes="title")
            yield Static("Loading the backend's jobs ...", id="jobs-status", classes="hint")
            yield DataTable(id="jobs-table", cursor_type="row")

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for col in ("job", "model", "status", "fine-tuned model", "stops serving", "here"):
            table.add_column(col)
        self.load()

    @work(exclusive=True, exit_on_error=False)
    async def load(self) -> None:
        client = await self.app.session.client()
        page = await client.fine_tuning.jobs.list(limit=50)
        self.jobs = [as_record(j) for j in page.data]
        registry, backend = self.app.session.registry, self.app.session.choice.key
        table = self.query_one(DataTable)
        today = today_of(self.app.session.clock)
        for job in self.jobs:
            tracked = "yes" if registry.run_for_job(backend, job["id"]) else ""
            table.add_row(job["id"], job.get("model", ""), job.get("status", ""), job.get("fine_tuned_model") or "",
                          fmt_stops(job.get("fine_tuned_model"), today, job=job), tracked)
        self.query_one("#jobs-status", Static).update(
            f"{len(self.jobs)} job(s) on {self.app.session.choice.describe()}" if self.jobs
            else f"No jobs yet on {self.app.session.choice.describe()}.")

    @on(DataTable.RowSelected)
    def action_attach(self) -> None:
        table = self.query_one(DataTable)
        if not self.jobs:
            return
        job = self.jobs[table.cursor_row]
        session = self.app.session
        from core.jobs.controls import attach

        run_id = attach(session.registry, backend=session.choice.key, job=job)
        self.app.follow(session.choice.key, job["id"])
        self.dismiss()
        self.app.open_run(run_id)

    def action_dismiss(self) -> None:
        self.dismiss()
