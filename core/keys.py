"""Keeping API keys out of sight: masked for display, redacted from any text we print or store."""

from __future__ import annotations

import os
import re

KEY_VARS = ("OPENAI_API_KEY", "AZURE_OPENAI_API_KEY")
_KEY_PATTERN = re.compile(r"\b(sk-[A-Za-z0-9_\-]{8,}|[A-Fa-f0-9]{32,})\b")


def mask_key(key: str | None) -> str:
    """'sk-proj-abc...wxyz' -> 'sk-...wxyz'; short or empty keys show nothing of themselves."""
    if not key:
        return "(none)"
    prefix = "sk-" if key.startswith("sk-") else ""
    if len(key) < 12:
        return prefix + "..."
    return f"{prefix}...{key[-4:]}"


def known_keys() -> list[str]:
    return [v for v in (os.environ.get(name) for name in KEY_VARS) if v]


def redact(text: str, extra: list[str] | tuple[str, ...] = ()) -> str:
    """Replace every key we know of, and anything shaped like one, by its masked form."""
    for key in [*known_keys(), *extra]:
        if key and len(key) >= 6:
            text = text.replace(key, mask_key(key))
    return _KEY_PATTERN.sub(lambda m: mask_key(m.group(0)), text)
