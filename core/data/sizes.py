"""How long one text may be, and how much of one is shown.

A review is at most some thousands of characters, and no model's training example holds more than a few
hundred thousand. A text over MAX_TEXT_CHARS is a mistake (a wrong column, a file glued into a cell) or an
attack, and every later step pays for it several times over (stripping, hashing, tokenising, JSON): prepare
refuses it naming its row before any of that, and inspect names it. A preview shows PREVIEW_CHARS of a text.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.errors import DataError

if TYPE_CHECKING:
    import pandas as pd

MAX_TEXT_CHARS = 1_000_000
PREVIEW_CHARS = 500


def long_texts(text: pd.Series, limit: int = MAX_TEXT_CHARS, first: int = 5) -> list[tuple[int, int]]:
    """(1-based row, characters) of the first texts over ``limit``."""
    lengths = text.str.len().fillna(0)
    over = lengths[lengths > limit]
    positions = (lengths > limit).to_numpy().nonzero()[0][:first]
    return [(int(p) + 1, int(n)) for p, n in zip(positions, over.iloc[:first])]


def check_text_sizes(text: pd.Series, path, column: str) -> None:
    """DataError naming the first row whose text is over MAX_TEXT_CHARS."""
    found = long_texts(text, first=1)
    if found:
        row, chars = found[0]
        raise DataError(too_long(chars), path=path, row=row, column=column,
                        hint="check --text-column, or remove the row")


def too_long(chars: int) -> str:
    return f"text is {chars:,} characters; a text may have at most {MAX_TEXT_CHARS:,}"


def shown(value: object, limit: int = PREVIEW_CHARS) -> object:
    """A value as a preview shows it: a long string cut, saying how long it was."""
    if isinstance(value, str) and len(value) > limit:
        return f"{value[:limit]}… ({len(value):,} characters)"
    return value
