"""Re-run on...: the same build and settings on another backend, linked to the run it repeats."""

from __future__ import annotations

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Input, Select, Static

from core.choices import BACKEND_KINDS
from tui.screens.base import RunDialog


class RerunScreen(RunDialog):
    """Dismissed with (new run id, job id, BackendChoice) once the job is created, or None."""

    def compose(self) -> ComposeResult:
        from core.jobs.backends import BackendChoice

        source_kind = BackendChoice.from_key(self.run.get("backend") or "").kind
        # the first backend that is not the run's own: re-running where it ran needs another model
        default = next((k for k in BACKEND_KINDS if k != source_kind), BACKEND_KINDS[0])
        with Vertical(id="dialog"):
            yield Static(Text.assemble("Re-run ", (self.run.get("name") or self.run["id"], "bold"),
                                       " on another backend: the same build and settings where the backend "
                                       "takes them."), id="rerun-title")
            yield Select([(k, k) for k in BACKEND_KINDS], value=default, allow_blank=False, id="rerun-backend")
            yield Input(placeholder="model (blank: the backend's default)", id="rerun-model")
            yield Static("", id="rerun-status", classes="hint")
            with Horizontal(id="dialog-buttons"):
                yield Button("Re-run", variant="primary", id="rerun-go")
                yield Button("Cancel", id="rerun-cancel", classes="cancel")

    def on_mount(self) -> None:
        self.query_one("#rerun-model", Input).cursor_blink = getattr(
            self.app, "cursor_blink", True)

    @on(Button.Pressed, "#rerun-go")
    @on(Input.Submitted, "#rerun-model")
    def start(self) -> None:
        self.query_one("#rerun-go", Button).disabled = True
        self.query_one("#rerun-status", Static).update("Uploading the build and creating the job ...")
        self.launch(str(self.query_one("#rerun-backend", Select).value),
                    self.query_one("#rerun-model", Input).value.strip() or None)

    @work(exclusive=True, exit_on_error=False)
    async def launch(self, kind: str, model: str | None) -> None:
        """On the event loop: the launch is all awaited network calls."""
        from core.jobs.backends import open_client, resolve_backend
        from core.jobs.rerun import plan_rerun, rerun
        from tui.errors import describe

        session = self.app.session
        try:
            choice = resolve_backend(kind)
            plan = plan_rerun(session.registry, self.run["id"], choice, model=model)
            if choice.backend.trains_here or choice == session.choice:
                # the app's own client: the local backend it holds keeps training after this dialog
                run_id, job = await rerun(await session.client(choice), session.registry, plan, choice=choice)
            else:
                async with open_client(choice) as client:
                    run_id, job = await rerun(client, session.registry, plan, choice=choice)
        except Exception as exc:  # noqa: BLE001 - every failure is shown here, in one line
            self.query_one("#rerun-status", Static).update(Text(describe(exc), style="red"))
            self.query_one("#rerun-go", Button).disabled = False
            return
        self.dismiss((run_id, job["id"], choice))
