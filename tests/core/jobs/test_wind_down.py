"""OpenAI's wind-down: a refused launch cleans up after itself, model listings show what ends when."""

from __future__ import annotations

import datetime as dt

import orjson
import pytest

from tests.fixtures.backend import ServerThread


def _json(result):
    assert result.exit_code == 0, result.output
    return orjson.loads(result.stdout)


@pytest.fixture
def denying_server(tmp_path):
    server = ServerThread(tmp_path / "denied", deny_training=True).start()
    yield server
    server.stop()


def _files(server) -> list[dict]:
    return server.app.state.backend.store.list_files(None)


def test_refused_launch_names_dates_backends_and_the_files_it_left(run_cli, chat_files, denying_server):
    train, _ = chat_files
    result = run_cli("launch", train.parent, "--base-url", denying_server.base_url)
    assert result.exit_code == 2
    line = result.output.strip().splitlines()[-1]
    left = [f["id"] for f in _files(denying_server)]
    assert len(left) == 2  # train and val were uploaded before the 403
    for fact in ("2026-05-07", "2026-07-02", "2027-01-06", "2027-01-14", "--backend local", "--backend azure",
                 "April 2027", "--cleanup", *left):
        assert fact in line, fact


def test_refused_launch_with_cleanup_leaves_no_uploaded_files(run_cli, chat_files, denying_server):
    train, _ = chat_files
    result = run_cli("launch", train.parent, "--base-url", denying_server.base_url, "--cleanup")
    assert result.exit_code == 2
    assert "Deleted the 2 file(s)" in result.output
    assert _files(denying_server) == []


def test_cleanup_after_an_earlier_refusal_deletes_the_reused_files(run_cli, chat_files, denying_server):
    train, _ = chat_files
    assert run_cli("launch", train.parent, "--base-url", denying_server.base_url).exit_code == 2
    assert len(_files(denying_server)) == 2
    # the second launch reuses the uploads (same bytes); --cleanup must still leave nothing behind
    result = run_cli("launch", train.parent, "--base-url", denying_server.base_url, "--cleanup")
    assert result.exit_code == 2 and "Deleted the 2 file(s)" in result.output
    assert _files(denying_server) == []


def test_cleanup_keeps_files_a_run_trained_on(run_cli, chat_files, tmp_path):
    train, _ = chat_files
    server = ServerThread(tmp_path / "s").start()
    try:
        job = _json(run_cli("launch", train.parent, "--base-url", server.base_url, "--no-follow", "--json"))["job"]
        server.app.state.backend.deny_training = True  # the organisation loses training afterwards
        result = run_cli("launch", train.parent, "--base-url", server.base_url, "--cleanup")
        assert result.exit_code == 2
        ids = {f["id"] for f in _files(server)}
    finally:
        server.stop()
    assert {job["training_file"], job["validation_file"]} <= ids


def test_models_lists_fine_tuned_models_with_shutdown_dates_from_a_fixed_clock(run_cli, sample_csv, tmp_path):
    data = _json(run_cli("run", sample_csv, "--out", tmp_path / "b", "--samples", "train=120,val=30,test=30",
                         "--epochs", "1", "--suffix", "m", "--json"))
    model = data["job"]["fine_tuned_model"]
    listed = _json(run_cli("models", "--json", "--as-of", "2026-11-25"))
    assert [m["id"] for m in listed["models"]] == [model]
    assert listed["models"][0]["base"] == "startune-local" and listed["models"][0]["shutdown_date"] is None
    # a user override (like prices.json) gives the local base a date: days left count from the fixed clock
    from core.paths import config_dir

    (config_dir() / "shutdowns.json").write_bytes(orjson.dumps({"serving": {"startune-local": "2027-01-14"}}))
    listed = _json(run_cli("models", "--json", "--as-of", "2026-11-25"))
    row = listed["models"][0]
    assert (row["shutdown_date"], row["days_left"], row["source"]) == ("2027-01-14", 50, "table")
    assert listed["as_of"] == "2026-11-25" and row["run_id"] == data["run_id"]
    human = run_cli("models", "--as-of", "2027-01-13")
    assert human.exit_code == 0 and "2027-01-14" in human.stdout and "1 day" in human.stdout
    assert f"startune export {data['run_id']} --out DIR" in human.stdout
    assert "ended 2 days ago" in run_cli("models", "--as-of", "2027-01-16").stdout
    bad = run_cli("models", "--as-of", "tomorrow")
    assert bad.exit_code == 2 and "--as-of" in bad.output


