"""Reading JSONL: one object per line, blank lines skipped, a bad line named by its number."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson

from core.errors import DataError


def iter_jsonl(path: Path) -> Iterator[tuple[int, object]]:
    """(line number, parsed value) for every non-blank line; DataError on unreadable files or bad JSON."""
    path = Path(path)
    try:
        fh = path.open("rb")
    except OSError as exc:
        raise DataError(f"cannot open: {exc.strerror}", path=path) from None
    with fh:
        for number, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            try:
                yield number, orjson.loads(raw)
            except orjson.JSONDecodeError as exc:
                raise DataError(f"invalid JSON ({exc})", path=path, row=number) from None
