"""Moving a run to a backend that still trains, scoring both side by side, keeping the evidence."""

from __future__ import annotations

import orjson
import pytest

from tests.core.jobs.conftest import deploy
from tests.fixtures.backend import ServerThread


def _json(result):
    assert result.exit_code == 0, result.output
    return orjson.loads(result.stdout)


@pytest.fixture
def paid_server(tmp_path):
    """A compatible server standing in for OpenAI: the local base model priced like a paid one."""
    from core.paths import config_dir

    (config_dir() / "prices.json").write_bytes(orjson.dumps(
        {"startune-local": {"training_usd_per_1m": 3.0, "input_usd_per_1m": 0.3, "output_usd_per_1m": 1.2}}))
    server = ServerThread(tmp_path / "paid").start()
    yield server
    server.stop()


def _registry():
    from core.registry.db import Registry

    return Registry()


def test_rerun_on_azure_then_evaluate_both_side_by_side_and_export(run_cli, sample_csv, tmp_path, paid_server,
                                                                   azure_server):
    first = _json(run_cli("run", sample_csv, "--out", tmp_path / "b", "--samples", "train=150,val=40,test=40",
                          "--epochs", "2", "--batch-size", "8", "--job-seed", "7", "--suffix", "paid",
                          "--base-url", paid_server.base_url, "--json"))
    source = first["run_id"]
    again = _json(run_cli("rerun", source, "--backend", "azure", "--model", "startune-local",
                          "--azure-training-type", "Standard", "--follow", "--json"))
    job = again["job"]
    assert again["rerun_of"] == source and job["status"] == "succeeded" and job["trainingType"] == "Standard"
    assert again["compare"] == f"startune evaluate {source} {again['run_id']} --data {tmp_path / 'b' / 'test.jsonl'}"
    registry = _registry()
    a, b = registry.get_run(source), registry.get_run(again["run_id"])
    assert b["rerun_of"] == source and [r["id"] for r in registry.reruns_of(source)] == [b["id"]]
    assert b["backend"].startswith("azure:") and a["backend"].startswith("compatible:")
    # same build, same requested hyperparameters and seed
    assert b["config"]["manifest_sha"] == a["config"]["manifest_sha"]
    assert b["config"]["hyperparameters"] == a["config"]["hyperparameters"] == {
        "n_epochs": 2, "batch_size": 8, "learning_rate_multiplier": "auto"}
    assert job["hyperparameters"]["n_epochs"] == 2 and job["seed"] == 7
    # the same bytes went to the second backend
    paid_files = {(f["filename"], f["bytes"]) for f in paid_server.app.state.backend.store.list_files("fine-tune")}
    azure_files = {(f["filename"], f["bytes"]) for f in azure_server.app.state.backend.store.list_files("fine-tune")}
    assert paid_files == azure_files and len(azure_files) == 2

    deploy(azure_server, job["fine_tuned_model"])
    scored = _json(run_cli("evaluate", source, b["id"], "--json"))  # --data: the source build's test split
    assert [s["run_id"] for s in scored] == [source, b["id"]]
    assert {s["data"] for s in scored} == {str(tmp_path / "b" / "test.jsonl")}
    assert all(s["n"] == 40 for s in scored)
    assert scored[0]["training_cost_usd"] > 0 and scored[0]["eval_cost_usd"] > 0  # the paid model's cost
    assert scored[1]["rerun_of"] == source and scored[1]["backend"] == b["backend"]
    human = run_cli("evaluate", source, b["id"])
    assert human.exit_code == 0 and "runs and costs" in human.stdout and "$" in human.stdout
    assert len(registry.evaluations(run_id=source)) == 2  # both evaluations of the paid run are kept

    # the paid model is retired: its evidence is exported and the comparison still works from stored answers
    out = tmp_path / "evidence"
    written = _json(run_cli("export", source, "--out", out, "--json"))
    assert {"run.json", "manifest.json", "events.jsonl", "results.csv", "evaluations.json"} <= set(written["files"])
    assert orjson.loads((out / "run.json").read_bytes())["reruns"] == [b["id"]]
    assert orjson.loads((out / "manifest.json").read_bytes())["splits"]["test"]["examples"] == 40
    events = [orjson.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]
    assert events[-1]["message"] == "The job has successfully completed"
    answers_file = out / "answers" / f"{registry.evaluations(run_id=source)[-1]['id']}.jsonl"
    answers = [orjson.loads(line) for line in answers_file.read_text().splitlines()]
    assert len(answers) == 40 and {"expected", "text", "answer", "label"} <= set(answers[0])
    assert (out / "results.csv").read_bytes().startswith(b"step,")
    paid_server.app.state.backend.store.delete_model(a["fine_tuned_model"])
    later = _json(run_cli("evaluate", source, b["id"], "--json"))
    assert [s["answered_now"] for s in later] == [0, 0]
    assert [s["accuracy"] for s in later] == [s["accuracy"] for s in scored]


