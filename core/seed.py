"""The one rule for a seed, wherever one is typed or sent: the split seed of `startune prepare` and the Build
screen, a job's training seed on `launch | run`, the Launch screen and the local backend's request check.

A whole number from 0 to 2**31 - 1: the fine-tuning API's seed is a 32-bit signed integer, and one rule for
both seeds means a value that builds also trains."""

from __future__ import annotations

from core.errors import ValueRefused

MAX_SEED = 2**31 - 1
SEED_RULE = f"a whole number from 0 to {MAX_SEED}"


def seed_refused(value: object) -> bool:
    """True unless ``value`` is an int seed in range (bool is not a number here)."""
    return isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_SEED


def parse_seed(text: str | int | None, flag: str = "--seed") -> int | None:
    """The seed typed as ``text`` (None when blank); ValueRefused naming ``flag`` otherwise."""
    if text is None or not str(text).strip():
        return None
    value = str(text).strip()
    if not (value.isascii() and value.isdigit()) or len(value) > len(str(MAX_SEED)) or int(value) > MAX_SEED:
        raise ValueRefused(flag, text, SEED_RULE)
    return int(value)
