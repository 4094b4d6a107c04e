"""The startune app and its factory (used by the command line and by the tests)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from textual import on, work
from textual.app import App
from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.worker import Worker, WorkerState

from tui.messages import JobEnded, JobUpdated
from tui.session import Session

from core.choices import DEFAULT_LABELS
from core.status import TERMINAL


class ScreensProvider(Provider):
    """The command palette lists every screen and the actions of the current one."""

    def _entries(self) -> list[tuple[str, str, Callable]]:
        app: StartuneApp = self.app  # type: ignore[assignment]
        entries = [
            ("Runs", "every run in the registry", app.action_open_runs),
            ("Dataset", "load and inspect a review file", app.action_open_dataset),
            ("Build", "prepare train/val/test JSONL", app.action_open_build),
            ("Audit", "reviews whose stars disagree with their text", app.action_open_audit),
            ("Launch", "start a fine-tuning job", app.action_open_launch),
            ("Help", "keys and screens", app.action_help),
        ]
        for binding in self.screen.BINDINGS:
            if isinstance(binding, Binding) and binding.show:
                entries.append((f"{self.screen.__class__.__name__.removesuffix('Screen')}: {binding.description}",
                                f"key {binding.key}", lambda action=binding.action: self.screen.run_action(action)))
        return entries

    async def discover(self) -> Hits:
        for name, help_text, callback in self._entries():
            yield DiscoveryHit(name, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, help_text, callback in self._entries():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), callback, help=help_text)


class StartuneApp(App):
    CSS_PATH = "styles/app.tcss"
    TITLE = "startune"
    SUB_TITLE = "reviews to fine-tuned model"
    COMMANDS = App.COMMANDS | {ScreensProvider}
    # classes on every screen so the stylesheet can tighten layouts on small terminals (80x24)
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (32, "-tall")]
    BINDINGS = [
        Binding("f1", "help", "Help"),
        Binding("ctrl+q", "quit", "Quit", show=True, priority=True),
        Binding("escape", "back", "Back", show=False),
    ]

    def __init__(self, session: Session, dataset: Path | None = None, *, cursor_blink: bool = True) -> None:
        super().__init__()
        self.session = session
        self.cursor_blink = cursor_blink  # off for snapshots: a blinking cursor makes them flaky
        self.initial_dataset = dataset
        self.dataset = None      # core.data.load.LoadedDataset once loaded
        self.dataset_details = None  # (DatasetSummary, CleanReport) of that dataset, kept for reopening
        self.labels_spec = DEFAULT_LABELS  # the label set the dataset is read with (Dataset screen's labels field)
        self.build_dir: Path | None = None

    def on_mount(self) -> None:
        from tui.screens.runs import RunsScreen

        self.push_screen(RunsScreen())
        if self.initial_dataset is not None:
            self.action_open_dataset()
        self.resume_unfinished()

    async def on_unmount(self) -> None:
        await self.session.aclose()

    # -- navigation -----------------------------------------------------------------------
    def action_open_runs(self) -> None:
        from tui.screens.runs import RunsScreen

        while len(self.screen_stack) > 2:
            self.pop_screen()
        if not isinstance(self.screen, RunsScreen):
            self.push_screen(RunsScreen())

    def action_open_dataset(self) -> None:
        from tui.screens.dataset import DatasetScreen

        # the first time opens the file given on the command line; later, what was loaded stays
        self.push_screen(DatasetScreen(self.initial_dataset if self.dataset is None else None))

    def action_open_build(self) -> None:
        from tui.screens.build import BuildScreen

        if self.dataset is None:
            self.notify("Load a dataset first (Dataset screen).", severity="warning")
            return
        self.push_screen(BuildScreen())

    def action_open_audit(self) -> None:
        from tui.screens.audit import AuditScreen

        if self.dataset is None:
            self.notify("Load a dataset first (Dataset screen).", severity="warning")
            return
        self.push_screen(AuditScreen())

    def action_open_launch(self) -> None:
        from tui.screens.launch import LaunchScreen

        # without a build of this session the screen offers earlier builds or a JSONL file
        self.push_screen(LaunchScreen(self.build_dir))

    def open_run(self, run_id: str) -> None:
        run = self.session.registry.get_run(run_id)
        if run is None:
            return
        if run["status"] in TERMINAL:
            self.open_results(run_id)
        else:
            self.open_monitor(run_id)

    # screens go to each other through these, so no screen imports another that imports it back
    def open_monitor(self, run_id: str, *, switch: bool = False) -> None:
        from tui.screens.monitor import MonitorScreen

        (self.switch_screen if switch else self.push_screen)(MonitorScreen(run_id))

    def open_results(self, run_id: str) -> None:
        from tui.screens.results import ResultsScreen

        self.push_screen(ResultsScreen(run_id))

    def action_help(self) -> None:
        from tui.screens.help import HelpScreen

        self.push_screen(HelpScreen())

    def action_back(self) -> None:
        if len(self.screen_stack) > 2:
            self.pop_screen()

    # -- following jobs -------------------------------------------------------------------
    def resume_unfinished(self) -> None:
        """Re-attach to jobs that were running when the app last quit."""
        for run in self.session.registry.unfinished_runs():
            if run["backend"] == self.session.choice.key:
                self.follow(run["backend"], run["job_id"])

    def follow(self, backend: str, job_id: str) -> None:
        state = self.session.job(backend, job_id)
        if not state.following:
            state.following = True
            self._follow(backend, job_id)

    @work(group="follow", exit_on_error=False)
    async def _follow(self, backend: str, job_id: str) -> None:
        from core.jobs.backends import BackendChoice
        from core.jobs.track import track

        state = self.session.job(backend, job_id)
        client = await self.session.client()
        intervals = BackendChoice.from_key(backend).backend.poll_intervals()
        try:
            async for event in track(client, self.session.registry, backend=backend, job_id=job_id,
                                     intervals=intervals, on_job=lambda job: self._job_seen(state, job)):
                state.events.append(event)
                state.series.add(event)
                self.post_message(JobUpdated(backend, job_id))
        finally:
            state.following = False
        self.post_message(JobEnded(backend, job_id, state.job))

    def _job_seen(self, state, job: dict) -> None:
        changed = job.get("status") != state.job.get("status")
        state.job = job
        if changed:
            self.post_message(JobUpdated(state.backend, state.job_id, job))

    @on(JobUpdated)
    def _tell_screens(self, message: JobUpdated) -> None:
        for screen in self.screen_stack:
            # a screen pushed but not mounted yet has no widgets: it reads the session when it mounts
            if screen.is_mounted:
                screen.post_message(JobUpdated(message.backend, message.job_id, message.job))

    @on(JobEnded)
    def _job_ended(self, message: JobEnded) -> None:
        job = message.job
        status = job.get("status")
        text = f"Job {message.job_id} {status}"
        if status == "succeeded":
            text += f": {job.get('fine_tuned_model')}"
        self.notify(text, severity="information" if status == "succeeded" else "warning", timeout=8)
        self._tell_screens(JobUpdated(message.backend, message.job_id, job))

    # -- quitting --------------------------------------------------------------------------
    def busy(self) -> str | None:
        """What quitting now would interrupt, said for the question; None when nothing is."""
        training = [job for job in self.session.jobs.values()
                    if job.following and (job.job or {}).get("status") not in TERMINAL]
        from core.jobs.backends import backend_of

        if any((backend := backend_of(job.backend)) is not None and backend.trains_here for job in training):
            return ("A job is training on this machine: it pauses while startune is closed and resumes "
                    "when you open it again.")
        if any(w.group == "evaluate" and w.state in (WorkerState.PENDING, WorkerState.RUNNING) for w in self.workers):
            return "An evaluation is running: the answers so far are kept, the rest is scored next time."
        return None

    async def action_quit(self) -> None:
        from tui.screens.confirm import ConfirmScreen

        why = self.busy()
        if why is None or isinstance(self.screen, ConfirmScreen):
            self.exit()
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.exit()

        self.push_screen(ConfirmScreen(f"{why}\nQuit now?", yes="Quit (y)", no="Stay (n)"), answered)

    # -- one place for worker failures ----------------------------------------------------
    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR:
            self.report_error(event.worker.error)

    def report_error(self, error: BaseException | None) -> None:
        from tui.errors import describe

        self.notify(describe(error), title="Error", severity="error", timeout=10)


def create_app(*, dataset: str | Path | None = None, registry=None, backend=None,
               clock: Callable[[], float] | None = None, local_dir=None, local_options: dict | None = None,
               cursor_blink: bool = True) -> StartuneApp:
    """The app as the command line opens it; tests pass their own registry, backend, clock, a
    still cursor, and options for the local backend (e.g. deny_training to rehearse OpenAI's 403)."""
    session = Session(registry=registry, choice=backend, clock=clock or time.time, local_dir=local_dir,
                      local_options=local_options)
    return StartuneApp(session, Path(dataset) if dataset else None, cursor_blink=cursor_blink)
