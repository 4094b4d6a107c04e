"""launch takes the user's own JSONL (validated first) and refuses a build whose files changed."""

from __future__ import annotations

import shutil

import orjson
import pytest

from core.errors import ConfigError
from core.launch_options import LaunchOptions, check_options


def _json(result):
    assert result.exit_code == 0, result.output
    return orjson.loads(result.stdout)


@pytest.fixture
def build(run_cli, sample_csv, tmp_path):
    _json(run_cli("prepare", sample_csv, "--out", tmp_path / "b", "--samples", "train=60,val=20,test=20", "--json"))
    return tmp_path / "b"


def test_launch_a_jsonl_file_with_a_validation_file(run_cli, build, tmp_path):
    own = tmp_path / "own"
    own.mkdir()
    shutil.copy(build / "train.jsonl", own / "mine.jsonl")
    shutil.copy(build / "val.jsonl", own / "check.jsonl")
    doc = _json(run_cli("launch", own / "mine.jsonl", "--validation", own / "check.jsonl", "--json"))
    assert doc["job"]["status"] == "succeeded" and doc["job"]["validation_file"]
    from core.registry.db import Registry

    run = Registry().get_run(doc["run_id"])
    assert run["dataset"] == str(own / "mine.jsonl")


def test_launch_a_folder_without_manifest(run_cli, build, tmp_path):
    folder = tmp_path / "plain"
    folder.mkdir()
    shutil.copy(build / "train.jsonl", folder / "train.jsonl")
    doc = _json(run_cli("launch", folder, "--no-follow", "--json"))
    assert doc["job"]["status"] == "validating_files" and not doc["job"].get("validation_file")


def test_an_invalid_jsonl_is_refused_before_anything_is_created(run_cli, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"messages": [{"role": "user", "content": "hi"}]}\n')
    result = run_cli("launch", bad, "--no-follow")
    assert result.exit_code == 2
    assert result.stderr.startswith(f"startune: error: {bad}: training file has format errors")
    assert _json(run_cli("jobs", "--json")) == []


def test_a_build_whose_file_changed_is_refused(run_cli, build):
    with (build / "train.jsonl").open("ab") as fh:
        fh.write(b'{"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": "5"}]}\n')
    result = run_cli("launch", build, "--no-follow")
    assert result.exit_code == 2
    assert result.stderr.strip() == (f"startune: error: {build / 'train.jsonl'}: changed since it was built: its "
                                     "sha256 differs from manifest.json (rebuild with `startune prepare`, or launch "
                                     "the file itself: startune launch FILE)")
    assert _json(run_cli("jobs", "--json")) == []


@pytest.mark.parametrize("content", [b"[]", b'{"splits": []}', b"7"])
def test_a_manifest_that_is_json_but_not_a_manifest_is_one_line(run_cli, build, content):
    (build / "manifest.json").write_bytes(content)
    result = run_cli("launch", build, "--no-follow")
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert result.stderr.strip() == (f"startune: error: {build / 'manifest.json'}: manifest.json is not a build's "
                                     "manifest (no splits) (create one with `startune prepare DATASET --out DIR`)")
    assert _json(run_cli("jobs", "--json")) == []


def _options(n_epochs, batch_size, learning_rate_multiplier):
    return LaunchOptions(n_epochs=n_epochs, batch_size=batch_size, learning_rate_multiplier=learning_rate_multiplier)


@pytest.mark.parametrize("values", [
    ("auto", "auto", "auto"), (None, None, None), (1, 1, 0.01), (50, 256, 10.0), (3, 8, 100),
])
def test_hyperparameters_within_openais_limits_pass(values):
    check_options(_options(*values))


@pytest.mark.parametrize("values, flag", [
    ((0, "auto", "auto"), "--epochs"), ((51, "auto", "auto"), "--epochs"), ((2.5, "auto", "auto"), "--epochs"),
    (("auto", 0, "auto"), "--batch-size"), (("auto", 257, "auto"), "--batch-size"),
    (("auto", "auto", 0), "--lr-multiplier"), (("auto", "auto", -1.0), "--lr-multiplier"),
    (("auto", "auto", float("nan")), "--lr-multiplier"), (("auto", "auto", "fast"), "--lr-multiplier"),
])
def test_hyperparameters_outside_the_limits_are_one_line(values, flag):
    with pytest.raises(ConfigError) as caught:
        check_options(_options(*values))
    assert str(caught.value).startswith(flag) and "\n" not in str(caught.value)
