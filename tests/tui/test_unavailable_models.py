"""A model this machine cannot train (its extra is not installed) is marked in Launch's list and refused,
with the install line, before anything is priced or uploaded: in the app and on the command line."""

from __future__ import annotations

import importlib.util

import pytest
from textual.widgets import Select

from tests.tui.test_first_hour import field_note
from tests.tui.test_screens import _text, wait_until
from tui.app import create_app
from tui.screens.launch import LaunchScreen

INSTALL = "pip install 'startune[transformers]'"


@pytest.fixture
def small_build(sample_csv, tmp_path):
    from core.data.pipeline import PrepareOptions, prepare

    return prepare(sample_csv, tmp_path / "b", PrepareOptions(samples={"train": 60, "val": 20, "test": 20})).out_dir


@pytest.fixture
def no_torch(monkeypatch):
    """torch as if it were not installed: the one probe core makes (importlib.util.find_spec) says so."""
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "torch" else real(name, *a))


async def test_launch_marks_a_model_without_its_extra_and_refuses_it_before_the_cost(small_build, demo_registry,
                                                                                     local_choice, no_torch):
    app = create_app(registry=demo_registry, backend=local_choice)
    async with app.run_test(size=(80, 24)) as pilot:
        app.build_dir = small_build
        app.action_open_launch()
        await wait_until(pilot, lambda: isinstance(app.screen, LaunchScreen) and app.screen.query("#model")
                         and len(app.screen.query_one("#model", Select)._options) > 1)   # noqa: SLF001
        select = app.screen.query_one("#model", Select)
        labels = {str(value): str(label) for label, value in select._options}   # noqa: SLF001
        assert labels["minilm-l6"] == "minilm-l6 (not installed here)"
        assert labels["startune-local"] == "startune-local"
        select.value = "minilm-l6"
        await pilot.pause()
        assert INSTALL in field_note(app, "model")
        await pilot.press("ctrl+l")
        await wait_until(pilot, lambda: INSTALL in _text(app, "#launch-error"))
        assert isinstance(app.screen, LaunchScreen)              # no cost confirmation
    assert app.session.registry.list_runs() == demo_registry.list_runs()


def test_the_command_line_refuses_it_before_anything_is_uploaded(run_cli, small_build, no_torch):
    from core.backend.store import Store
    from core.paths import local_backend_dir

    result = run_cli("launch", small_build, "--model", "minilm-l6")
    assert result.exit_code == 2
    assert result.stderr.startswith("startune: error: Model minilm-l6 needs torch, which is not installed: run "
                                    + INSTALL)
    store = Store(local_backend_dir())
    try:
        assert store.list_files() == [] and store.list_jobs() == []
    finally:
        store.close()
