"""Every screen at 80x24 and 120x40, from fixed data with a fixed clock and no cursor blink.

Regenerate after an intended change with `pytest tests/tui/test_snapshots.py --snapshot-update`
and look at the SVGs (tests/tui/__snapshots__/) before committing them.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Input

from core.data.load import load_dataset
from tests.tui.conftest import CLOCK
from tui.app import create_app

SIZES = [(80, 24), (120, 40)]
SAMPLE = "assets/sample_reviews.csv"  # relative: the path on screen is the same everywhere


async def _settle(pilot, condition=lambda: True, rounds: int = 200) -> None:
    for _ in range(rounds):
        await pilot.pause(0.05)
        if condition():
            break
    for widget in pilot.app.screen.query(Input):
        widget.cursor_blink = False
    await pilot.wait_for_scheduled_animations()
    await pilot.pause(0.5)  # let throttled charts draw


def _app(registry):
    from core.jobs.backends import BackendChoice

    return create_app(registry=registry, backend=BackendChoice("local"), clock=lambda: CLOCK)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_runs(snap_compare, demo_registry, size):
    async def before(pilot):
        await _settle(pilot, lambda: pilot.app.screen.query_one("DataTable").row_count == 2)

    assert snap_compare(_app(demo_registry), terminal_size=size, run_before=before)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_dataset(snap_compare, demo_registry, size):
    from core.jobs.backends import BackendChoice

    app = create_app(dataset=SAMPLE, registry=demo_registry, backend=BackendChoice("local"), clock=lambda: CLOCK)

    async def before(pilot):
        await _settle(pilot, lambda: "usable" in str(pilot.app.screen.query_one("#dataset-summary").content)
                      and pilot.app.screen.query_one("#histogram").groups)

    assert snap_compare(app, terminal_size=size, run_before=before)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_build(snap_compare, demo_registry, size):
    app = _app(demo_registry)

    async def before(pilot):
        await pilot.pause()
        app.dataset = load_dataset(SAMPLE)
        app.action_open_build()
        await pilot.pause()
        app.screen.query_one("#out", Input).value = "out/build"
        await _settle(pilot, lambda: "rows kept" in str(app.screen.query_one("#preview").content))

    assert snap_compare(app, terminal_size=size, run_before=before)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_launch(snap_compare, demo_registry, size):
    app = _app(demo_registry)

    async def before(pilot):
        await pilot.pause()
        app.build_dir = Path("out/build")
        app.action_open_launch()
        await _settle(pilot)

    assert snap_compare(app, terminal_size=size, run_before=before)


@pytest.mark.parametrize("screen", ["monitor", "results"])
@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_run_screens(snap_compare, demo_registry, size, screen):
    from tui.screens.monitor import MonitorScreen
    from tui.screens.results import ResultsScreen

    app = _app(demo_registry)
    run_id = demo_registry.list_runs()[0]["id"]

    async def before(pilot):
        await pilot.pause()
        app.push_screen((MonitorScreen if screen == "monitor" else ResultsScreen)(run_id))
        await _settle(pilot, lambda: screen == "monitor" or "CSV:" in str(app.screen.query_one("#results-summary").content))

    assert snap_compare(app, terminal_size=size, run_before=before)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_compare(snap_compare, demo_registry, size):
    from tui.screens.compare import CompareScreen

    app = _app(demo_registry)

    async def before(pilot):
        await pilot.pause()
        app.push_screen(CompareScreen([r["id"] for r in demo_registry.list_runs()]))
        await _settle(pilot)

    assert snap_compare(app, terminal_size=size, run_before=before)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_help(snap_compare, demo_registry, size):
    async def before(pilot):
        await pilot.pause()
        await pilot.press("f1")
        await _settle(pilot)

    assert snap_compare(_app(demo_registry), terminal_size=size, run_before=before)


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    """Work in an empty folder so paths on screen are short and the same on every machine."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


