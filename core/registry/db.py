"""The run registry: one SQLite database (WAL) in startune's data folder.

It keeps what the API forgets or never had: which build a job trained on, every event ever seen
(APIs expire them), results, evaluations and each evaluation answer. Schema changes are numbered
migrations (PRAGMA user_version). Writes are short IMMEDIATE transactions, so several startune
processes can share it.
"""

from __future__ import annotations

import hashlib
import sqlite3
import time
from collections.abc import Iterable
from pathlib import Path

import orjson

from core.sqlite import Database
from core.status import TERMINAL

MIGRATIONS = [
    """
    CREATE TABLE builds (id INTEGER PRIMARY KEY, out_dir TEXT, manifest_sha TEXT, manifest TEXT, created_at REAL);
    CREATE TABLE uploads (backend TEXT, sha256 TEXT, file_id TEXT, filename TEXT, bytes INTEGER, created_at REAL,
                          PRIMARY KEY (backend, sha256, file_id));
    CREATE TABLE runs (id TEXT PRIMARY KEY, name TEXT, backend TEXT, job_id TEXT, model TEXT, status TEXT,
                       fine_tuned_model TEXT, dataset TEXT, build_dir TEXT, config TEXT, job TEXT,
                       created_at REAL, finished_at REAL, cost_usd REAL, results_csv TEXT);
    CREATE UNIQUE INDEX runs_job ON runs (backend, job_id);
    CREATE TABLE events (seq INTEGER PRIMARY KEY AUTOINCREMENT, backend TEXT, job_id TEXT, event_id TEXT,
                         content_key TEXT, created_at INTEGER, obj TEXT);
    CREATE UNIQUE INDEX events_id ON events (backend, job_id, event_id);
    CREATE INDEX events_content ON events (backend, job_id, content_key);
    CREATE TABLE evaluations (id INTEGER PRIMARY KEY, run_id TEXT, model TEXT, data TEXT, data_sha TEXT,
                              options TEXT, report TEXT, created_at REAL);
    CREATE TABLE eval_answers (eval_key TEXT, idx INTEGER, obj TEXT, PRIMARY KEY (eval_key, idx));
    """,
    # 2: a run re-launched elsewhere (`startune rerun`) points at the run it repeats
    """
    ALTER TABLE runs ADD COLUMN rerun_of TEXT;
    CREATE INDEX runs_rerun_of ON runs (rerun_of);
    """,
    # 3: the Batch API batches an evaluation sent (`startune evaluate --batch`), so a rerun collects them
    """
    CREATE TABLE eval_batches (backend TEXT, batch_id TEXT, eval_key TEXT, indices TEXT, collected INTEGER DEFAULT 0,
                               created_at REAL, PRIMARY KEY (backend, batch_id));
    CREATE INDEX eval_batches_key ON eval_batches (eval_key);
    """,
]


def content_key(event: dict) -> str:
    """What identifies an event when a server regenerates ids: its time, type and message."""
    return f"{event.get('created_at')}|{event.get('type') or 'message'}|{event.get('message')}"



