from __future__ import annotations

import multiprocessing

from core.registry.db import MIGRATIONS, Registry


def _job(i, status="running"):
    return {"id": f"ftjob-{i}", "status": status, "model": "startune-local", "created_at": 1000 + i}


def test_migrates_and_survives_reopening(tmp_path):
    path = tmp_path / "r.sqlite3"
    registry = Registry(path)
    assert registry.schema_version == len(MIGRATIONS)
    run_id = registry.add_run(backend="local", job=_job(1), name="first", config={"epochs": 3})
    registry.add_events("local", "ftjob-1", [{"id": "e1", "created_at": 1, "message": "a"}])
    registry.close()
    again = Registry(path)
    assert again.get_run(run_id)["config"] == {"epochs": 3}
    assert [e["id"] for e in again.events("local", "ftjob-1")] == ["e1"]
    assert [r["id"] for r in again.unfinished_runs()] == [run_id]


def test_events_dedupe_by_id_and_by_content(tmp_path):
    registry = Registry(tmp_path / "r.sqlite3")
    first = {"id": "e1", "created_at": 5, "type": "message", "message": "Step 1"}
    regenerated = dict(first, id="e1-new")  # same event, new id from a server
    assert registry.add_events("local", "j", [first]) == [first]
    assert registry.add_events("local", "j", [first, regenerated]) == []
    assert len(registry.events("local", "j")) == 1


def _writer(path, worker):
    registry = Registry(path)
    for i in range(50):
        registry.add_run(backend="local", job=_job(worker * 1000 + i))
        registry.add_events("local", f"ftjob-{worker}", [{"id": f"{worker}-{i}", "created_at": i, "message": str(i)}])


def test_two_processes_write_without_loss(tmp_path):
    path = tmp_path / "r.sqlite3"
    Registry(path)
    ctx = multiprocessing.get_context("spawn")
    workers = [ctx.Process(target=_writer, args=(path, w)) for w in (1, 2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
        assert w.exitcode == 0
    registry = Registry(path)
    assert len(registry.list_runs()) == 100
    assert len(registry.events("local", "ftjob-1")) == len(registry.events("local", "ftjob-2")) == 50


def test_uploads_and_evaluation_answers(tmp_path):
    registry = Registry(tmp_path / "r.sqlite3")
    registry.add_upload("local", "abc", "file-1", "train.jsonl", 10)
    assert registry.find_uploads("local", "abc") == ["file-1"]
    assert registry.find_uploads("openai", "abc") == []
    registry.add_answer("k", 3, {"label": "5"})
    registry.add_answer("k", 3, {"label": "1"})  # first answer wins: never paid twice
    assert registry.answers("k") == {3: {"label": "5"}}
