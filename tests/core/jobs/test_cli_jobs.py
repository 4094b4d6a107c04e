"""The job commands end to end on the local backend, in process and over HTTP."""

from __future__ import annotations

import orjson

from tests.fixtures.backend import ServerThread


def _json(result):
    assert result.exit_code == 0, result.output
    return orjson.loads(result.stdout)


def test_run_on_the_sample_in_process(run_cli, sample_csv, tmp_path):
    data = _json(run_cli("run", sample_csv, "--out", tmp_path / "build", "--samples", "train=300,val=60,test=60",
                         "--epochs", "2", "--suffix", "sample", "--json"))
    job = data["job"]
    assert job["status"] == "succeeded" and job["fine_tuned_model"].startswith("ft:startune-local:local:sample:")
    assert len(data["results"]["rows"]) > 10
    # the build counted its tokens as it wrote, so the launch priced it without reading train.jsonl again
    manifest = orjson.loads((tmp_path / "build" / "manifest.json").read_bytes())
    assert manifest["validation"]["train"]["n_examples"] == 300
    jobs = _json(run_cli("jobs", "--json"))
    assert [j["fine_tuned_model"] for j in jobs] == [job["fine_tuned_model"]]
    results = _json(run_cli("results", job["id"], "--json"))
    assert results["columns"][:2] == ["step", "train_loss"] and results["checkpoints"]


def test_run_over_http_with_a_compatible_base_url(run_cli, sample_csv, tmp_path):
    server = ServerThread(tmp_path / "served").start()
    try:
        data = _json(run_cli("run", sample_csv, "--out", tmp_path / "b", "--samples", "train=200,val=40,test=40",
                             "--base-url", server.base_url, "--json"))
        assert data["job"]["status"] == "succeeded"
        assert server.app.state.backend.store.get_job(data["job"]["id"]) is not None  # it really went over HTTP
    finally:
        server.stop()


def test_launch_then_follow_in_another_process_completes_the_job(run_cli, sample_csv, tmp_path):
    _json(run_cli("prepare", sample_csv, "--out", tmp_path / "b", "--samples", "train=100,val=20,test=20", "--json"))
    job = _json(run_cli("launch", tmp_path / "b", "--no-follow", "--json"))["job"]
    assert job["status"] == "validating_files"
    follow = run_cli("follow", job["id"], "--json")
    assert follow.exit_code == 0
    events = [orjson.loads(line) for line in follow.stdout.splitlines()]
    assert events[0]["message"].startswith("Created fine-tuning job")
    assert events[-1]["message"] == "The job has successfully completed"
    assert len({e["id"] for e in events}) == len(events)
    assert [e["created_at"] for e in events] == sorted(e["created_at"] for e in events)
    again = run_cli("follow", job["id"], "--json")  # a finished job shows its stored history, each event once
    assert again.exit_code == 0 and again.stdout == follow.stdout
    assert [orjson.loads(line)["id"] for line in again.stdout.splitlines()] == [e["id"] for e in events]
    after = run_cli("follow", job["id"], "--json", "--since", events[-2]["id"])
    assert after.exit_code == 0 and [orjson.loads(line) for line in after.stdout.splitlines()] == events[-1:]


def test_max_cost_refuses(run_cli, sample_csv, tmp_path):
    _json(run_cli("prepare", sample_csv, "--out", tmp_path / "b", "--json"))
    result = run_cli("launch", tmp_path / "b", "--model", "gpt-4o-mini", "--max-cost", "0.0001", "--backend", "local")
    assert result.exit_code == 2 and "above --max-cost" in result.output


def test_training_not_available_is_explained(run_cli, sample_csv, tmp_path):
    server = ServerThread(tmp_path / "served", deny_training=True).start()
    try:
        result = run_cli("run", sample_csv, "--out", tmp_path / "b", "--base-url", server.base_url)
    finally:
        server.stop()
    assert result.exit_code == 2
    line = result.output.strip().splitlines()[-1]
    assert line.startswith("startune: error: fine-tuning is not available")
    assert "2027-01-06" in line and "--backend local" in line


def test_control_commands(run_cli, sample_csv, tmp_path):
    _json(run_cli("prepare", sample_csv, "--out", tmp_path / "b", "--json"))
    job = _json(run_cli("launch", tmp_path / "b", "--no-follow", "--json"))["job"]
    cancelled = _json(run_cli("cancel", job["id"], "--json"))
    assert cancelled["status"] == "cancelled"
    result = run_cli("pause", job["id"])
    assert result.exit_code == 2 and "only a running job can be paused" in result.output


def test_second_launch_reuses_the_uploaded_files(run_cli, sample_csv, tmp_path):
    from core.backend.store import Store
    from core.paths import local_backend_dir

    _json(run_cli("prepare", sample_csv, "--out", tmp_path / "b", "--samples", "train=60,val=20,test=20", "--json"))
    first = _json(run_cli("launch", tmp_path / "b", "--no-follow", "--json"))["job"]
    second = _json(run_cli("launch", tmp_path / "b", "--no-follow", "--json"))["job"]
    assert first["training_file"] == second["training_file"]
    assert first["validation_file"] == second["validation_file"]
    assert len(Store(local_backend_dir()).list_files("fine-tune")) == 2  # train and val, uploaded once


def test_launch_shows_the_cost_estimate_first(run_cli, sample_csv, tmp_path):
    _json(run_cli("prepare", sample_csv, "--out", tmp_path / "b", "--samples", "train=50,val=10,test=10", "--json"))
    result = run_cli("launch", tmp_path / "b", "--no-follow")
    assert result.exit_code == 0
    assert result.output.index("estimated cost: $0.00 for startune-local") < result.output.index("launched ftjob-")