SAMPLE_ABS = Path(__file__).resolve().parents[2] / SAMPLE


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_build_done(snap_compare, demo_registry, in_tmp, size):
    """After a build for the local backend: the files, the validation report (tokens not counted, no cost:
    nothing bills by token here), labels per split."""
    app = _app(demo_registry)

    async def before(pilot):
        await pilot.pause()
        app.dataset = load_dataset(SAMPLE_ABS)
        app.action_open_build()
        await pilot.pause()
        app.screen.query_one("#out", Input).value = "build"
        app.screen.query_one("#samples", Input).value = "train=300,val=60,test=60"
        # the preview of these values first: landing after the build it would move the layout
        await _settle(pilot, lambda: "train 300" in str(app.screen.query_one("#preview-summary").content))
        await pilot.press("ctrl+b")

        def scrolled() -> bool:
            side, status = app.screen.query_one("#build-side"), app.screen.query_one("#build-status")
            return (app.build_dir is not None and "cost: none" in str(app.screen.query_one("#report").content)
                    and side.max_scroll_y > 0 and side.scroll_y == min(side.max_scroll_y, status.virtual_region.y))

        await _settle(pilot, scrolled)
        await pilot.pause(0.3)
        await _settle(pilot, scrolled)   # under load the layout may grow once more after the first match

    assert snap_compare(app, terminal_size=size, run_before=before)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_launch_confirm(snap_compare, demo_registry, in_tmp, size):
    """The confirmation before spending: backend, cost estimate, budget."""
    from core.data.pipeline import PrepareOptions, prepare
    from tui.screens.confirm import ConfirmScreen

    prepare(SAMPLE_ABS, Path("build"), PrepareOptions(samples={"train": 100, "val": 20, "test": 20}))
    app = _app(demo_registry)

    async def before(pilot):
        await pilot.pause()
        app.build_dir = Path("build")
        app.action_open_launch()
        await pilot.pause()
        app.screen.query_one("#budget", Input).value = "5"
        await pilot.press("ctrl+l")
        await _settle(pilot, lambda: isinstance(app.screen, ConfirmScreen))

    assert snap_compare(app, terminal_size=size, run_before=before)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_backend_jobs(snap_compare, demo_registry, size):
    async def before(pilot):
        await _settle(pilot, lambda: pilot.app.screen.query_one("DataTable").row_count == 2)
        await pilot.press("j")
        await _settle(pilot, lambda: pilot.app.screen.__class__.__name__ == "BackendJobsScreen")

    assert snap_compare(_app(demo_registry), terminal_size=size, run_before=before)


def test_runs_empty_greets(snap_compare, tmp_path):
    """A new user's first screen: what to do first, not 19 empty lines."""
    from core.registry.db import Registry

    async def before(pilot):
        await _settle(pilot, lambda: pilot.app.screen.query_one("#runs-empty").display)

    assert snap_compare(_app(Registry(tmp_path / "empty.sqlite3")), terminal_size=(80, 24), run_before=before)


def test_build_refused_values(snap_compare, demo_registry):
    """Half-typed values explained under their fields; the system prompt said to be ignored."""
    from textual.widgets import Select

    app = _app(demo_registry)

    async def before(pilot):
        await pilot.pause()
        app.dataset = load_dataset(SAMPLE)
        app.action_open_build()
        await pilot.pause()
        screen = app.screen
        screen.query_one("#out", Input).value = "out/build"
        screen.query_one("#format", Select).value = "completion"
        screen.query_one("#system", Input).value = "You rate app reviews."
        for widget_id, value in (("seed", "-"), ("separator", "\\x")):
            screen.query_one(f"#{widget_id}", Input).focus()
            await pilot.press(*value)
        await _settle(pilot, lambda: "seed" in str(screen.query_one("#preview").content))

    assert snap_compare(app, terminal_size=(80, 24), run_before=before)


def test_launch_refused_epochs(snap_compare, demo_registry):
    app = _app(demo_registry)

    async def before(pilot):
        await pilot.pause()
        app.build_dir = Path("out/build")
        app.action_open_launch()
        await pilot.pause()
        app.screen.query_one("#epochs", Input).value = ""
        app.screen.query_one("#epochs", Input).focus()
        await pilot.press(*"100")
        await pilot.press("ctrl+l")
        await _settle(pilot)

    assert snap_compare(app, terminal_size=(80, 24), run_before=before)


def test_dataset_review_and_go_to_row(snap_compare, demo_registry):
    """The page holds what fits, the selected review is shown whole below it."""
    from core.jobs.backends import BackendChoice

    app = create_app(dataset=SAMPLE, registry=demo_registry, backend=BackendChoice("local"), clock=lambda: CLOCK)

    async def before(pilot):
        await _settle(pilot, lambda: "usable" in str(pilot.app.screen.query_one("#dataset-summary").content)
                      and pilot.app.screen.query_one("#histogram").groups)
        await pilot.press("ctrl+g", *"1000", "enter")
        await _settle(pilot)

    assert snap_compare(app, terminal_size=(80, 24), run_before=before)
