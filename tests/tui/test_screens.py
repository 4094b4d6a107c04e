"""Pilot tests: each screen, and the whole journey on the in-process local backend."""

from __future__ import annotations

import subprocess
import sys

from textual.widgets import DataTable, Static

from core.data.load import load_dataset
from tests.tui.conftest import CLOCK
from tui.app import create_app
from tui.screens.build import BuildScreen
from tui.screens.compare import CompareScreen
from tui.screens.confirm import ConfirmScreen
from tui.screens.dataset import DatasetScreen
from tui.screens.monitor import MonitorScreen
from tui.screens.results import ResultsScreen
from tui.screens.runs import RunsScreen
from tui.widgets.charts import SeriesChart
from tui.widgets.event_log import EventLog


async def wait_until(pilot, condition, timeout: float = 30.0) -> None:
    steps = int(timeout / 0.05)
    for _ in range(steps):
        if condition():
            return
        await pilot.pause(0.05)
    raise AssertionError("condition not reached in time")


def _text(app, selector: str) -> str:
    """What a Static shows, as plain text (markup, Text or any rich renderable)."""
    from rich.console import Console
    from rich.text import Text

    from textual.css.query import NoMatches

    try:
        content = app.screen.query_one(selector, Static).content
    except NoMatches:  # the screen is still being composed
        return ""
    if isinstance(content, str):
        return Text.from_markup(content).plain
    console = Console(width=300, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
    console.print(content)
    return console.export_text()


async def test_runs_screen_lists_compares_and_opens(demo_registry, local_choice):
    app = create_app(registry=demo_registry, backend=local_choice, clock=lambda: CLOCK)
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.screen.query_one(DataTable)
        await wait_until(pilot, lambda: table.row_count == 2)
        assert str(table.get_row_at(0)[1]) == "3-epoch sorted"  # newest first
        await pilot.press("space", "down", "space", "c")
        assert isinstance(app.screen, CompareScreen)
        diff = _text(app, "#compare-table")
        assert "hyperparameters.n_epochs" in diff and "data.order" in diff
        await pilot.press("escape")
        await pilot.press("enter")
        assert isinstance(app.screen, ResultsScreen)


async def test_dataset_screen_pages_without_loading_rows_into_the_widget(sample_csv, demo_registry, local_choice):
    app = create_app(dataset=sample_csv, registry=demo_registry, backend=local_choice)
    async with app.run_test(size=(120, 40)) as pilot:
        assert isinstance(app.screen, DatasetScreen)
        await wait_until(pilot, lambda: app.dataset is not None and "usable" in _text(app, "#dataset-summary"))
        table = app.screen.query_one("#preview", DataTable)
        await wait_until(pilot, lambda: table.row_count == table.size.height - 1)
        assert "3,017 rows" in _text(app, "#dataset-summary")
        await pilot.press("pagedown")
        # the page is read in a worker: wait for it rather than for a fixed time
        # a late resize may refit the page (same rule: what the table shows): read its size again
        await wait_until(pilot, lambda: f"page 2 of {-(-3017 // app.screen.pager.page_size)}" in _text(app, "#page-info")
                         and str(table.get_row_at(0)[0]) == f"{app.screen.pager.page_size + 1:,}")


async def test_dataset_error_is_one_line(tmp_path, demo_registry, local_choice):
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"a,b\n1,2\n")
    app = create_app(dataset=bad, registry=demo_registry, backend=local_choice)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, lambda: "no text column found" in _text(app, "#dataset-summary"))


async def test_monitor_shows_the_stored_history(demo_registry, local_choice):
    app = create_app(registry=demo_registry, backend=local_choice, clock=lambda: CLOCK)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        run = demo_registry.list_runs()[0]
        app.push_screen(MonitorScreen(run["id"]))
        await pilot.pause()
        loss = app.screen.query_one("#loss-chart", SeriesChart)
        assert len(loss.lines["valid"][0]) == 60 and len(loss.lines["train"][0]) == 60
        assert "succeeded" in _text(app, "#monitor-status")
        assert len(app.screen.query_one(EventLog).lines) == 4  # messages only; metrics are in the charts


