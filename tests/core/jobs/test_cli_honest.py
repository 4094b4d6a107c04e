"""Issue 12: jobs train only where someone waits, nothing hangs, --json is one document, follow
shows a finished job's history, runs are found by name, interrupted runs say what they left."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

REPO = Path(__file__).resolve().parents[3]
CLI = [sys.executable, "-c", "import sys; from core.cli import main; main(sys.argv[1:])"]


def _json(result):
    assert result.exit_code == 0, result.output
    return orjson.loads(result.stdout)


def _env() -> dict:
    return os.environ | {"PYTHONPATH": str(REPO), "COLUMNS": "80"}


@pytest.fixture
def small_build(run_cli, sample_csv, tmp_path) -> Path:
    _json(run_cli("prepare", sample_csv, "--out", tmp_path / "b", "--samples", "train=80,val=20,test=20", "--json"))
    return tmp_path / "b"


def _store():
    from core.backend.store import Store
    from core.paths import local_backend_dir

    return Store(local_backend_dir())


def _store_job(job_id: str) -> dict:
    return _store().get_job(job_id)


def test_jobs_with_a_pending_job_does_not_train_it(run_cli, small_build):
    launched = _json(run_cli("launch", small_build, "--no-follow", "--json"))
    job_id = launched["job"]["id"]
    for _ in range(2):
        listed = _json(run_cli("jobs", "--json"))
        assert [j["id"] for j in listed] == [job_id]
    events, _ = _store().list_events(job_id, None, 100)
    assert [e["message"] for e in events] == [events[-1]["message"]]  # only "Created fine-tuning job"
    job = _store_job(job_id)
    assert job["status"] == "validating_files"   # nobody claimed it: not validated, not started
    assert _store().job_leases.claim("checker", 5.0, ("validating_files",))["id"] == job_id  # no lease held


@pytest.mark.parametrize("command", ["follow", "evaluate"])
def test_unreachable_backend_exits_non_zero_within_60_s(command, tmp_path):
    from tests.fixtures.backend import free_port, write_chat_jsonl

    url = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    args = ["follow", "ftjob-abc", "--base-url", url] if command == "follow" else \
        ["evaluate", "some-model", "--data", str(write_chat_jsonl(tmp_path / "t.jsonl", 5)), "--base-url", url]
    started = time.monotonic()
    proc = subprocess.run(CLI + args, capture_output=True, text=True, env=_env(), timeout=60)
    assert time.monotonic() - started < 60
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert lines[-1].startswith("startune: error:") and "Traceback" not in proc.stderr


def test_launch_follow_json_is_one_json_document(small_build):
    pipeline = (f"{' '.join(map(repr, CLI))} launch {small_build} --follow --json --suffix piped "
                f"| {sys.executable} -c 'import json,sys; d = json.load(sys.stdin); print(d[\"job\"][\"status\"])'")
    proc = subprocess.run(["bash", "-o", "pipefail", "-c", pipeline], capture_output=True, text=True, env=_env(),
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "succeeded"
    assert "launched ftjob-" in proc.stderr  # messages go to stderr


def test_launch_json_on_the_local_backend_follows_by_default(run_cli, small_build):
    doc = _json(run_cli("launch", small_build, "--json"))
    assert doc["job"]["status"] == "succeeded" and doc["run_id"]
    messages = [e["message"] for e in doc["events"]]
    assert messages[0].startswith("Created fine-tuning job") and messages[-1] == "The job has successfully completed"


def test_launch_no_follow_leaves_the_job_waiting_and_says_how_to_continue(run_cli, small_build):
    result = run_cli("launch", small_build, "--no-follow")
    assert result.exit_code == 0
    job_id = result.stdout.split("launched ")[1].split()[0]
    assert f"startune follow {job_id}" in result.stderr
    assert _store_job(job_id)["status"] == "validating_files"


def test_follow_a_finished_job_shows_its_history(run_cli, small_build):
    doc = _json(run_cli("launch", small_build, "--json", "--name", "my-run"))
    human = run_cli("follow", doc["job"]["id"])
    assert human.exit_code == 0
    assert "Created fine-tuning job" in human.stdout and "The job has successfully completed" in human.stdout
    lines = run_cli("follow", doc["job"]["id"], "--json")
    assert [orjson.loads(x)["id"] for x in lines.stdout.splitlines()] == [e["id"] for e in doc["events"]]


def test_follow_a_run_name_with_an_explicit_backend(run_cli, small_build):
    doc = _json(run_cli("launch", small_build, "--json", "--name", "my-run"))
    result = run_cli("follow", "my-run", "--backend", "local", "--json")
    assert result.exit_code == 0, result.output
    assert {orjson.loads(x)["id"] for x in result.stdout.splitlines()} == {e["id"] for e in doc["events"]}
    other = run_cli("follow", "my-run", "--base-url", "http://127.0.0.1:1/v1")
    assert other.exit_code == 2 and "ran on the local backend" in other.stderr


def test_interrupted_run_says_what_it_left_and_a_rerun_reuses_the_build(run_cli, sample_csv, monkeypatch):
    import core.jobs.track

    real_track = core.jobs.track.track

    async def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
        yield  # pragma: no cover

    args = ("run", sample_csv, "--samples", "train=60,val=20,test=20", "--epochs", "1")
    monkeypatch.setattr(core.jobs.track, "track", interrupted)
    first = run_cli(*args)
    assert first.exit_code == 130
    job_id = first.stderr.split("interrupted: job ")[1].split()[0]
    assert f"startune follow {job_id}" in first.stderr and f"startune cancel {job_id}" in first.stderr
    monkeypatch.setattr(core.jobs.track, "track", real_track)
    built = first.stderr.split("built ")[1].split(":")[0]
    second = run_cli(*args, "--json")
    assert second.exit_code == 0, second.output
    assert f"reusing the identical build {built}" in second.stderr.replace("\n", "")
    doc = orjson.loads(second.stdout)
    assert doc["build_dir"] == built
    assert doc["job"]["id"] == job_id and doc["job"]["status"] == "succeeded"  # the left job, not a second one
    assert [j["id"] for j in _json(run_cli("jobs", "--json"))] == [job_id]


def test_hyperparameters_are_checked_before_the_cost_estimate(run_cli, small_build):
    for flags in (("--epochs", "0"), ("--epochs", "51"), ("--batch-size", "300"), ("--lr-multiplier", "0")):
        result = run_cli("launch", small_build, *flags)
        assert result.exit_code == 2, flags
        assert "estimated cost" not in result.output
        assert result.stderr.strip().splitlines() == [result.stderr.strip()]
        assert flags[0] in result.stderr
    assert _json(run_cli("jobs", "--json")) == []


def test_jobs_at_80_columns_never_cuts_ids(run_cli, small_build, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    doc = _json(run_cli("launch", small_build, "--json", "--suffix", "a-rather-long-model-suffix"))
    out = run_cli("jobs").stdout
    lines = out.splitlines()
    assert all(len(line) <= 80 for line in lines), out
    assert any(doc["job"]["id"] in line for line in lines)
    assert any(doc["job"]["fine_tuned_model"] in line for line in lines)
    assert "…" not in out


def test_results_report_the_real_step_count_and_percent_accuracy(run_cli, small_build):
    from core.registry.db import Registry

    doc = _json(run_cli("launch", small_build, "--json", "--epochs", "3", "--batch-size", "3"))
    total = max(e["data"]["total_steps"] for e in doc["events"] if e.get("type") == "metrics")
    result = run_cli("results", doc["job"]["id"])
    assert result.exit_code == 0
    assert f"({total:,} steps," in result.stdout.replace("\n", "")
    acc_row = next(line for line in result.stdout.splitlines() if "valid_mean_token_accuracy" in line)
    assert acc_row.count("%") == 3
    data = _json(run_cli("results", doc["job"]["id"], "--json"))
    assert data["steps"] == total
    assert Registry().run_for_job("local", doc["job"]["id"])["results_csv"]


def test_jobs_lists_a_job_the_registry_does_not_know(run_cli, small_build):
    from core.registry.db import Registry

    doc = _json(run_cli("launch", small_build, "--no-follow", "--json"))
    Registry().delete_run(doc["run_id"])
    result = run_cli("jobs")
    assert result.exit_code == 0, result.output
    assert doc["job"]["id"] in result.stdout
