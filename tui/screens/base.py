"""What every screen of the app shares."""

from __future__ import annotations

from textual import on
from textual.binding import Binding
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, Input
from textual.worker import Worker, WorkerState


class ReportsWorkerErrors:
    """Worker.StateChanged does not bubble, so each screen hands its workers' failures to the
    app's one reporting place (StartuneApp.report_error) instead of losing them."""

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR:
            self.app.report_error(event.worker.error)  # type: ignore[attr-defined]


class AppScreen(ReportsWorkerErrors, Screen):
    """A full screen that follows the app's cursor-blink setting (snapshots need a still cursor).

    Textual calls ``on_mount`` of every class in the MRO, so subclasses keep their own."""

    def on_mount(self) -> None:
        blink = getattr(self.app, "cursor_blink", True)
        for widget in self.query(Input):
            widget.cursor_blink = blink


class AppModal(ReportsWorkerErrors, ModalScreen):
    """A dialog whose workers' failures are reported like everyone else's."""


class RunDialog(AppModal):
    """A dialog about one run (its registry row), centred; escape or its button of class ``cancel``
    dismisses it with None."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]
    DEFAULT_CSS = "RunDialog { align: center middle; }"

    def __init__(self, run: dict) -> None:
        super().__init__()
        self.run = run

    @on(Button.Pressed, ".cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
