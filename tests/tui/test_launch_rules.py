"""The Launch screen checks values and prices the launch by core's rules (core.launch_options, core.jobs.estimate),
the same the command line applies."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Input, Select

from core.jobs.estimate import estimate_launch
from core.jobs.launch import LaunchOptions
from tests.tui.conftest import CLOCK
from tests.tui.test_first_hour import field_note, type_into
from tests.tui.test_screens import _text, wait_until
from tui.app import create_app
from tui.screens.confirm import ConfirmScreen
from tui.screens.launch import LaunchScreen


@pytest.fixture(scope="module")
def small_build(tmp_path_factory) -> Path:
    from core.data.pipeline import PrepareOptions, prepare

    sample = Path(__file__).resolve().parents[2] / "assets" / "sample_reviews.csv"
    out = tmp_path_factory.mktemp("build") / "b"
    return prepare(sample, out, PrepareOptions(samples={"train": 60, "val": 20, "test": 20})).out_dir


async def test_the_confirmation_shows_core_s_estimate_for_the_chosen_model(small_build, demo_registry,
                                                                           local_choice):
    app = create_app(registry=demo_registry, backend=local_choice, clock=lambda: CLOCK)
    async with app.run_test(size=(120, 40)) as pilot:
        app.build_dir = small_build
        app.action_open_launch()
        await wait_until(pilot, lambda: isinstance(app.screen, LaunchScreen) and app.screen.query("#model"))
        await app.workers.wait_for_complete()  # the backend's models listed, its default chosen
        model = str(app.screen.query_one("#model", Select).value)
        await pilot.press("ctrl+l")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        question = " ".join(_text(app, "#question").split())
        expected = estimate_launch(small_build, LaunchOptions(model=model), model).describe()
        assert expected in question, question
        assert "up to 20 epochs, auto: early stopping" in question  # the local backend decides the epochs


@pytest.mark.parametrize(("widget_id", "value", "note"), [
    ("budget", "1e999", "a number of dollars, 0 or more"),
    ("seed", "2147483648", "a whole number from 0 to 2147483647"),
    ("suffix", "it's " + "x" * 61, "at most 64 characters (66 now)"),
])
async def test_fields_refuse_what_the_command_line_refuses_in_the_app_s_words(small_build, demo_registry,
                                                                              local_choice, widget_id, value, note):
    app = create_app(registry=demo_registry, backend=local_choice, clock=lambda: CLOCK)
    async with app.run_test(size=(120, 40)) as pilot:
        app.build_dir = small_build
        app.action_open_launch()
        await wait_until(pilot, lambda: isinstance(app.screen, LaunchScreen) and app.screen.query(f"#{widget_id}"))
        await type_into(pilot, widget_id, value)
        assert app.screen.query_one(f"#{widget_id}", Input).value == value
        assert field_note(app, widget_id) == note  # the rule, without the command line's flag
        await pilot.press("ctrl+l")
        await pilot.pause(0.5)
        assert isinstance(app.screen, LaunchScreen)
        assert note in _text(app, "#launch-error")


@pytest.mark.slow
async def test_a_backend_that_cannot_list_its_models_says_so_under_the_model(small_build, demo_registry,
                                                                             local_choice):
    """The note says why the list holds only the default; the model's own install note must not wipe it."""
    from tests.fixtures.backend import free_port

    app = create_app(registry=demo_registry, backend=local_choice, clock=lambda: CLOCK)
    async with app.run_test(size=(80, 24)) as pilot:
        app.build_dir = small_build
        app.action_open_launch()
        await wait_until(pilot, lambda: isinstance(app.screen, LaunchScreen) and app.screen.query("#base-url"))
        app.screen.query_one("#backend", Select).value = "compatible"
        await pilot.pause()
        await type_into(pilot, "base-url", f"http://127.0.0.1:{free_port()}/v1")   # nothing listens there
        await pilot.press("enter")
        await wait_until(pilot, lambda: "could not list models" in field_note(app, "model"), 60)
        await pilot.pause(0.5)
        assert "could not list models" in field_note(app, "model")
        app.screen.query_one("#base-url", Input).value = ""   # cleared: that URL's failure says nothing now
        app.screen.query_one("#base-url", Input).focus()
        await pilot.press("enter")
        await pilot.pause(0.3)
        assert field_note(app, "model") == "" and "type it in the base URL field" in field_note(app, "backend")


async def test_the_base_url_field_says_what_an_empty_one_means_for_the_chosen_backend(small_build, demo_registry,
                                                                                      local_choice):
    app = create_app(registry=demo_registry, backend=local_choice, clock=lambda: CLOCK)
    async with app.run_test(size=(80, 24)) as pilot:
        app.build_dir = small_build
        app.action_open_launch()
        await wait_until(pilot, lambda: isinstance(app.screen, LaunchScreen) and app.screen.query("#base-url"))
        seen = {}
        for kind in ("openai", "azure", "compatible"):
            app.screen.query_one("#backend", Select).value = kind
            await pilot.pause()
            assert app.screen.query_one("#field-base-url").display
            seen[kind] = app.screen.query_one("#base-url", Input).placeholder
        assert "api.openai.com" in seen["openai"] and "openai.azure.com" in seen["azure"]
        assert seen["compatible"].startswith("required")
        app.screen.query_one("#backend", Select).value = "local"
        await pilot.pause()
        assert not app.screen.query_one("#field-base-url").display   # the local backend has no URL
