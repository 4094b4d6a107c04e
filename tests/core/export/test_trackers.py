"""A run sent to MLflow and TensorBoard, read back with each tool's own reader."""

from __future__ import annotations

import orjson
import pytest


def _json(result):
    assert result.exit_code == 0, result.output
    return orjson.loads(result.stdout)


def _run_and_evaluate(run_cli, sample_csv, tmp_path):
    data = _json(run_cli("run", sample_csv, "--out", tmp_path / "b", "--samples", "train=120,val=30,test=30",
                         "--epochs", "1", "--suffix", "tr", "--json"))
    run_id = data["run_id"]
    _json(run_cli("evaluate", run_id, "--json"))
    steps = {int(r["step"]) for r in data["results"]["rows"] if r.get("train_loss") is not None}
    return run_id, steps


def test_mlflow_and_tensorboard_read_back_every_step_and_the_evaluation(run_cli, sample_csv, tmp_path, monkeypatch):
    pytest.importorskip("mlflow")
    pytest.importorskip("tensorboard")
    from mlflow.tracking import MlflowClient
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run_id, steps = _run_and_evaluate(run_cli, sample_csv, tmp_path)
    assert len(steps) > 3

    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3's own reader of a file store
    store = tmp_path / "mlruns"
    sent = _json(run_cli("export", run_id, "--to", "mlflow", store, "--json"))
    client = MlflowClient(tracking_uri=store.resolve().as_uri())
    experiment = client.get_experiment_by_name("startune")
    [found] = client.search_runs([experiment.experiment_id])
    assert found.info.run_id == sent["mlflow_run_id"] and found.info.status == "FINISHED"
    assert found.data.tags["startune.run_id"] == run_id and found.info.run_name == run_id
    assert found.data.params["n_epochs"] == "1" and found.data.params["fine_tuned_model"].startswith("ft:")
    history = client.get_metric_history(found.info.run_id, "train_loss")
    assert {m.step for m in history} == steps
    assert any(k.startswith("eval/") and "accuracy" in k for k in found.data.metrics)
    artifacts = {a.path for a in client.list_artifacts(found.info.run_id)}
    assert {"results.csv", "manifest.json", "evaluation.json"} <= artifacts
    again = _json(run_cli("export", run_id, "--to", "mlflow", store, "--json"))
    assert again["already"] and again["mlflow_run_id"] == found.info.run_id
    assert len(client.search_runs([experiment.experiment_id])) == 1

    logs = tmp_path / "tb"
    sent = _json(run_cli("export", run_id, "--to", "tensorboard", logs, "--json"))
    acc = EventAccumulator(sent["logdir"]).Reload()
    assert {e.step for e in acc.Scalars("train_loss")} == steps
    assert any(t.startswith("eval/") and "accuracy" in t for t in acc.Tags()["scalars"])
    assert (logs / run_id / "results.csv").is_file() and (logs / run_id / "manifest.json").is_file()
    twice = run_cli("export", run_id, "--to", "tensorboard", logs)
    assert twice.exit_code != 0 and "already holds" in twice.output and "Traceback" not in twice.output


def test_export_needs_exactly_one_destination_and_names_a_missing_extra(run_cli, monkeypatch):
    neither = run_cli("export", "anything")
    assert neither.exit_code == 2 and "--out DIR, or --to" in neither.output
    bad = run_cli("export", "anything", "--to", "wandb", "x")
    assert bad.exit_code == 2 and "mlflow" in bad.output
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "mlflow" else real(name, *a))
    missing = run_cli("export", "anything", "--to", "mlflow", "x")
    assert missing.exit_code != 0 and "pip install 'startune[mlflow]'" in missing.output
    assert "Traceback" not in missing.output and len(missing.output.strip().splitlines()) == 1
