"""The backend's persistent state: SQLite (WAL) for objects and events, a folder for file bytes.

Every object is kept as the JSON the API returns, plus the few columns queries need. Several
processes may open one data directory; job and batch ownership goes through a lease (see Leases).
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import orjson

from core.sqlite import Database

SCHEMA = [
    # version 1
    """
    CREATE TABLE files (id TEXT PRIMARY KEY, created_at INTEGER, purpose TEXT, sha256 TEXT, obj TEXT,
                        deleted INTEGER DEFAULT 0);
    CREATE TABLE jobs (id TEXT PRIMARY KEY, created_at INTEGER, status TEXT, obj TEXT,
                       lease_owner TEXT, lease_expires REAL);
    CREATE TABLE events (seq INTEGER PRIMARY KEY AUTOINCREMENT, job_id TEXT, id TEXT UNIQUE, obj TEXT);
    CREATE INDEX events_job ON events (job_id, seq);
    CREATE TABLE checkpoints (id TEXT PRIMARY KEY, job_id TEXT, step INTEGER, obj TEXT, path TEXT,
                              deleted INTEGER DEFAULT 0);
    CREATE TABLE models (id TEXT PRIMARY KEY, created INTEGER, job_id TEXT, obj TEXT, path TEXT,
                         deleted INTEGER DEFAULT 0);
    """,
    # version 2: Batch API batches (core/backend/batches.py), claimed through a lease like jobs
    """
    CREATE TABLE batches (id TEXT PRIMARY KEY, created_at INTEGER, status TEXT, obj TEXT,
                          lease_owner TEXT, lease_expires REAL);
    """,
]


class Store:
    def __init__(self, data_dir: Path) -> None:
        self.dir = Path(data_dir)
        self.files_dir = self.dir / "files"
        self.models_dir = self.dir / "models"
        self.files_dir.mkdir(parents=True, exist_ok=True)
        self.models_dir.mkdir(parents=True, exist_ok=True)
        from core.backend.leftovers import remove_leftovers

        remove_leftovers(self.dir)
        self.db = Database(self.dir / "backend.sqlite3", SCHEMA)
        self._conn = self.db.conn
        self.tx = self.db.transaction
        self.close = self.db.close
        self.job_leases = Leases(self, "jobs")

    # -- files ----------------------------------------------------------------------------
    def file_path(self, file_id: str) -> Path:
        return self.files_dir / file_id  # ids are ours, never a user's filename

    def add_file(self, obj: dict, sha256: str) -> None:
        with self.tx() as c:
            c.execute("INSERT INTO files VALUES (?,?,?,?,?,0)",
                      (obj["id"], obj["created_at"], obj["purpose"], sha256, orjson.dumps(obj)))

    def get_file(self, file_id: str) -> dict | None:
        row = self._conn().execute("SELECT obj FROM files WHERE id=? AND deleted=0", (file_id,)).fetchone()
        return orjson.loads(row[0]) if row else None

    def list_files(self, purpose: str | None = None) -> list[dict]:
        sql = "SELECT obj FROM files WHERE deleted=0" + (" AND purpose=?" if purpose else "")
        rows = self._conn().execute(sql + " ORDER BY created_at DESC, rowid DESC", (purpose,) if purpose else ())
        return [orjson.loads(r[0]) for r in rows]

    def delete_file(self, file_id: str) -> bool:
        with self.tx() as c:
            done = c.execute("UPDATE files SET deleted=1 WHERE id=? AND deleted=0", (file_id,)).rowcount
        if done:
            self.file_path(file_id).unlink(missing_ok=True)
        return bool(done)

    # -- jobs -----------------------------------------------------------------------------
    def add_job(self, obj: dict) -> None:
        with self.tx() as c:
            c.execute("INSERT INTO jobs (id, created_at, status, obj) VALUES (?,?,?,?)",
                      (obj["id"], obj["created_at"], obj["status"], orjson.dumps(obj)))

    def get_job(self, job_id: str) -> dict | None:
        row = self._conn().execute("SELECT obj FROM jobs WHERE id=?", (job_id,)).fetchone()
        return orjson.loads(row[0]) if row else None

    def update_job(self, job_id: str, **changes) -> dict:
        with self.tx() as c:
            obj = orjson.loads(c.execute("SELECT obj FROM jobs WHERE id=?", (job_id,)).fetchone()[0])
            obj.update(changes)
            c.execute("UPDATE jobs SET obj=?, status=? WHERE id=?", (orjson.dumps(obj), obj["status"], job_id))
        return obj

    def transition(self, job_id: str, allowed_from: tuple[str, ...], status: str, *, event: dict | None = None,
                   **changes) -> dict | None:
        """Change status only if the job is in one of allowed_from, and record ``event`` in the same
        transaction, so a client never sees the new status without its event; None if not allowed."""
        with self.tx() as c:
            row = c.execute("SELECT obj FROM jobs WHERE id=?", (job_id,)).fetchone()
            if row is None:
                return None
            obj = orjson.loads(row[0])
            if obj["status"] not in allowed_from:
                return None
            obj.update(changes, status=status)
            c.execute("UPDATE jobs SET obj=?, status=? WHERE id=?", (orjson.dumps(obj), status, job_id))
            if event is not None:
                c.execute("INSERT INTO events (job_id, id, obj) VALUES (?,?,?)", (job_id, event["id"], orjson.dumps(event)))
        return obj

    def list_jobs(self) -> list[dict]:
        rows = self._conn().execute("SELECT obj FROM jobs ORDER BY created_at DESC, rowid DESC")
        return [orjson.loads(r[0]) for r in rows]

    def status(self, job_id: str) -> str | None:
        row = self._conn().execute("SELECT status FROM jobs WHERE id=?", (job_id,)).fetchone()
        return row[0] if row else None

    # -- events ---------------------------------------------------------------------------
    def add_event(self, job_id: str, obj: dict) -> None:
        """Store an event; one whose id is already stored is left as it was (a restarted step that
        re-emits a fixed-id event, such as validating a file, logs it once)."""
        with self.tx() as c:
            c.execute("INSERT OR IGNORE INTO events (job_id, id, obj) VALUES (?,?,?)",
                      (job_id, obj["id"], orjson.dumps(obj)))

    def list_events(self, job_id: str, after: str | None, limit: int) -> tuple[list[dict], bool] | None:
        """Newest first; ``after`` is an event id: return the events older than it."""
        conn = self._conn()
        bound = None
        if after:
            row = conn.execute("SELECT seq FROM events WHERE id=? AND job_id=?", (after, job_id)).fetchone()
            if row is None:
                return None
            bound = row[0]
        sql = "SELECT obj FROM events WHERE job_id=?" + (" AND seq<?" if bound else "") + " ORDER BY seq DESC LIMIT ?"
        args = (job_id, bound, limit + 1) if bound else (job_id, limit + 1)
        rows = [orjson.loads(r[0]) for r in conn.execute(sql, args)]
        return rows[:limit], len(rows) > limit

    def metrics(self, job_id: str) -> list[dict]:
        """The data of the job's per-step metrics events, oldest first (the final full-validation one excluded)."""
        rows = self._conn().execute("SELECT obj FROM events WHERE job_id=? ORDER BY seq", (job_id,))
        out = []
        for (raw,) in rows:
            obj = orjson.loads(raw)
            if obj.get("type") == "metrics" and "full_valid_loss" not in obj.get("data", {}):
                out.append(obj["data"])
        return out

    # -- checkpoints and models -----------------------------------------------------------
    def add_checkpoint(self, obj: dict, path: Path, keep: int = 3) -> None:
        with self.tx() as c:
            c.execute("INSERT INTO checkpoints VALUES (?,?,?,?,?,0)",
                      (obj["id"], obj["fine_tuning_job_id"], obj["step_number"], orjson.dumps(obj), str(path)))
            old = c.execute("SELECT id, path FROM checkpoints WHERE job_id=? AND deleted=0 ORDER BY step DESC "
                            "LIMIT -1 OFFSET ?", (obj["fine_tuning_job_id"], keep)).fetchall()
            for ckpt_id, _ in old:
                c.execute("UPDATE checkpoints SET deleted=1 WHERE id=?", (ckpt_id,))
        from core.backend.model_files import remove

        for _, old_path in old:
            remove(Path(old_path))

    def list_checkpoints(self, job_id: str) -> list[tuple[dict, str]]:
        rows = self._conn().execute("SELECT obj, path FROM checkpoints WHERE job_id=? AND deleted=0 "
                                    "ORDER BY step DESC", (job_id,))
        return [(orjson.loads(o), p) for o, p in rows]

    def add_model(self, obj: dict, job_id: str | None, path: Path) -> None:
        with self.tx() as c:
            c.execute("INSERT OR REPLACE INTO models VALUES (?,?,?,?,?,0)",
                      (obj["id"], obj["created"], job_id, orjson.dumps(obj), str(path)))

    def get_model(self, model_id: str) -> tuple[dict, str] | None:
        row = self._conn().execute("SELECT obj, path FROM models WHERE id=? AND deleted=0", (model_id,)).fetchone()
        if row:
            return orjson.loads(row[0]), row[1]
        row = self._conn().execute(
            "SELECT obj, path FROM checkpoints WHERE deleted=0 AND json_extract(obj, '$.fine_tuned_model_checkpoint')=?",
            (model_id,)).fetchone()
        if row:
            ckpt = orjson.loads(row[0])
            return {"id": model_id, "object": "model", "created": ckpt["created_at"], "owned_by": "local"}, row[1]
        return None

    def list_models(self) -> list[dict]:
        rows = self._conn().execute("SELECT obj FROM models WHERE deleted=0 ORDER BY created DESC, rowid DESC")
        return [orjson.loads(r[0]) for r in rows]

    def delete_model(self, model_id: str) -> bool:
        with self.tx() as c:
            return bool(c.execute("UPDATE models SET deleted=1 WHERE id=? AND deleted=0", (model_id,)).rowcount)


