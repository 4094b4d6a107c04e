"""The first hour, again (issue 25): each crash and hang a new user met, reproduced in the app."""

from __future__ import annotations

import pytest
from textual.widgets import Input

from tests.tui.test_screens import _text, wait_until
from tui.app import create_app
from tui.screens.dataset import DatasetScreen


def _notes(app) -> str:
    return " ".join(str(n.message) for n in app._notifications)  # noqa: SLF001


async def _open_dataset(pilot, path: str) -> None:
    await pilot.press("n")
    assert isinstance(pilot.app.screen, DatasetScreen)
    pilot.app.screen.query_one("#path", Input).value = path
    pilot.app.screen.query_one("#path", Input).focus()
    await pilot.press("enter")


async def test_enter_on_an_empty_go_to_row_says_what_to_type(sample_csv, demo_registry, local_choice):
    """Was: the app exited with ValueError: invalid literal for int() with base 10: ''."""
    app = create_app(registry=demo_registry, backend=local_choice)
    async with app.run_test(size=(80, 24)) as pilot:
        await _open_dataset(pilot, str(sample_csv))
        await wait_until(pilot, lambda: "usable" in _text(app, "#dataset-summary"), timeout=120)
        await pilot.press("ctrl+g", "enter")
        await pilot.pause()
        assert app.is_running and isinstance(app.screen, DatasetScreen)
        assert "type a row from 1 to" in _notes(app)


@pytest.mark.parametrize("path", ["a" * 300, "x/" * 3000, "sample_reviews" + "é" * 200], ids=["300", "6k", "non-ascii"])
async def test_a_name_the_os_cannot_open_ends_loading_with_one_line(demo_registry, local_choice, path):
    """Was: "Loading ..." for good (50 s to minutes of hub lookups, then the OSError dropped)."""
    app = create_app(registry=demo_registry, backend=local_choice)
    async with app.run_test(size=(80, 24)) as pilot:
        await _open_dataset(pilot, path)
        await wait_until(pilot, lambda: "Loading" not in _text(app, "#dataset-summary"), timeout=60)
        summary = _text(app, "#dataset-summary")
        assert "too long" in summary or "not found" in summary, summary
        assert "Traceback" not in summary and "unexpected" not in summary
