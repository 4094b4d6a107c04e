"""Tokens counted where they matter: a build for the local backend skips them (and says so), a build for a
backend that bills by token counts them, and a launch of an uncounted build elsewhere counts them itself."""

from __future__ import annotations

import orjson


def _prepare(run_cli, csv, out, *extra):
    result = run_cli("prepare", csv, "--out", out, "--samples", "train=200,val=50,test=50", "--json", *extra)
    assert result.exit_code == 0, result.output
    return orjson.loads(result.stdout), result.stderr


def test_a_local_build_skips_tokens_and_its_launch_elsewhere_counts_them(run_cli, sample_csv, tmp_path):
    from core.jobs.estimate import estimate_launch
    from core.jobs.launch import LaunchOptions

    local, err = _prepare(run_cli, sample_csv, tmp_path / "local")  # no key in the environment: local
    assert local["manifest"]["tokens"]["counted"] is False and "local backend" in local["manifest"]["tokens"]["reason"]
    assert "validation" not in local["manifest"]  # no counts for a launch to trust
    train = local["validation"]["train"]
    assert train["ok"] is True and train["tokens_counted"] is False and train["cost"] is None
    assert train["token_stats"] == {} and train["n_examples"] == 200
    assert "tokens not counted" in err

    counted, _ = _prepare(run_cli, sample_csv, tmp_path / "counted", "--tokens")
    assert counted["manifest"]["tokens"] == {"counted": True}
    billed = counted["manifest"]["validation"]["train"]["billed_tokens_per_epoch"]
    assert billed > 0 and counted["validation"]["train"]["cost"]["usd"] > 0
    # the same rows either way; a launch of the uncounted build to OpenAI counts them from the file
    assert local["manifest"]["splits"] == counted["manifest"]["splits"]
    estimate = estimate_launch(tmp_path / "local", LaunchOptions(), "gpt-4o-mini")
    assert estimate.cost.billed_tokens_per_epoch == billed and not estimate.reused


def test_a_build_for_a_billing_backend_counts_tokens_unasked(run_cli, sample_csv, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-used-0000")
    data, err = _prepare(run_cli, sample_csv, tmp_path / "b")
    assert data["manifest"]["tokens"] == {"counted": True} and data["validation"]["train"]["token_stats"]
    assert "tokens not counted" not in err
    skipped, _ = _prepare(run_cli, sample_csv, tmp_path / "c", "--no-tokens")
    assert skipped["manifest"]["tokens"]["counted"] is False
    # a local model is free to train anywhere: its build needs no counts either
    monkeypatch.delenv("OPENAI_API_KEY")
    human = run_cli("prepare", sample_csv, "--out", tmp_path / "d", "--samples", "train=50,val=10,test=10")
    assert human.exit_code == 0 and "est. cost" not in human.stdout and "tokens per example" not in human.stdout
