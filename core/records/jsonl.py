"""Reading JSONL: one object per line, blank lines skipped, a bad line named by its number."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import orjson

from core.errors import DataError


# One example's line, at most. OpenAI's longest training example (65,536 tokens) is a few hundred KB of
# JSON; without a cap a file with no newline (/dev/zero, a binary blob) is read into memory whole.
MAX_LINE = 16 * 2**20


def iter_lines(fh: BinaryIO, path: Path, limit: int = MAX_LINE) -> Iterator[tuple[int, bytes]]:
    """(line number, bytes) of a file opened for binary reading; a line over ``limit`` bytes is a DataError
    naming it, raised after reading no more than ``limit`` bytes of it."""
    number = 0
    while raw := fh.readline(limit + 1):
        number += 1
        if len(raw) > limit and len(raw.rstrip(b"\r\n")) > limit:
            raise DataError(f"line is longer than {limit // 2**20} MB: not a JSONL file, or one record "
                            f"far over any model's limit", path=path, row=number)
        yield number, raw


def iter_jsonl(path: Path) -> Iterator[tuple[int, object]]:
    """(line number, parsed value) for every non-blank line; DataError on unreadable files or bad JSON."""
    path = Path(path)
    try:
        fh = path.open("rb")
    except OSError as exc:
        raise DataError(f"cannot open: {exc.strerror}", path=path) from None
    with fh:
        for number, raw in iter_lines(fh, path):
            if not raw.strip():
                continue
            try:
                yield number, orjson.loads(raw)
            except orjson.JSONDecodeError as exc:
                raise DataError(f"invalid JSON ({exc})", path=path, row=number) from None
