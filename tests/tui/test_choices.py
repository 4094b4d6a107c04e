"""The app's selects offer core's choices (core.choices) with core's defaults."""

from __future__ import annotations

from core import choices
from core.jobs.backends import BackendChoice


async def test_the_app_s_selects_offer_core_s_choices_and_defaults(sample_csv, tmp_path):
    from core.data.load import load_dataset
    from core.registry.db import Registry
    from tests.tui.test_screens import wait_until
    from textual.widgets import Select
    from tui.app import create_app
    from tui.screens.build import BuildScreen
    from tui.screens.launch import LaunchScreen

    def offered(select: Select) -> tuple:
        return tuple(value for _, value in select._options if value is not Select.BLANK)  # noqa: SLF001

    app = create_app(registry=Registry(tmp_path / "r.sqlite3"), backend=BackendChoice("local"))
    async with app.run_test(size=(120, 40)) as pilot:
        assert app.labels_spec == choices.DEFAULT_LABELS
        app.dataset = load_dataset(sample_csv)
        app.action_open_build()
        await wait_until(pilot, lambda: isinstance(app.screen, BuildScreen) and app.screen.query("#format"))
        for widget_id, values, default in (("conflicts", choices.CONFLICT_POLICIES, choices.DEFAULT_CONFLICT_POLICY),
                                           ("order", choices.ORDERS, choices.DEFAULT_ORDER),
                                           ("format", choices.FORMATS, choices.DEFAULT_FORMAT)):
            select = app.screen.query_one(f"#{widget_id}", Select)
            assert (offered(select), select.value) == (values, default), widget_id
        await app.workers.wait_for_complete()
        app.action_open_launch()
        await wait_until(pilot, lambda: isinstance(app.screen, LaunchScreen) and app.screen.query("#backend"))
        assert offered(app.screen.query_one("#backend", Select)) == choices.BACKEND_KINDS
        # the local backend's own settings are picked from their words and reach LaunchOptions as declared
        screen = app.screen
        assert offered(screen.query_one("#objective", Select)) == ("auto", *choices.OBJECTIVES)
        assert offered(screen.query_one("#early-stopping", Select)) == ("auto", "on", "off")
        assert offered(screen.query_one("#class-weight", Select)) == choices.CLASS_WEIGHTS
        screen.query_one("#objective", Select).value = "mae"
        screen.query_one("#early-stopping", Select).value = "off"
        options = screen._options()  # noqa: SLF001 - what a launch would send
        assert (options.objective, options.early_stopping, options.class_weight) == ("mae", False, "auto")
        # OpenAI takes none of them: not offered there, and not sent
        screen.query_one("#backend", Select).value = "openai"
        await pilot.pause()
        assert not screen.query_one("#field-objective").display
        assert screen._options().objective == "auto"  # noqa: SLF001
