"""Copy…: a run's ids, names and paths (core.jobs.handles), each copied whole with enter."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from tui.screens.base import AppModal


class CopyScreen(AppModal):
    """Dismissed with the (what, value) copied, or None."""

    BINDINGS = [Binding("escape,q", "cancel", "Close")]
    DEFAULT_CSS = """
    CopyScreen { align: center middle; }
    #copy-list { height: auto; max-height: 16; }
    """

    def __init__(self, title: str, handles: list[tuple[str, str]]) -> None:
        super().__init__()
        self.title_text, self.handles = title, handles

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(Text.assemble("Copy from ", (self.title_text, "bold"),
                                       ": enter copies the value to the clipboard"), id="copy-title")
            # the value in full on its own line: a name or path cut at the edge could not be read to type it
            yield OptionList(*(Option(Text.assemble((what, "bold"), "\n", value), id=str(i))
                               for i, (what, value) in enumerate(self.handles)), id="copy-list")
            yield Static("", id="copy-status", classes="hint")

    @on(OptionList.OptionSelected)
    def copy(self, event: OptionList.OptionSelected) -> None:
        what, value = self.handles[int(event.option.id or 0)]
        # the terminal's clipboard (OSC 52: it reaches the user's machine over SSH where the terminal allows
        # it); the value is also said in full, to select with the mouse where it does not
        self.app.copy_to_clipboard(value)
        self.app.notify(f"Copied {what}: {value}", markup=False, timeout=8)
        self.dismiss((what, value))

    def action_cancel(self) -> None:
        self.dismiss(None)
