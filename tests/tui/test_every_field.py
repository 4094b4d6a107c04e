"""Every Input of every screen, typed with what a new user may type: the app never crashes and a
refused value always says why (under its field, in the screen's error line or as a notification).

The fields are found by querying each screen's DOM, so a field added later is covered too."""

from __future__ import annotations

import pytest
from textual.widgets import Input, Static

from tui.app import create_app

VALUES = ["", "-", "99999999999999999999999", "ünïcødé ★", "x" * 5000]


def _reasons(app) -> str:
    screen = app.screen
    notes = [str(w.render()) for w in screen.query(".field-note") if w.display]
    # the Dataset screen says an empty path in its summary ("Type a path first")
    errors = [str(w.render()) for w in screen.query(Static)
              if w.id and (w.id.endswith("-error") or w.id == "dataset-summary")
              and not str(w.render()).startswith(("Loading", "No dataset", "Type a path and press"))]
    return " ".join(notes + errors + [str(n.message) for n in app._notifications]).strip()


async def _type_every_field(pilot, screen_type, *, always_refused: tuple[str, ...] = ()) -> tuple[int, int]:
    """(fields typed, values refused); a field in ``always_refused`` must give a reason for every value."""
    app = pilot.app
    inputs = [i for i in app.screen.query(Input) if i.id]
    refused = 0
    assert inputs, f"{screen_type.__name__} has no inputs: the query is wrong"
    for widget_id in [i.id for i in inputs]:
        for value in VALUES:
            app.clear_notifications()
            widget = app.screen.query_one(f"#{widget_id}", Input)
            if not widget.display or not widget.parent.display:
                widget.parent.display = True  # a field shown only for another choice is typed all the same
            widget.value = value
            widget.focus()
            await pilot.press("enter")
            await pilot.pause()
            assert app.is_running, f"{widget_id} = {value[:30]!r} ended the app"
            assert isinstance(app.screen, screen_type), f"{widget_id} = {value[:30]!r} left the screen"
            validation = widget.validate(value)
            if widget_id in always_refused or (validation is not None and not validation.is_valid):
                refused += 1
                assert _reasons(app), f"{widget_id} refused {value[:30]!r} without saying why"
    return len(inputs), refused


async def test_every_field_of_the_dataset_screen(demo_registry, local_choice):
    from tui.screens.dataset import DatasetScreen

    app = create_app(registry=demo_registry, backend=local_choice)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("n")
        assert isinstance(app.screen, DatasetScreen)
        # no such file for any of these: each is refused with a reason
        assert (await _type_every_field(pilot, DatasetScreen, always_refused=("path",)))[1] >= len(VALUES)


async def test_every_field_of_the_build_screen(sample_csv, demo_registry, local_choice):
    from core.data.load import load_dataset
    from tui.screens.build import BuildScreen

    app = create_app(registry=demo_registry, backend=local_choice)
    async with app.run_test(size=(80, 24)) as pilot:
        app.dataset = load_dataset(sample_csv)
        app.push_screen(BuildScreen())
        await pilot.pause()
        typed, refused = await _type_every_field(pilot, BuildScreen)
        assert typed >= 3 and refused >= 5


async def test_every_field_of_the_launch_screen(demo_registry, local_choice):
    from tui.screens.launch import LaunchScreen

    app = create_app(registry=demo_registry, backend=local_choice)
    async with app.run_test(size=(80, 24)) as pilot:
        app.push_screen(LaunchScreen(None))
        await pilot.pause()
        typed, refused = await _type_every_field(pilot, LaunchScreen)
        assert typed >= 3 and refused >= 5


async def test_every_field_of_the_rerun_dialog(demo_registry, local_choice):
    from tui.screens.rerun import RerunScreen

    runs = demo_registry.list_runs()
    if not runs:
        pytest.fail("the demo registry has no run to rerun")
    app = create_app(registry=demo_registry, backend=local_choice)
    async with app.run_test(size=(80, 24)) as pilot:
        app.push_screen(RerunScreen(runs[0]))
        await pilot.pause()
        await _type_every_field(pilot, RerunScreen)
