"""Monitor: status, loss and accuracy charts that grow with each metrics event, the event log,
checkpoints; cancel, pause, resume. Following lives on the app, so leaving this screen does not
stop it."""

from __future__ import annotations

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from tui.screens.base import AppScreen
from textual.widgets import Header, Static

from core.status import TERMINAL
from tui.formatting import fmt_duration, fmt_float, fmt_pct
from tui.messages import JobUpdated
from tui.widgets.charts import ChartPair, SeriesChart
from tui.widgets.event_log import EventLog
from tui.widgets.footer import AppFooter

# the key of each of core's job controls (core.status.CONTROLS: cancel, pause, resume)
CONTROL_KEYS = {"cancel": "c", "pause": "p", "resume": "u"}
LOSS = (("train", "train_loss"), ("valid", "valid_loss"))
ACCURACY = (("train", "train_mean_token_accuracy"), ("valid", "valid_mean_token_accuracy"))


class MonitorScreen(AppScreen):
    SUB_TITLE = "Monitor"  # the header says which screen this is
    BINDINGS = [*(Binding(key, action, action.title()) for action, key in CONTROL_KEYS.items()),
                Binding("r", "results", "Results"), Binding("y", "copy", "Copy")]

    def __init__(self, run_id: str) -> None:
        super().__init__()
        self.run_id = run_id
        run = self.app.session.registry.get_run(run_id)
        self.backend, self.job_id, self.run_name = run["backend"], run["job_id"], run["name"]

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="monitor-status", classes="status-line")
        yield ChartPair(("Loss", "loss-chart"), ("Token accuracy", "accuracy-chart"), id="monitor-charts")
        with Horizontal(id="monitor-bottom"):
            yield EventLog(id="events")
            with Vertical(id="monitor-side"):
                yield Static("Checkpoints", classes="title")
                yield Static("-", id="checkpoints")
        yield AppFooter()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Cancel, pause and resume appear only when the job's state allows them."""
        from core.status import CONTROLS, allowed_controls

        if action in CONTROLS:
            status = self.app.session.job(self.backend, self.job_id).job.get("status")
            return action in allowed_controls(status)
        return True

    def on_mount(self) -> None:
        self.checkpoints: list[str] = []   # the job's checkpoint models as listed, newest first
        self.status_shown = None
        self.shown = 0  # events of the followed job already drawn; the session holds them all
        self._sync()
        state = self.app.session.job(self.backend, self.job_id)
        if state.job.get("status") not in TERMINAL and self.backend == self.app.session.choice.key:
            self.app.follow(self.backend, self.job_id)
        self.set_interval(1.0, self._status)
        self._load_checkpoints()

    @on(JobUpdated)
    def _job_updated(self, message: JobUpdated) -> None:
        if not hasattr(self, "shown"):
            return  # not mounted yet: on_mount draws everything the session holds
        if (message.backend, message.job_id) == (self.backend, self.job_id):
            self._sync(message.job)

    def _sync(self, job: dict | None = None) -> None:
        """Draw the events that arrived since the last call: points are appended, not re-plotted."""
        state = self.app.session.job(self.backend, self.job_id)
        fresh = state.events[self.shown:]
        self.shown = len(state.events)
        loss = self.query_one("#loss-chart", SeriesChart)
        accuracy = self.query_one("#accuracy-chart", SeriesChart)
        checkpoint = False
        for event in fresh:
            data = event.get("data") or {}
            if event.get("type") == "metrics" and "full_valid_loss" not in data:
                for chart, fields in ((loss, LOSS), (accuracy, ACCURACY)):
                    for name, key in fields:
                        if data.get(key) is not None:
                            chart.append(name, data["step"], data[key])
            checkpoint |= "Checkpoint" in event.get("message", "")
        self.query_one(EventLog).add(fresh)
        if checkpoint or (job or {}).get("status") in TERMINAL:
            self._load_checkpoints()
        self._status()

    def _status(self) -> None:
        state = self.app.session.job(self.backend, self.job_id)
        job, series = state.job, state.series
        now = self.app.session.clock()
        status = job.get("status", "...")
        # names are the user's text and models carry the suffix: plain, never markup or emoji codes
        parts: list = [Text.assemble((self.run_name or "", "bold"), f" {status}")]
        if series.total_steps:
            parts.append(f"step {series.last_step:,}/{series.total_steps:,}")
        if job.get("created_at"):
            end = job.get("finished_at") or now
            parts.append(f"elapsed {fmt_duration(end - job['created_at'])}")
        left = series.seconds_left(now) if status == "running" else None
        if left is not None:
            parts.append(f"about {fmt_duration(left)} left")
        if job.get("trained_tokens"):
            parts.append(f"{job['trained_tokens']:,} tokens")
        parts.append(f"valid loss {fmt_float(series.last('valid_loss'))}")
        parts.append(f"valid acc {fmt_pct(series.last('valid_mean_token_accuracy'))}")
        if job.get("fine_tuned_model"):
            parts.append(job["fine_tuned_model"])
        if (job.get("error") or {}).get("message"):
            parts.append(Text(job["error"]["message"], style="red"))
        self.query_one("#monitor-status", Static).update(Text(" · ").join(Text(p) if isinstance(p, str) else p
                                                                           for p in parts))
        if status != self.status_shown:
            self.status_shown = status
            self.refresh_bindings()

    @work(exclusive=True, group="checkpoints", exit_on_error=False)
    async def _load_checkpoints(self) -> None:
        if self.backend != self.app.session.choice.key:
            return
        client = await self.app.session.client()
        listed = await client.fine_tuning.jobs.checkpoints.list(self.job_id)
        from rich.console import Group

        # a name is one token: folded at the column's edge it broke mid-name; y copies it whole
        lines = [Text.assemble(f"step {c.step_number}: valid loss {fmt_float(c.metrics.valid_loss)}\n",
                               ("  " + c.fine_tuned_model_checkpoint, "dim"), no_wrap=True, overflow="ellipsis")
                 for c in listed.data]
        self.query_one("#checkpoints", Static).update(Group(*lines) if lines else "none yet")
        self.checkpoints = [c.fine_tuned_model_checkpoint for c in listed.data]

    def action_cancel(self) -> None:
        if not self.check_action("cancel", ()):
            return
        from tui.screens.confirm import ConfirmScreen

        def answered(yes: bool | None) -> None:
            if yes:
                self._control("cancel")

        self.app.push_screen(ConfirmScreen(f"Cancel job {self.job_id}? Training stops; this cannot be undone."),
                             answered)

    def action_pause(self) -> None:
        self._control("pause")

    def action_resume(self) -> None:
        self._control("resume")

    @work(exclusive=True, group="control", exit_on_error=False)
    async def _control(self, action: str) -> None:
        if not self.check_action(action, ()):
            return  # the state changed since the key was shown
        from core.jobs.controls import control

        client = await self.app.session.client()
        job_dict = await control(client, self.app.session.registry, backend=self.backend, job_id=self.job_id,
                                 action=action)
        self.app.session.job(self.backend, self.job_id).job = job_dict
        self._status()
        if action == "resume":
            self.app.follow(self.backend, self.job_id)
        self.app.notify(f"{self.job_id}: {job_dict['status']}")

    def action_results(self) -> None:
        self.app.open_results(self.run_id)

    def action_copy(self) -> None:
        """y: the run's ids, names and paths, to copy whole (core.jobs.handles)."""
        from core.jobs.handles import run_handles
        from tui.screens.copy import CopyScreen

        run = self.app.session.registry.get_run(self.run_id)
        if run is not None:
            self.app.push_screen(CopyScreen(run["name"] or run["id"], run_handles(run, self.checkpoints)))