async def test_results_screen(demo_registry, local_choice):
    app = create_app(registry=demo_registry, backend=local_choice, clock=lambda: CLOCK)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        app.push_screen(ResultsScreen(demo_registry.list_runs()[0]["id"]))
        await wait_until(pilot, lambda: "CSV:" in _text(app, "#results-summary"))
        assert "tests/tui/data/results.csv" in _text(app, "#results-summary")
        assert len(app.screen.query_one("#valid-loss", SeriesChart).lines["3-epoch sorted"][0]) == 60


async def test_training_not_available_is_explained_in_place(sample_csv, local_choice, tmp_path):
    from core.data.pipeline import PrepareOptions, prepare
    from core.registry.db import Registry

    build = prepare(sample_csv, tmp_path / "b", PrepareOptions(samples={"train": 50, "val": 10, "test": 10})).out_dir
    app = create_app(registry=Registry(tmp_path / "r.sqlite3"), backend=local_choice, local_dir=tmp_path / "backend",
                     local_options={"deny_training": True})
    async with app.run_test(size=(120, 40)) as pilot:
        app.build_dir = build
        app.action_open_launch()
        await pilot.pause()
        await pilot.press("ctrl+l")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_until(pilot, lambda: "not available" in _text(app, "#launch-error"))
        assert "2027-01-06" in _text(app, "#launch-error")


def test_start_up_imports_nothing_heavy():
    code = ("import sys; from tui.app import create_app; create_app(); "
            "heavy = [m for m in ('openai', 'pandas', 'sklearn', 'datasets', 'numpy', 'tiktoken') if m in sys.modules]; "
            "print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


async def test_runs_show_build_and_escape(demo_registry, local_choice, sample_csv):
    app = create_app(registry=demo_registry, backend=local_choice, clock=lambda: CLOCK)
    async with app.run_test(size=(80, 24)) as pilot:
        assert isinstance(app.screen, RunsScreen)
        app.dataset = load_dataset(sample_csv)
        app.action_open_build()
        await pilot.pause()
        assert isinstance(app.screen, BuildScreen)
        await pilot.press("escape")
        assert isinstance(app.screen, RunsScreen)
        await pilot.press("f1")
        assert app.screen.__class__.__name__ == "HelpScreen"


async def test_the_blank_column_entry_goes_back_to_the_dataset_s_column_and_says_so(sample_csv, demo_registry,
                                                                                    local_choice):
    from textual.widgets import Select

    from tests.tui.test_behaviour import notifications

    app = create_app(dataset=sample_csv, registry=demo_registry, backend=local_choice, clock=lambda: CLOCK)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, DatasetScreen) and app.dataset is not None, 60)
        for select_id, kept in (("text-column", "review"), ("label-column", "star")):
            select = app.screen.query_one(f"#{select_id}", Select)
            select.value = Select.NULL   # what choosing the prompt entry does
            await pilot.pause()
            assert select.value == kept and (app.dataset.text_column, app.dataset.label_column) == ("review", "star")
            assert any(f"stays {kept}" in n for n in notifications(app))


async def test_a_refused_column_pick_leaves_the_selects_on_the_columns_the_data_has(sample_csv, demo_registry,
                                                                                   local_choice):
    from textual.widgets import Select

    app = create_app(dataset=sample_csv, registry=demo_registry, backend=local_choice, clock=lambda: CLOCK)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, DatasetScreen) and app.dataset is not None, 60)
        text = app.screen.query_one("#text-column", Select)
        text.value = "star"   # the label column too: refused
        await wait_until(pilot, lambda: "cannot be both" in _text(app, "#dataset-summary"), 30)
        await pilot.pause()
        assert text.value == "review" and app.dataset.text_column == "review"
