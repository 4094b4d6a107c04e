"""The local trainer's class weighting can be asked for from the command line, and is refused
(before anything is uploaded) by backends that have no such setting."""

from __future__ import annotations

import orjson
import pytest


@pytest.fixture
def small_build(run_cli, sample_csv, tmp_path):
    result = run_cli("prepare", sample_csv, "--out", tmp_path / "b", "--samples", "train=300,val=60,test=20", "--json")
    assert result.exit_code == 0, result.output
    return tmp_path / "b"


def test_class_weight_reaches_the_local_trainer(run_cli, small_build):
    result = run_cli("launch", small_build, "--class-weight", "none", "--json")
    assert result.exit_code == 0, result.output
    out = orjson.loads(result.stdout)
    assert out["job"]["status"] == "succeeded"
    messages = [e["message"] for e in out["events"]]
    searched = [m for m in messages if m.startswith("Auto search:")]
    assert searched and all("class weights none" in m for m in searched)   # only the step size was searched
    assert any(m.startswith("Settings:") and "class weights none" in m for m in messages)


def test_class_weight_is_refused_by_openai_before_any_upload(run_cli, small_build, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-used-0000")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    result = run_cli("launch", small_build, "--backend", "openai", "--class-weight", "balanced")
    assert result.exit_code == 2
    assert "class weights are a setting of startune's local backend" in result.output


def test_few_shot_on_a_local_model_warns_and_is_left_out(run_cli, small_build):
    result = run_cli("evaluate", "startune-local", "--data", small_build / "test.jsonl", "--few-shot", "3",
                     "--system-prompt", "Rate it", "--json")
    assert result.exit_code == 0, result.output
    assert "change nothing for them" in result.stderr
    assert orjson.loads(result.stdout)["unparseable"] == 0
