"""Where startune keeps its files.

``STARTUNE_HOME`` overrides every path (tests point it at a temporary folder);
otherwise the platform's user data and config folders are used.
"""

from __future__ import annotations

import os
from pathlib import Path

APP_NAME = "startune"


def home() -> Path | None:
    value = os.environ.get("STARTUNE_HOME")
    return Path(value).expanduser() if value else None


def data_dir() -> Path:
    root = home()
    if root is None:
        from platformdirs import user_data_path

        root = user_data_path(APP_NAME, appauthor=False)
    root.mkdir(parents=True, exist_ok=True)
    return root


def config_dir() -> Path:
    root = home()
    if root is not None:
        path = root / "config"
    else:
        from platformdirs import user_config_path

        path = user_config_path(APP_NAME, appauthor=False)
    path.mkdir(parents=True, exist_ok=True)
    return path


def registry_path() -> Path:
    """The SQLite run registry."""
    return data_dir() / "registry.sqlite3"


def local_backend_dir() -> Path:
    """State of the embedded local backend (files, jobs, events, models)."""
    path = data_dir() / "local-backend"
    path.mkdir(parents=True, exist_ok=True)
    return path


def runs_dir() -> Path:
    """Per-run artefacts: downloaded result CSVs, evaluation answers."""
    path = data_dir() / "runs"
    path.mkdir(parents=True, exist_ok=True)
    return path

