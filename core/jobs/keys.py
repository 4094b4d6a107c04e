"""Kept for callers outside core (the app); the home is :mod:`core.keys`."""

from core.keys import KEY_VARS, known_keys, mask_key, redact

__all__ = ["KEY_VARS", "known_keys", "mask_key", "redact"]
