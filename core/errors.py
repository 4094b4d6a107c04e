"""User-facing errors.

A :class:`StartuneError` is a mistake the user can fix (a missing file, a bad
column, a refused request).  The command line prints it as one line and exits
with code 2; the TUI shows it in a notification.  Anything else is a bug and
keeps its traceback.
"""

from __future__ import annotations

from pathlib import Path


class StartuneError(Exception):
    """One clear line naming where the problem is and, when known, what to do."""

    exit_code = 2

    def __init__(
        self,
        message: str,
        *,
        path: str | Path | None = None,
        row: int | None = None,
        column: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.message = message
        self.path = str(path) if path is not None else None
        self.row = row
        self.column = column
        self.hint = hint
        super().__init__(str(self))

    def __str__(self) -> str:
        where = []
        if self.path is not None:
            where.append(self.path)
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column {self.column!r}")
        text = self.message
        if where:
            text = f"{', '.join(where)}: {text}"
        if self.hint:
            text = f"{text} ({self.hint})"
        # One line, always: embedded newlines would break the contract with scripts.
        return " ".join(text.split())


class DataError(StartuneError):
    """The input data cannot be read or used as asked."""


class ConfigError(StartuneError):
    """An option or setting is invalid."""


class BackendError(StartuneError):
    """A backend answered with an error, or could not be reached."""

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None, **kw) -> None:
        self.status = status
        self.code = code
        super().__init__(message, **kw)
