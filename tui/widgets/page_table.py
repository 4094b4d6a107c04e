"""A table shown a page at a time, as many rows per page as it has room for: the rows of the Dataset and
Audit screens."""

from __future__ import annotations

from textual.message import Message
from textual.widgets import DataTable

MIN_PAGE = 5  # rows per page when the table has not been laid out yet
# emoji presentation selectors: terminals draw the emoji two cells wide where Textual counts one,
# which shifts the rest of the line; shown without them, as the text symbol
_PRESENTATION = dict.fromkeys(map(ord, "\ufe0f\ufe0e"))


def shown(text: object) -> str:
    return str(text).translate(_PRESENTATION)


def one_line(text: object) -> str:
    """``shown`` with its line breaks drawn as ⏎: a row of the table is one line."""
    return shown(text).replace("\n", " ⏎ ")


class PageTable(DataTable):
    """Says when its size has changed (a Resize does not bubble), once the new layout is drawn, so its
    screen can make a page hold exactly what fits."""

    class Resized(Message):
        pass

    def on_resize(self) -> None:
        self.call_after_refresh(self.post_message, self.Resized())

    def fits(self) -> int:
        """Rows shown without scrolling (the header takes one line)."""
        height = self.size.height
        return max(MIN_PAGE, height - 1) if height else MIN_PAGE
