"""Where startune keeps its files.

``STARTUNE_HOME`` overrides every path (tests point it at a temporary folder);
otherwise the platform's user data and config folders are used.
"""

from __future__ import annotations

from pathlib import Path

APP_NAME = "startune"


def home() -> Path | None:
    from core.settings import env

    return env().startune_home


def _made(path: Path) -> Path:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        from core.errors import storage_error

        root = home()
        found = storage_error(exc, path, hint=f"STARTUNE_HOME={root} must be a writable folder" if root else None)
        if found is None:
            raise
        raise found from None
    return path


def data_dir() -> Path:
    root = home()
    if root is None:
        from platformdirs import user_data_path

        root = user_data_path(APP_NAME, appauthor=False)
    return _made(root)


def config_dir() -> Path:
    root = home()
    if root is not None:
        path = root / "config"
    else:
        from platformdirs import user_config_path

        path = user_config_path(APP_NAME, appauthor=False)
    return _made(path)


def registry_path() -> Path:
    """The SQLite run registry."""
    return data_dir() / "registry.sqlite3"


def local_backend_dir() -> Path:
    """State of the embedded local backend (files, jobs, events, models)."""
    path = data_dir() / "local-backend"
    return _made(path)


def runs_dir() -> Path:
    """Per-run artefacts: downloaded result CSVs, evaluation answers."""
    path = data_dir() / "runs"
    return _made(path)