def eval_key_of(model: str, data_sha: str, key_part: dict) -> str:
    """The key under which an evaluation's answers are stored, from what the registry keeps of it
    (its options as ``key_part``): the same model, data and options find the same answers again."""
    blob = orjson.dumps({"model": model, "data": data_sha, **key_part}, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(blob).hexdigest()[:32]

class Registry:
    def __init__(self, path: Path | None = None) -> None:
        from core.paths import registry_path

        self.path = Path(path) if path is not None else registry_path()
        self.db = Database(self.path, MIGRATIONS, row_factory=sqlite3.Row)
        self._conn = self.db.conn
        self._tx = self.db.transaction
        self.close = self.db.close

    @property
    def schema_version(self) -> int:
        return self.db.schema_version

    # -- builds and uploads -------------------------------------------------------------------
    def add_build(self, out_dir: Path, manifest: dict) -> int:
        import hashlib

        sha = hashlib.sha256(orjson.dumps(manifest, option=orjson.OPT_SORT_KEYS)).hexdigest()
        with self._tx() as c:
            cur = c.execute("INSERT INTO builds (out_dir, manifest_sha, manifest, created_at) VALUES (?,?,?,?)",
                            (str(out_dir), sha, orjson.dumps(manifest), time.time()))
            return int(cur.lastrowid or 0)   # an INSERT always sets it

    def build(self, build_id: int) -> dict | None:
        row = self._conn().execute("SELECT * FROM builds WHERE id=?", (build_id,)).fetchone()
        return dict(row) | {"manifest": orjson.loads(row["manifest"])} if row else None

    def list_builds(self) -> list[dict]:
        """Every recorded build, newest first (the same folder may appear more than once)."""
        rows = self._conn().execute("SELECT * FROM builds ORDER BY created_at DESC, id DESC")
        return [dict(r) | {"manifest": orjson.loads(r["manifest"])} for r in rows]

    def find_uploads(self, backend: str, sha256: str) -> list[str]:
        rows = self._conn().execute("SELECT file_id FROM uploads WHERE backend=? AND sha256=? ORDER BY created_at DESC",
                                    (backend, sha256))
        return [r[0] for r in rows]

    def add_upload(self, backend: str, sha256: str, file_id: str, filename: str, size: int) -> None:
        with self._tx() as c:
            c.execute("INSERT OR REPLACE INTO uploads VALUES (?,?,?,?,?,?)",
                      (backend, sha256, file_id, filename, size, time.time()))

    def forget_upload(self, backend: str, file_id: str) -> None:
        with self._tx() as c:
            c.execute("DELETE FROM uploads WHERE backend=? AND file_id=?", (backend, file_id))

    # -- runs ---------------------------------------------------------------------------------
    def add_run(self, *, backend: str, job: dict, name: str | None = None, dataset: str | None = None,
                build_dir: str | None = None, config: dict | None = None, cost_usd: float | None = None) -> str:
        """Record a job (launched here, or attached from the backend's list); returns the run id."""
        existing = self.run_for_job(backend, job["id"])
        if existing:
            self.update_run(existing["id"], job)
            return existing["id"]
        run_id = "run-" + job["id"].split("-", 1)[-1][:12]
        with self._tx() as c:
            c.execute(
                "INSERT INTO runs (id, name, backend, job_id, model, status, fine_tuned_model, dataset, build_dir, "
                "config, job, created_at, finished_at, cost_usd) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (run_id, name or job.get("user_provided_suffix") or job["id"], backend, job["id"], job.get("model"),
                 job.get("status"), job.get("fine_tuned_model"), dataset, build_dir, orjson.dumps(config or {}),
                 orjson.dumps(job), job.get("created_at") or time.time(), job.get("finished_at"), cost_usd))
        return run_id

    def update_run(self, run_id: str, job: dict | None = None, **fields) -> None:
        sets, args = [], []
        if job is not None:
            fields = {"status": job.get("status"), "fine_tuned_model": job.get("fine_tuned_model"),
                      "finished_at": job.get("finished_at"), "job": orjson.dumps(job)} | fields
        for key, value in fields.items():
            sets.append(f"{key}=?")
            args.append(orjson.dumps(value) if key == "config" else value)
        if sets:
            with self._tx() as c:
                c.execute(f"UPDATE runs SET {', '.join(sets)} WHERE id=?", (*args, run_id))

    @staticmethod
    def _run(row: sqlite3.Row | None) -> dict | None:
        return None if row is None else Registry._run_of(row)

    @staticmethod
    def _run_of(row: sqlite3.Row) -> dict:
        out = dict(row)
        out["config"] = orjson.loads(out["config"]) if out["config"] else {}
        out["job"] = orjson.loads(out["job"]) if out["job"] else {}
        return out

    def get_run(self, run_id: str) -> dict | None:
        return self._run(self._conn().execute("SELECT * FROM runs WHERE id=?", (run_id,)).fetchone())

    def run_for_job(self, backend: str, job_id: str) -> dict | None:
        return self._run(self._conn().execute("SELECT * FROM runs WHERE backend=? AND job_id=?",
                                              (backend, job_id)).fetchone())

    def find_run(self, ref: str) -> dict | None:
        """A run by run id, job id, or name (the most recent)."""
        row = self._conn().execute("SELECT * FROM runs WHERE id=? OR job_id=? OR name=? ORDER BY created_at DESC",
                                   (ref, ref, ref)).fetchone()
        return self._run(row)

    def list_runs(self) -> list[dict]:
        rows = self._conn().execute("SELECT * FROM runs ORDER BY created_at DESC, rowid DESC")
        return [self._run_of(r) for r in rows]

    def unfinished_runs(self) -> list[dict]:
        rows = self._conn().execute(f"SELECT * FROM runs WHERE status NOT IN {TERMINAL} ORDER BY created_at")
        return [self._run_of(r) for r in rows]

    def link_rerun(self, run_id: str, source_run_id: str) -> None:
        """Record that ``run_id`` repeats ``source_run_id`` (same build, same settings, another backend)."""
        with self._tx() as c:
            c.execute("UPDATE runs SET rerun_of=? WHERE id=?", (source_run_id, run_id))

    def reruns_of(self, run_id: str) -> list[dict]:
        rows = self._conn().execute("SELECT * FROM runs WHERE rerun_of=? ORDER BY created_at", (run_id,))
        return [self._run_of(r) for r in rows]

    def delete_run(self, run_id: str) -> None:
        run = self.get_run(run_id)
        if run is None:
            return
        with self._tx() as c:
            c.execute("DELETE FROM events WHERE backend=? AND job_id=?", (run["backend"], run["job_id"]))
            c.execute("DELETE FROM runs WHERE id=?", (run_id,))

    # -- events -------------------------------------------------------------------------------
    def add_events(self, backend: str, job_id: str, events: Iterable[dict]) -> list[dict]:
        """Store events oldest first; returns those that were new (by id, or by content when a
        server regenerated the id)."""
        new = []
        with self._tx() as c:
            for event in events:
                key = content_key(event)
                seen = c.execute("SELECT 1 FROM events WHERE backend=? AND job_id=? AND (event_id=? OR content_key=?)",
                                 (backend, job_id, event["id"], key)).fetchone()
                if seen:
                    continue
                c.execute("INSERT INTO events (backend, job_id, event_id, content_key, created_at, obj) "
                          "VALUES (?,?,?,?,?,?)", (backend, job_id, event["id"], key, event.get("created_at"),
                                                   orjson.dumps(event)))
                new.append(event)
        return new

    def events(self, backend: str, job_id: str) -> list[dict]:
        rows = self._conn().execute("SELECT obj FROM events WHERE backend=? AND job_id=? ORDER BY seq",
                                    (backend, job_id))
        return [orjson.loads(r[0]) for r in rows]

    def events_of_runs(self, run_ids: list[str]) -> dict[str, list[dict]]:
        """Each run's events in one query (the Runs and Compare views chart every run at once)."""
        out: dict[str, list[dict]] = {run_id: [] for run_id in run_ids}
        if run_ids:
            marks = ",".join("?" * len(run_ids))
            rows = self._conn().execute(
                "SELECT r.id, e.obj FROM runs r JOIN events e ON e.backend=r.backend AND e.job_id=r.job_id "
                f"WHERE r.id IN ({marks}) ORDER BY e.seq", run_ids)
            for run_id, obj in rows:
                out[run_id].append(orjson.loads(obj))
        return out

    # -- evaluations --------------------------------------------------------------------------
    def add_evaluation(self, *, model: str, data: str, data_sha: str, options: dict, report: dict,
                       run_id: str | None = None) -> int:
        with self._tx() as c:
            return c.execute("INSERT INTO evaluations (run_id, model, data, data_sha, options, report, created_at) "
                             "VALUES (?,?,?,?,?,?,?)", (run_id, model, data, data_sha, orjson.dumps(options),
                                                        orjson.dumps(report), time.time())).lastrowid or 0

    def evaluations(self, *, run_id: str | None = None, model: str | None = None) -> list[dict]:
        sql, args = "SELECT * FROM evaluations WHERE 1=1", list[str]()
        if run_id:
            sql, args = sql + " AND run_id=?", [*args, run_id]
        if model:
            sql, args = sql + " AND model=?", [*args, model]
        rows = self._conn().execute(sql + " ORDER BY created_at DESC", args)
        out = []
        for r in rows:
            options, report = orjson.loads(r["options"]), orjson.loads(r["report"])
            out.append(dict(r) | {"options": options, "report": report, "partial": is_partial(options, report)})
        # the full evaluations first (newest first within each kind): a partial one never stands for the run
        return sorted(out, key=lambda e: e["partial"])

    def latest_evaluations(self, run_ids: list[str]) -> dict[str, dict]:
        """Each run's newest full evaluation report (else its newest partial one, marked ``"partial": True``),
        for many runs in one query; runs never evaluated are left out."""
        out: dict[str, dict] = {}
        if run_ids:
            marks = ",".join("?" * len(run_ids))
            rows = self._conn().execute(f"SELECT run_id, options, report FROM evaluations WHERE run_id IN ({marks}) "
                                        "ORDER BY created_at DESC", run_ids)
            for run_id, options, report in rows:
                report = orjson.loads(report)
                partial = is_partial(orjson.loads(options), report)
                if run_id not in out or (out[run_id].get("partial") and not partial):
                    out[run_id] = report | {"partial": partial}
        return out

    def answers(self, eval_key: str) -> dict[int, dict]:
        rows = self._conn().execute("SELECT idx, obj FROM eval_answers WHERE eval_key=?", (eval_key,))
        return {r[0]: orjson.loads(r[1]) for r in rows}

    def add_answer(self, eval_key: str, idx: int, answer: dict) -> None:
        with self._tx() as c:
            c.execute("INSERT OR IGNORE INTO eval_answers VALUES (?,?,?)", (eval_key, idx, orjson.dumps(answer)))

    def add_answers(self, eval_key: str, answers: dict[int, dict]) -> None:
        with self._tx() as c:
            c.executemany("INSERT OR IGNORE INTO eval_answers VALUES (?,?,?)",
                          [(eval_key, idx, orjson.dumps(answer)) for idx, answer in answers.items()])

    def add_eval_batch(self, backend: str, batch_id: str, eval_key: str, indices: list[int]) -> None:
        with self._tx() as c:
            c.execute("INSERT OR IGNORE INTO eval_batches VALUES (?,?,?,?,0,?)",
                      (backend, batch_id, eval_key, orjson.dumps(indices), time.time()))

    def eval_batches(self, backend: str, eval_key: str) -> list[dict]:
        """The batches sent for an evaluation on a backend and not yet collected, oldest first."""
        rows = self._conn().execute("SELECT batch_id, indices FROM eval_batches WHERE backend=? AND eval_key=? "
                                    "AND collected=0 ORDER BY created_at", (backend, eval_key))
        return [{"batch_id": r[0], "indices": orjson.loads(r[1])} for r in rows]

    def collect_eval_batch(self, backend: str, batch_id: str, answers: dict[int, dict], eval_key: str) -> None:
        """The batch's answers stored and the batch marked collected, in one transaction."""
        with self._tx() as c:
            c.executemany("INSERT OR IGNORE INTO eval_answers VALUES (?,?,?)",
                          [(eval_key, idx, orjson.dumps(answer)) for idx, answer in answers.items()])
            c.execute("UPDATE eval_batches SET collected=1 WHERE backend=? AND batch_id=?", (backend, batch_id))


def is_partial(options: dict, report: dict) -> bool:
    """An evaluation of the first ``limit`` examples only (``evaluate --limit``), not the whole test split."""
    limit = (options or {}).get("limit")
    return limit is not None and (report or {}).get("n", 0) >= limit
