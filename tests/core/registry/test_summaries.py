from __future__ import annotations

from core.jobs.summaries import run_summaries
from core.registry.db import Registry


def _metrics(i, step, valid_loss):
    return {"id": f"m{i}-{step}", "created_at": step, "type": "metrics",
            "data": {"step": step, "valid_loss": valid_loss, "valid_mean_token_accuracy": 0.5 + i / 10}}


def _registry(tmp_path, n):
    registry = Registry(tmp_path / "r.sqlite3")
    ids = []
    for i in range(n):
        ids.append(registry.add_run(backend="local", job={"id": f"ftjob-{i}", "status": "succeeded",
                                                           "model": "m", "created_at": 1000 + i}, name=f"run{i}"))
        registry.add_events("local", f"ftjob-{i}", [_metrics(i, 1, 2.0 - i), _metrics(i, 2, 1.0 - i / 10)])
    registry.add_evaluation(model="m", data="test.jsonl", data_sha="x", options={}, report={"accuracy": 0.4},
                            run_id=ids[0])
    registry.add_evaluation(model="m", data="test.jsonl", data_sha="x", options={}, report={"accuracy": 0.7},
                            run_id=ids[0])
    return registry, ids


def test_summaries_match_the_per_run_reads(tmp_path):
    registry, ids = _registry(tmp_path, 3)
    summaries = run_summaries(registry)
    assert [s.run["id"] for s in summaries] == [r["id"] for r in registry.list_runs()]
    for s in summaries:
        events = registry.events("local", s.run["job_id"])
        assert s.series.points == {e["data"]["step"]: {k: e["data"][k] for k in ("valid_loss", "valid_mean_token_accuracy")}
                                   for e in events}
        evals = registry.evaluations(run_id=s.run["id"])
        assert s.test_accuracy == (evals[0]["report"]["accuracy"] if evals else None)
    assert {s.run["id"]: s.test_accuracy for s in summaries}[ids[0]] == 0.7


def test_named_runs_come_in_the_order_named(tmp_path):
    registry, ids = _registry(tmp_path, 3)
    assert [s.run["id"] for s in run_summaries(registry, [ids[2], "nope", ids[0]])] == [ids[2], ids[0]]


def test_query_count_does_not_grow_with_runs(tmp_path):
    def selects(n):
        registry, _ = _registry(tmp_path / str(n), n)
        seen = []
        registry._conn().set_trace_callback(lambda sql: seen.append(sql) if sql.lstrip().startswith("SELECT") else None)
        run_summaries(registry)
        registry.close()
        return len(seen)

    assert selects(2) == selects(8)
