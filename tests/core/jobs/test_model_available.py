"""A base model this machine cannot train is refused before anything is built or uploaded."""

from __future__ import annotations

import pytest


@pytest.fixture
def no_torch(monkeypatch):
    from core.backend import training

    real = training.installed
    monkeypatch.setattr(training, "installed", lambda name: name != "torch" and real(name))


def test_the_rule_names_the_install_line(no_torch):
    from core.choices import LOCAL_BASE_MODEL
    from core.jobs.backends import BackendChoice, cannot_train_here

    local = BackendChoice("local", None)
    assert "pip install 'startune[transformers]'" in cannot_train_here(local, "minilm-l6")
    assert "pip install 'startune[llm]'" in cannot_train_here(local, "smollm2-135m")
    assert cannot_train_here(local, LOCAL_BASE_MODEL) is None


@pytest.mark.parametrize("command", ["launch", "run"])
def test_launch_and_run_refuse_it_in_one_line_before_any_upload(no_torch, sample_csv, tmp_path, command):
    from click.testing import CliRunner

    from core.cli import cli
    from core.data.pipeline import PrepareOptions, prepare
    from core.paths import local_backend_dir

    if command == "launch":
        build = prepare(sample_csv, tmp_path / "build", PrepareOptions(samples={"train": 40, "val": 10, "test": 10}))
        args = ["launch", str(build.out_dir), "--model", "minilm-l6"]
    else:
        args = ["run", str(sample_csv), "--out", str(tmp_path / "build"), "--model", "minilm-l6"]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert lines[-1].startswith("startune: error:") and "pip install 'startune[transformers]'" in lines[-1]
    assert "Traceback" not in result.output
    files = local_backend_dir() / "files"
    assert not files.exists() or not any(files.iterdir())
    if command == "run":
        assert not (tmp_path / "build").exists()  # refused before minutes of building
