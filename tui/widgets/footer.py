"""The footer every screen shows: its keys, fitted to the width so that f1 Help is always in view."""

from __future__ import annotations

from rich.cells import cell_len
from textual import events
from textual.app import ComposeResult
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

# never dropped: what a user looks for when the rest is out of view
KEPT_ACTIONS = ("help", "quit")


def key_width(key: FooterKey) -> int:
    """Cells a compact footer gives ``key``: its key, a space and its words, then the gap (or the
    palette key's rule) beside it."""
    words = 1 + cell_len(key.description) if key.description else 0
    return cell_len(key.key_display) + words + 1


def fitted(keys: list[FooterKey], width: int) -> list[FooterKey]:
    """The keys that fit in ``width`` cells: everything when it fits; else the palette's key goes first
    (ctrl+p still works, and the help says so), then screen keys from the right, the least used by
    convention. Help and Quit stay. A key left out still works; the help lists it."""
    shown = list(keys)

    def total() -> int:
        return sum(map(key_width, shown))

    if total() > width:
        shown = [k for k in shown if not k.has_class("-command-palette")]
    for key in reversed(list(shown)):
        if total() <= width:
            break
        if key.action not in KEPT_ACTIONS:
            shown.remove(key)
    return shown


class AppFooter(Footer):
    """A compact footer that recomposes on resize to keep f1 Help in view (Textual's own cuts off the
    keys at the right, Help among them, at 80 columns and below)."""

    def __init__(self) -> None:
        super().__init__(compact=True)
        self._fitted_width = 0

    def compose(self) -> ComposeResult:
        keys = list(super().compose())
        width = self.size.width or self.app.size.width
        self._fitted_width = width
        footer_keys = [k for k in keys if isinstance(k, FooterKey)]
        if len(footer_keys) != len(keys):   # binding groups: not used by the app's screens, shown as they are
            yield from keys
            return
        yield from fitted(footer_keys, width)

    def on_resize(self, event: events.Resize) -> None:
        if event.size.width != self._fitted_width:
            self.call_after_refresh(self.recompose)
