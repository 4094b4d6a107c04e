"""User-facing errors.

A :class:`StartuneError` is a mistake the user can fix (a missing file, a bad
column, a refused request).  The command line prints it as one line and exits
with code 2; the TUI shows it in a notification.  Anything else is a bug and
keeps its traceback.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum
from pathlib import Path


class Advice(Enum):
    """What to do about an error, as a value each front end words itself: the command line says the value
    (its flags and commands); the app has its own words for each member (tui/errors.py APP_ADVICE) and
    never rewords these."""

    CHOOSE_LABEL = "choose another --label-column or give --labels"
    BUILD_FIRST = "create one with `startune prepare DATASET --out DIR`"
    REBUILD = "run `startune validate` on it"
    KEY_OR_LOCAL = "export it, or use --backend local"
    NAME_TEXT_COLUMN = "name it with --text-column"
    NAME_LABEL_COLUMN = "name it with --label-column"
    SAMPLE_FEWER = "sample fewer examples (--samples)"
    GIVE_BASE_URL = "give it with --base-url URL"


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
        hint: str | Advice | None = None,
    ) -> None:
        self.message = message
        self.path = str(path) if path is not None else None
        self.row = row
        self.column = column
        self.hint = hint
        super().__init__(str(self))

    def __str__(self) -> str:
        return self.render()

    def render(self, advice: Callable[[Advice], str] | None = None) -> str:
        """The one line, with an Advice hint in ``advice``'s words (default: the command line's)."""
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
        hint = (advice or _cli_words)(self.hint) if isinstance(self.hint, Advice) else self.hint
        if hint:
            text = f"{text} ({hint})"
        # One line, always: embedded newlines would break the contract with scripts.
        return " ".join(text.split())


def _cli_words(advice: Advice) -> str:
    return advice.value


class DataError(StartuneError):
    """The input data cannot be read or used as asked."""


class ConfigError(StartuneError):
    """An option or setting is invalid."""


class ValueRefused(ConfigError):
    """A value given for an option that the option's rule refuses, as parts: the command line says
    "--flag 'value': rule"; the app, whose field names the option and shows the value, says the rule."""

    def __init__(self, flag: str, value: object, rule: str, *, hint: str | Advice | None = None,
                 shown: str | None = None) -> None:
        self.flag, self.value, self.rule = flag, value, rule
        # as typed, quoted (an empty or spaced value stays visible); ``shown`` where the value is a number
        super().__init__(f"{flag} {repr(str(value)) if shown is None else shown}: {rule}", hint=hint)


class BackendError(StartuneError):
    """A backend answered with an error, or could not be reached."""

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None, **kw) -> None:
        self.status = status
        self.code = code
        super().__init__(message, **kw)


class StorageError(StartuneError):
    """The disk refused a write: full, read-only, or not ours to write. ``errno`` says which."""

    def __init__(self, message: str, *, errno: int | None = None, **kw) -> None:
        self.errno = errno
        super().__init__(message, **kw)


def storage_error(exc: OSError, path: str | Path | None = None, hint: str | None = None) -> StorageError | None:
    """The one line for an OSError the disk raised (None for any other error): where, what, what to do."""
    import errno

    code = exc.errno
    if code in (errno.ENOSPC, errno.EDQUOT):
        message, default = "no space left on the disk", "free some space, or write somewhere else"
    elif code == errno.EROFS:
        message, default = "read-only file system", "choose a writable folder"
    elif code in (errno.EACCES, errno.EPERM):
        message, default = "permission denied", "choose a folder you can write"
    else:
        return None
    where = path if path is not None else exc.filename
    return StorageError(message, errno=code, path=where, hint=hint or default)
