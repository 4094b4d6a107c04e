"""The Build screen builds through core's one road (core.jobs.build): the engine `startune prepare` would
take for the same file, and the build registered."""

from __future__ import annotations

import orjson
from textual.widgets import Input

from tests.core.jobs.test_build import SMALL_RAM
from tests.tui.test_screens import _text, wait_until
from tui.app import create_app
from tui.screens.build import BuildScreen


async def _build_in_the_app(pilot, out) -> None:
    """From the dataset in hand to the Build screen, then ctrl+b into ``out``."""
    app = pilot.app
    await wait_until(pilot, lambda: app.dataset is not None)
    await pilot.press("ctrl+b")
    await wait_until(pilot, lambda: isinstance(app.screen, BuildScreen))
    app.screen.query_one("#out", Input).value = str(out)
    await pilot.press("ctrl+b")


async def test_the_build_screen_takes_duckdb_where_prepare_does(sample_csv, tmp_path, demo_registry, local_choice,
                                                                monkeypatch):
    monkeypatch.setattr("core.data.outofcore.total_memory", lambda: SMALL_RAM)
    app = create_app(dataset=sample_csv, registry=demo_registry, backend=local_choice, cursor_blink=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await _build_in_the_app(pilot, tmp_path / "app")
        await wait_until(pilot, lambda: "Built" in _text(app, "#build-status"), 120)
    assert orjson.loads((tmp_path / "app" / "manifest.json").read_bytes()).get("engine") == "duckdb"
    assert str(tmp_path / "app") in {b["out_dir"] for b in demo_registry.list_builds()}


async def test_a_failed_build_leaves_no_progress_bar(sample_csv, tmp_path, demo_registry, local_choice, monkeypatch):
    """Was: after an unexpected failure the "tokens ... 100%" bar stayed as if the build were running."""
    def fails(*args, progress=None, **kwargs):
        progress("tokens", 10, 10)
        raise RuntimeError("disk gone")

    monkeypatch.setattr("core.jobs.build.build", fails)
    app = create_app(dataset=sample_csv, registry=demo_registry, backend=local_choice, cursor_blink=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await _build_in_the_app(pilot, tmp_path / "app")
        await wait_until(pilot, lambda: "stopped" in _text(app, "#build-status"), 60)
        assert not app.screen.query_one("#build-progress").display
