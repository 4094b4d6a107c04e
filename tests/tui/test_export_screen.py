"""Export... from Results: the run's evidence, model card and ONNX model into a folder, as
`startune export RUN --out DIR --onnx` writes them; a wrong folder is one line in the dialog."""

from __future__ import annotations

import orjson
import pytest
from textual.widgets import Checkbox, Input

from tests.tui.test_screens import wait_until
from tui.app import create_app
from tui.screens.export import ExportScreen
from tui.screens.results import ResultsScreen


@pytest.fixture
def trained_run(run_cli, sample_csv, tmp_path) -> str:
    """A run the local backend trained (the CLI runs its own event loop: a fixture, outside the app's)."""
    result = run_cli("run", sample_csv, "--out", tmp_path / "b", "--samples", "train=120,val=30,test=30", "--json")
    assert result.exit_code == 0, result.output
    return orjson.loads(result.stdout)["run_id"]


async def test_export_from_results_writes_the_model_as_onnx_and_says_where(trained_run, tmp_path, local_choice,
                                                                          monkeypatch):
    from core.registry.db import Registry

    run_id = trained_run
    monkeypatch.chdir(tmp_path)
    app = create_app(registry=Registry(), backend=local_choice)
    async with app.run_test(size=(80, 24)) as pilot:
        app.push_screen(ResultsScreen(run_id))
        await pilot.pause()
        await pilot.press("x")
        await wait_until(pilot, lambda: isinstance(app.screen, ExportScreen))
        assert app.screen.query_one("#export-onnx", Checkbox).value   # a local model, onnxruntime installed
        folder = app.screen.query_one("#export-folder", Input)
        folder.value = ""
        folder.focus()
        await pilot.press("enter")                       # empty: said, nothing written
        assert "type the folder" in str(app.screen.query_one("#export-status").render())
        folder.value = "/proc/not-a-folder-you-can-make"   # was: "unexpected FileNotFoundError"
        await pilot.press("enter")
        await wait_until(pilot, lambda: "proc" in str(app.screen.query_one("#export-status").render()), 30)
        assert "cannot write /proc/not-a-folder-you-can-make" in str(app.screen.query_one("#export-status").render())
        assert isinstance(app.screen, ExportScreen)      # refused in one line; the dialog stays
        folder.value = "out"
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ResultsScreen), 60)

        def notes() -> str:
            return " ".join(str(n.message) for n in app._notifications)

        # the dialog's callback runs after the pop that shows Results again: under load, a moment later
        await wait_until(pilot, lambda: "files in" in notes(), 30)
        assert f"in {tmp_path / 'out'}" in notes()
    assert (tmp_path / "out" / "onnx" / "model.onnx").is_file() and (tmp_path / "out" / "MODEL_CARD.md").is_file()


async def test_without_onnxruntime_the_onnx_box_is_off_and_names_the_install(demo_registry, local_choice,
                                                                              monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "onnxruntime" else real(name, *a))
    run = demo_registry.list_runs()[0] | {"backend": "local"}
    app = create_app(registry=demo_registry, backend=local_choice)
    async with app.run_test(size=(80, 24)) as pilot:
        app.push_screen(ExportScreen(run))
        await pilot.pause()
        box = app.screen.query_one("#export-onnx", Checkbox)
        assert box.disabled and not box.value
        assert "needs pip install 'startune[onnx]'" in str(box.label)