def test_rerun_on_the_local_backend_takes_its_default_model(run_cli, sample_csv, tmp_path, paid_server):
    first = _json(run_cli("run", sample_csv, "--out", tmp_path / "b", "--samples", "train=100,val=20,test=20",
                          "--epochs", "1", "--base-url", paid_server.base_url, "--json"))
    again = _json(run_cli("rerun", first["run_id"], "--backend", "local", "--json"))
    assert again["job"]["status"] == "succeeded" and again["job"]["model"] == "startune-local"
    assert any("target's default" in n for n in again["notes"])
    # no seed was asked for: the re-run trains with the one the source backend picked
    assert again["job"]["seed"] == first["job"]["seed"]


def test_rerun_refusals_are_one_line(run_cli, sample_csv, tmp_path, paid_server):
    missing = run_cli("rerun", "run-nope", "--backend", "local")
    assert missing.exit_code == 2 and missing.output.startswith("startune: error: no run 'run-nope' in the registry")
    assert run_cli("rerun", "run-nope").output.startswith("startune: error: rerun needs the target")
    first = _json(run_cli("run", sample_csv, "--out", tmp_path / "b", "--samples", "train=100,val=20,test=20",
                          "--epochs", "1", "--base-url", paid_server.base_url, "--json"))
    same = run_cli("rerun", first["run_id"], "--base-url", paid_server.base_url)
    assert same.exit_code == 2 and "already ran on" in same.output
    (tmp_path / "b" / "train.jsonl").write_text("changed\n")
    changed = run_cli("rerun", first["run_id"], "--backend", "local")
    assert changed.exit_code == 2 and "changed since it was built" in changed.output
    assert "Traceback" not in changed.output


def test_rerun_on_a_refusing_backend_with_cleanup_leaves_nothing_there(run_cli, sample_csv, tmp_path, paid_server):
    first = _json(run_cli("run", sample_csv, "--out", tmp_path / "b", "--samples", "train=100,val=20,test=20",
                          "--epochs", "1", "--base-url", paid_server.base_url, "--json"))
    denied = ServerThread(tmp_path / "denied", deny_training=True).start()
    try:
        result = run_cli("rerun", first["run_id"], "--base-url", denied.base_url, "--cleanup")
        left = denied.app.state.backend.store.list_files(None)
    finally:
        denied.stop()
    assert result.exit_code == 2 and "Deleted the 2 file(s)" in result.output and left == []
    assert _registry().reruns_of(first["run_id"]) == []  # nothing was launched, nothing is linked


def test_export_says_what_it_could_not_keep(run_cli, tmp_path):
    registry = _registry()
    run_id = registry.add_run(backend="openai", job={"id": "ftjob-attached", "status": "succeeded",
                                                     "fine_tuned_model": "ft:gpt-4o-mini-2024-07-18:acme::x"})
    registry.add_events("openai", "ftjob-attached", [{"id": "ev-1", "created_at": 1, "message": "done"}])
    written = _json(run_cli("export", run_id, "--out", tmp_path / "e", "--json"))
    assert written["files"] == ["run.json", "events.jsonl", "evaluations.json", "MODEL_CARD.md"]
    assert written["missing"][0].startswith("results.csv")
    assert orjson.loads((tmp_path / "e" / "events.jsonl").read_bytes())["message"] == "done"
    missing = run_cli("export", "run-unknown", "--out", tmp_path / "f")
    assert missing.exit_code == 2 and missing.output == "startune: error: no run 'run-unknown' in the registry\n"


def test_export_keeps_the_local_model_s_own_files(run_cli, sample_csv, tmp_path):
    from core.backend.model_files import load_model

    first = _json(run_cli("run", sample_csv, "--out", tmp_path / "b", "--samples", "train=100,val=20,test=20",
                          "--epochs", "1", "--json"))
    written = _json(run_cli("export", first["run_id"], "--out", tmp_path / "e", "--json"))
    assert "model/model.json" in written["files"] and "missing" not in written
    assert not any(f.startswith(("merged/", "model/trainer_state")) for f in written["files"])
    exported = load_model(tmp_path / "e" / "model")   # the copy is a whole model, without the backend
    assert exported.classes == ["1", "2", "3", "4", "5"]


def test_a_rerun_keeps_class_weights_where_the_target_takes_them(run_cli, sample_csv, tmp_path, paid_server):
    """A compatible startune server and the local backend both take class weights: the setting travels."""
    first = _json(run_cli("run", sample_csv, "--out", tmp_path / "b", "--samples", "train=100,val=20,test=20",
                          "--epochs", "1", "--class-weight", "balanced", "--base-url", paid_server.base_url, "--json"))
    again = _json(run_cli("rerun", first["run_id"], "--backend", "local", "--no-follow", "--json"))
    assert not any("class_weight" in n for n in again["notes"]), again["notes"]
    config = _registry().get_run(again["run_id"])["config"]
    assert config["hyperparameters"]["class_weight"] == "balanced"
