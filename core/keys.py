"""Keeping API keys out of sight: masked for display, redacted from any text we print or store."""

from __future__ import annotations

import re

from core.settings import mask_key  # noqa: F401  (the keys' own name for it)

_KEY_PATTERN = re.compile(r"\b(sk-[A-Za-z0-9_\-]{8,}|[A-Fa-f0-9]{32,})\b")


def known_keys() -> list[str]:
    from core.settings import env

    return env().keys


def redact(text: str, extra: list[str] | tuple[str, ...] = ()) -> str:
    """Replace every key we know of, and anything shaped like one, by its masked form."""
    for key in [*known_keys(), *extra]:
        if key and len(key) >= 6:
            text = text.replace(key, mask_key(key))
    return _KEY_PATTERN.sub(lambda m: mask_key(m.group(0)), text)
