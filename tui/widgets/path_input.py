"""A path input that completes file and folder names (right arrow accepts)."""

from __future__ import annotations

from pathlib import Path

from textual.suggester import Suggester
from textual.widgets import Input


class PathSuggester(Suggester):
    def __init__(self) -> None:
        super().__init__(use_cache=False, case_sensitive=True)

    async def get_suggestion(self, value: str) -> str | None:
        if not value:
            return None
        path = Path(value).expanduser()
        folder, prefix = (path, "") if value.endswith("/") else (path.parent, path.name)
        try:
            names = sorted(p.name + ("/" if p.is_dir() else "") for p in folder.iterdir()
                           if p.name.startswith(prefix) and not p.name.startswith("."))
        except OSError:
            return None
        if not names:
            return None
        return value + names[0][len(prefix):]


class PathInput(Input):
    def __init__(self, value: str = "", *, placeholder: str = "path to a CSV, TSV, JSON(L) or Parquet file",
                 **kw) -> None:
        super().__init__(value=value, suggester=PathSuggester(), placeholder=placeholder, **kw)
