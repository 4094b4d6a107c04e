"""One-line labelled form fields: a whole Build or Launch form fits in 80x24."""

from __future__ import annotations

from textual.containers import Horizontal
from textual.widget import Widget
from textual.widgets import Input, Label, Select


def field(label: str, widget: Widget) -> Horizontal:
    """A right-aligned label and its control on one row; inputs and selects drawn compact."""
    if isinstance(widget, (Input, Select)):
        widget.compact = True
    return Horizontal(Label(label, classes="field-label"), widget, classes="field")
