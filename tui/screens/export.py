"""Export...: a run's evidence, its model card and (where it can be) its model as ONNX, into a folder;
the same use case as `startune export RUN --out DIR [--onnx]` (core.export.bundle)."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.widgets import Button, Checkbox, Input, Static

from tui.screens.base import RunDialog
from tui.widgets.path_input import PathInput


def onnx_unavailable(run: dict) -> str | None:
    """Why the ONNX box is off for this run, or None when it can be ticked."""
    from core.export.onnx_export import INSTALL_HINT, missing

    if not run.get("fine_tuned_model"):
        return "no model yet"
    from core.jobs.backends import backend_of

    backend = backend_of(run.get("backend"))
    if backend is None or not backend.trains_here:
        return f"the model lives on {run.get('backend')}"
    return f"needs {INSTALL_HINT}" if missing() else None   # short: the whole line does not fit 80 columns


class ExportScreen(RunDialog):
    """Dismissed with what core.export.bundle wrote (its dict), or None."""

    def compose(self) -> ComposeResult:
        why_not = onnx_unavailable(self.run)
        with Vertical(id="dialog"):
            yield Static(Text.assemble("Export ", (self.run.get("name") or self.run["id"], "bold"),
                                       ": its evidence and a model card, into this folder"), id="export-title")
            yield PathInput(f"startune-export-{self.run['id']}", placeholder="folder to write into",
                            id="export-folder")
            # plain Content: a reason such as "startune[onnx]" is not markup
            yield Checkbox(Content("the model as ONNX too" + (f" ({why_not})" if why_not else "")),
                           value=why_not is None, disabled=why_not is not None, id="export-onnx")
            yield Static("", id="export-status", classes="hint")
            with Horizontal(id="dialog-buttons"):
                yield Button("Export", variant="primary", id="export-go")
                yield Button("Cancel", id="export-cancel", classes="cancel")

    @on(Button.Pressed, "#export-go")
    @on(Input.Submitted, "#export-folder")
    def start(self) -> None:
        folder = self.query_one("#export-folder", Input).value.strip()
        status = self.query_one("#export-status", Static)
        if not folder:
            status.update("[red]type the folder to write into[/red]")
            return
        self.query_one("#export-go", Button).disabled = True
        onnx = self.query_one("#export-onnx", Checkbox).value
        status.update("Exporting" + (" (a transformer's ONNX takes a minute) ..." if onnx else " ..."))
        self.export(Path(folder).expanduser(), onnx)

    @work(thread=True, exclusive=True, exit_on_error=False)
    def export(self, folder: Path, onnx: bool) -> None:
        """In a thread: writing files and tracing a network to ONNX block for seconds."""
        from core.export.bundle import export_bundle
        from tui.errors import describe

        try:
            written = export_bundle(self.app.session.registry, self.run["id"], folder, onnx=onnx)
        except Exception as exc:  # noqa: BLE001 - every failure is shown here, in one line
            self.app.call_from_thread(self._failed, describe(exc))
            return
        self.app.call_from_thread(self.dismiss, written)

    def _failed(self, line: str) -> None:
        self.query_one("#export-status", Static).update(Text(line, style="red"))
        self.query_one("#export-go", Button).disabled = False
