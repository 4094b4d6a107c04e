"""Option values typed as text, shared by the command line and the app."""

from __future__ import annotations

from core.errors import ConfigError


def auto_or(value: str | None, kind: type):
    """'auto' (or nothing) stays 'auto'; anything else must parse as ``kind``."""
    if value in (None, "", "auto"):
        return "auto"
    try:
        return kind(value)
    except ValueError:
        raise ConfigError(f"{value!r} is neither 'auto' nor a {kind.__name__}") from None
