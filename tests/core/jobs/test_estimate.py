"""The pre-launch check and cost estimate (core.jobs.estimate): one home for the command line and the app,
priced for the job's model, honest about epochs "auto" decides, and not re-reading a build it has counted."""

from __future__ import annotations

import re

import orjson
import pytest

from core.data.pipeline import PrepareOptions, WriteChecks, prepare
from core.jobs.estimate import estimate_launch
from core.jobs.launch import LaunchOptions
from core.validation.validate import validate_file

SAMPLES = PrepareOptions(samples={"train": 60, "val": 20, "test": 20})


@pytest.fixture(scope="module")
def plain_build(sample_csv, tmp_path_factory):
    """A build as the app and `startune run` make it: no token counts in its manifest."""
    return prepare(sample_csv, tmp_path_factory.mktemp("plain") / "b", SAMPLES).out_dir


@pytest.fixture(scope="module", params=["memory", "duckdb"])
def counted_build(request, sample_csv, tmp_path_factory):
    """A build as `startune prepare` makes it, by either engine: validated as written, the counts in its manifest."""
    if request.param == "duckdb":
        from core.data.outofcore import prepare_duckdb as build
    else:
        build = prepare
    return build(sample_csv, tmp_path_factory.mktemp("counted") / "b", SAMPLES, checks=WriteChecks(validate=True)).out_dir


def test_both_engines_record_the_counts_in_one_schema(sample_csv, tmp_path):
    from core.data.outofcore import prepare_duckdb

    memory = prepare(sample_csv, tmp_path / "m", SAMPLES, checks=WriteChecks(validate=True)).manifest["validation"]
    duckdb = prepare_duckdb(sample_csv, tmp_path / "d", SAMPLES, checks=WriteChecks(validate=True)).manifest["validation"]
    assert set(memory) == set(duckdb) == {"train", "val", "test"}
    for name in memory:   # the same keys, both ways; the values differ (another split of the same rows)
        assert set(memory[name]) == set(duckdb[name]), name


def test_local_auto_epochs_are_not_priced_as_a_fixed_count(plain_build):
    estimate = estimate_launch(plain_build, LaunchOptions(), "startune-local")
    line = estimate.describe()
    assert "x up to 20 epochs, auto: early stopping" in line, line
    assert " x 3 epochs" not in line
    assert estimate.cost.usd == 0 and estimate.cost.n_epochs == 20
    fixed = estimate_launch(plain_build, LaunchOptions(n_epochs=4), "startune-local").describe()
    assert re.search(r"\(\d[\d,]* x 4 epochs\)", fixed) and "up to" not in fixed


def test_openai_auto_epochs_keep_openai_s_heuristic(plain_build):
    estimate = estimate_launch(plain_build, LaunchOptions(), "gpt-4o-mini")
    report = validate_file(plain_build / "train.jsonl", "gpt-4o-mini")
    assert estimate.describe() == report.cost.describe()  # "x 3 epochs": OpenAI's own default for this size
    assert estimate.cost.usd > 0 and not estimate.reused


def test_a_counted_build_is_priced_from_its_manifest_without_reading_the_file_again(counted_build, monkeypatch):
    manifest = orjson.loads((counted_build / "manifest.json").read_bytes())
    assert manifest["validation"]["train"]["sha256"] == manifest["splits"]["train"]["sha256"]
    read = estimate_launch(counted_build, LaunchOptions(), "gpt-4o-mini")  # the same numbers as a fresh read
    report = validate_file(counted_build / "train.jsonl", "gpt-4o-mini")
    assert read.reused and read.cost == report.cost and read.n_examples == report.n_examples

    def no_reading(*args, **kwargs):
        raise AssertionError("the training file was validated again")

    monkeypatch.setattr("core.validation.validate.validate_file", no_reading)
    assert estimate_launch(counted_build, LaunchOptions(), "startune-local").reused  # same tokenizer and limit


def test_counts_for_another_tokenizer_or_other_bytes_are_not_reused(counted_build, tmp_path):
    other_tokenizer = estimate_launch(counted_build, LaunchOptions(), "gpt-3.5-turbo")  # cl100k, not o200k
    assert not other_tokenizer.reused
    assert other_tokenizer.cost == validate_file(counted_build / "train.jsonl", "gpt-3.5-turbo").cost
    import shutil

    copy = tmp_path / "b"
    shutil.copytree(counted_build, copy)
    manifest = orjson.loads((copy / "manifest.json").read_bytes())
    manifest["validation"]["train"]["sha256"] = "0" * 64  # counts of some other file
    (copy / "manifest.json").write_bytes(orjson.dumps(manifest))
    assert not estimate_launch(copy, LaunchOptions(), "gpt-4o-mini").reused


def test_launch_and_the_command_line_print_the_estimate_of_the_job_s_own_model(run_cli, plain_build):
    expected = estimate_launch(plain_build, LaunchOptions(), "startune-local").describe()
    result = run_cli("launch", plain_build, "--no-follow")
    assert result.exit_code == 0, result.output
    assert f"estimated cost: {expected}" in " ".join(result.stderr.split())
