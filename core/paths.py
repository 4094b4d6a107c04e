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


def _own_folder(name: str, platform_folder: str) -> Path:
    """``name`` under STARTUNE_HOME, else the platform's folder of that kind (platformdirs' ``platform_folder``)."""
    root = home()
    if root is not None:
        return _made(root / name)
    import platformdirs

    return _made(getattr(platformdirs, platform_folder)(APP_NAME, appauthor=False))


def config_dir() -> Path:
    return _own_folder("config", "user_config_path")


def cache_dir() -> Path:
    """What startune can rebuild and keeps only for speed: ``STARTUNE_CACHE``, else ``cache`` under
    ``STARTUNE_HOME``, else the platform's user cache folder."""
    from core.settings import env

    path = env().startune_cache
    return _made(path) if path is not None else _own_folder("cache", "user_cache_path")


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