def test_model_life_prefers_the_backends_date_then_the_table():
    from core.jobs.lifecycle import model_life

    today = dt.date(2026, 11, 25)
    openai_ft = model_life({"id": "ft:gpt-4o-mini-2024-07-18:acme::abc123", "owned_by": "acme"}, today)
    assert (openai_ft.base, openai_ft.shutdown_date, openai_ft.days_left) == ("gpt-4o-mini-2024-07-18", "2027-01-14", 50)
    announced = model_life({"id": "ft:gpt-4.1-2025-04-14:acme::x", "shutdown_date": "2026-12-01"}, today)
    assert (announced.shutdown_date, announced.days_left, announced.source) == ("2026-12-01", 6, "backend")
    azure = model_life({"id": "gpt-4o-mini-2024-07-18.ft-0123abcd", "deprecation": {"inference": 1798761600}}, today)
    assert (azure.base, azure.shutdown_date, azure.source) == ("gpt-4o-mini-2024-07-18", "2027-01-01", "backend")
    nano = model_life({"id": "ft:gpt-4.1-nano-2025-04-14:acme::y"}, today)
    assert nano.shutdown_date is None and nano.source == "none"


def test_openais_dates_are_not_applied_to_azure_fine_tunes():
    from core.jobs.lifecycle import model_life

    today = dt.date(2026, 11, 25)
    unannounced = model_life({"id": "gpt-4o-mini-2024-07-18.ft-0123abcd"}, today, backend_kind="azure")
    assert (unannounced.base, unannounced.shutdown_date, unannounced.source) == ("gpt-4o-mini-2024-07-18", None, "none")
    # an ft: id seen through Azure is still Azure's to date
    via_azure = model_life({"id": "ft:gpt-4o-mini-2024-07-18:acme::abc"}, today, backend_kind="azure")
    assert via_azure.shutdown_date is None
    # the backend's own shutdown_date wins over the table even where the table has a date
    own = model_life({"id": "ft:gpt-4o-mini-2024-07-18:acme::abc", "shutdown_date": "2027-03-01"}, today,
                     backend_kind="openai")
    assert (own.shutdown_date, own.source) == ("2027-03-01", "backend")


@pytest.mark.parametrize("answer, left", [("y\n", 0), ("n\n", 2)])
def test_a_person_at_a_terminal_is_offered_the_cleanup(monkeypatch, chat_files, denying_server, answer, left):
    from click.testing import CliRunner

    import core.cli.job_cmds as job_cmds
    from core.cli import cli

    monkeypatch.setattr(job_cmds, "interactive", lambda: True)
    train, _ = chat_files
    result = CliRunner().invoke(cli, ["launch", str(train.parent), "--base-url", denying_server.base_url],
                                input=answer, catch_exceptions=False)
    assert result.exit_code == 2
    assert "delete the 2 file(s) this launch uploaded?" in result.output
    assert len(_files(denying_server)) == left
    assert ("deleted file-" in result.output) == (left == 0)


def test_registry_migration_adds_the_rerun_link_to_an_existing_registry(tmp_path):
    from core.registry.db import MIGRATIONS, Registry
    from core.sqlite import Database

    path = tmp_path / "old.sqlite3"
    Database(path, MIGRATIONS[:1]).close()  # a registry written before reruns existed
    registry = Registry(path)
    assert registry.schema_version == len(MIGRATIONS) >= 2
    a = registry.add_run(backend="openai", job={"id": "ftjob-aaa", "status": "succeeded"})
    b = registry.add_run(backend="local", job={"id": "ftjob-bbb", "status": "succeeded"})
    registry.link_rerun(b, a)
    assert registry.get_run(b)["rerun_of"] == a and registry.get_run(a)["rerun_of"] is None
    assert [r["id"] for r in registry.reruns_of(a)] == [b]


def test_wind_down_message_follows_the_clock_and_the_user_table():
    from core.jobs.lifecycle import wind_down_message
    from core.paths import config_dir

    now = wind_down_message(dt.date(2026, 11, 25))
    assert "since 2026-05-07" in now and "since 2026-07-02" in now and "and from 2027-01-06 for every" in now
    assert "since 2027-01-06" in wind_down_message(dt.date(2027, 2, 1))
    (config_dir() / "shutdowns.json").write_bytes(orjson.dumps({"training": {"openai": "2027-03-01"}}))
    assert "from 2027-03-01 for every organization" in wind_down_message(dt.date(2026, 11, 25))
    (config_dir() / "shutdowns.json").write_bytes(b'{"serving": {"gpt-4o": "soon"}}')
    from core.errors import ConfigError

    with pytest.raises(ConfigError, match="serving.gpt-4o: not a date"):
        wind_down_message(dt.date(2026, 11, 25))
