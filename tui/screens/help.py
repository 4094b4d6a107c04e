"""F1: the keys of every screen."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown

HELP = """\
# startune keys

**Everywhere**: `F1` help · `ctrl+p` command palette (screens and actions) · `escape` back · `ctrl+q` quit

**Runs**: `n` new run · `enter` open · `space` select · `c` compare selected · `d` delete · `j` backend jobs · `r` refresh

**Dataset**: `enter` or `ctrl+o` load the path · `ctrl+t` file tree · `page up` `page down` turn pages · `ctrl+b` on to Build

**Build**: `ctrl+b` build the files · `ctrl+l` on to Launch (after a build)

**Launch**: `ctrl+l` launch (asks to confirm the cost)

**Monitor**: `c` cancel · `p` pause · `u` resume · `r` results

**Results**: `e` evaluate on the test split · `m` monitor

The local backend trains on this machine when no API key is set.
"""


class HelpScreen(ModalScreen):
    BINDINGS = [Binding("escape,f1,q", "dismiss", "Close")]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help"):
            yield Markdown(HELP)

    def action_dismiss(self) -> None:
        self.dismiss()