def process_owner() -> str:
    return f"{os.getpid()}-{threading.get_ident()}-{time.monotonic_ns()}"


class Leases:
    """One worker at a time per row of a leased table (jobs, batches), across processes: a claim holds the
    oldest waiting row for ``lease`` seconds, renewed while the work goes on, so a holder that dies lets
    another process take the row over once its lease runs out."""

    TABLES = ("jobs", "batches")  # the tables with lease columns; the name goes into the SQL text

    def __init__(self, store: Store, table: str) -> None:
        if table not in self.TABLES:
            raise ValueError(f"{table!r} has no lease columns")
        self.store, self.table = store, table

    def claim(self, owner: str, lease: float, statuses: tuple[str, ...]) -> dict | None:
        now = time.time()
        marks = ",".join("?" * len(statuses))
        with self.store.tx() as c:
            row = c.execute(
                f"SELECT id, obj FROM {self.table} WHERE status IN ({marks}) AND "
                "(lease_owner IS NULL OR lease_expires < ?) ORDER BY created_at, rowid LIMIT 1",
                (*statuses, now)).fetchone()
            if row is None:
                return None
            c.execute(f"UPDATE {self.table} SET lease_owner=?, lease_expires=? WHERE id=?",
                      (owner, now + lease, row[0]))
        return orjson.loads(row[1])

    def renew(self, row_id: str, owner: str, lease: float) -> bool:
        with self.store.tx() as c:
            return bool(c.execute(f"UPDATE {self.table} SET lease_expires=? WHERE id=? AND lease_owner=?",
                                  (time.time() + lease, row_id, owner)).rowcount)

    def release(self, row_id: str, owner: str) -> None:
        with self.store.tx() as c:
            c.execute(f"UPDATE {self.table} SET lease_owner=NULL, lease_expires=NULL WHERE id=? AND lease_owner=?",
                      (row_id, owner))
