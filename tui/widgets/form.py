"""Labelled form fields that explain a bad value in place, as it is typed.

A field is one row (label + control) and, under it, a note that appears only when there is
something to say: a value a validator refused, or a remark such as "ignored in this format"."""

from __future__ import annotations

from collections.abc import Callable

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.validation import ValidationResult, Validator
from textual.widget import Widget
from textual.widgets import Input, Label, Select, Static


class Field(Vertical):
    """A right-aligned label, its control, and a note line shown only when set."""

    def __init__(self, label: str, widget: Widget, *, id: str | None = None) -> None:
        super().__init__(id=id or (f"field-{widget.id}" if widget.id else None), classes="field")
        if isinstance(widget, (Input, Select)):
            widget.compact = True
        self.label, self.control = label, widget

    def compose(self) -> ComposeResult:
        with Horizontal(classes="field-row"):
            yield Label(self.label, classes="field-label")
            yield self.control
        yield Static("", classes="field-note")

    def on_mount(self) -> None:
        self.query_one(".field-note").display = False

    def note(self, text: str = "", *, error: bool = True) -> None:
        """Say something under the control (empty: say nothing)."""
        from rich.text import Text

        note = self.query_one(".field-note", Static)
        note.set_class(error, "-error")
        note.update(Text(text))   # plain: an install line's "[transformers]" or a typed "[b]" is not markup
        note.display = bool(text)

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input is self.control:
            result = event.validation_result
            self.note("" if result is None or result.is_valid else "; ".join(result.failure_descriptions))


def field(label: str, widget: Widget) -> Field:
    return Field(label, widget)


def first_error(screen) -> tuple[Input, str] | None:
    """The first input of the screen whose value its validators refuse, with the reason."""
    for widget in screen.query(Input):
        if widget.disabled or not all(node.display for node in (widget, *widget.ancestors)):
            continue  # a hidden field (e.g. the JSONL path while a build is chosen) is not asked for
        result = widget.validate(widget.value)
        if result is not None and not result.is_valid:
            field = next((a for a in widget.ancestors if isinstance(a, Field)), None)
            label = field.label if field is not None else widget.id
            return widget, f"{label}: {'; '.join(result.failure_descriptions)}"
    return None


class Checks(Validator):
    """Accepts a value when ``check(value)`` returns without raising; the exception's message
    (StartuneError, or ValueError from a parse) explains a refused value."""

    def __init__(self, check: Callable[[str], object], *, allow_empty: bool = False) -> None:
        super().__init__()
        self.check, self.allow_empty = check, allow_empty

    def validate(self, value: str) -> ValidationResult:
        from core.errors import Advice, StartuneError, ValueRefused
        from tui.errors import APP_ADVICE, app_wording

        if self.allow_empty and not value.strip():
            return self.success()
        try:
            self.check(value)
        except StartuneError as exc:
            # a refused value is said by its rule alone: the field around it names the option and shows the value
            message = exc.rule if isinstance(exc, ValueRefused) else exc.message
            hint = APP_ADVICE[exc.hint] if isinstance(exc.hint, Advice) else exc.hint
            return self.failure(app_wording(message if hint is None else f"{message} ({hint})"))
        except (ValueError, TypeError, OverflowError) as exc:
            return self.failure(app_wording(str(exc)))
        return self.success()
