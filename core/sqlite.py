"""SQLite the way startune's stores use it: WAL, one connection per thread, short IMMEDIATE
transactions (several processes may share a file), numbered migrations in PRAGMA user_version."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path


def _is_lock_error(exc: BaseException) -> bool:
    return isinstance(exc, sqlite3.OperationalError) and ("locked" in str(exc) or "busy" in str(exc))


def _switch_to_wal(conn: sqlite3.Connection) -> None:
    """Switching a fresh file to WAL needs an exclusive lock, and SQLite answers "database is
    locked" at once (no busy handler) while another process creates the same file: wait and retry."""
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        return
    except sqlite3.OperationalError as exc:
        if not _is_lock_error(exc):
            raise
    from tenacity import retry, retry_if_exception, stop_after_delay, wait_random_exponential

    retry(retry=retry_if_exception(_is_lock_error), stop=stop_after_delay(30),
          wait=wait_random_exponential(multiplier=0.005, max=0.25), reraise=True)(conn.execute)("PRAGMA journal_mode=WAL")


class Database:
    def __init__(self, path: Path, migrations: Sequence[str], row_factory=None) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._row_factory = row_factory
        with self.transaction() as conn:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            for number, script in enumerate(migrations[version:], start=version + 1):
                for statement in filter(str.strip, script.split(";")):
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version={number}")

    def conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            _switch_to_wal(conn)
            # WAL + NORMAL survives a crash of the process (a power cut may lose the last commits, never corrupts)
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=30000")
            if self._row_factory is not None:
                conn.row_factory = self._row_factory
            self._local.conn = conn
        return conn

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        conn = self.conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    @property
    def schema_version(self) -> int:
        return self.conn().execute("PRAGMA user_version").fetchone()[0]

    def close(self) -> None:
        """Close this thread's connection (each thread that used the database closes its own)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
