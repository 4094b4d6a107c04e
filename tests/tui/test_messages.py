"""Which queued updates Textual may drop: the screens read events from the session, but a state change must land."""

from __future__ import annotations

from tui.messages import BuildFinished, BuildProgress, JobUpdated, PreviewReady, RunsRead


def test_an_events_only_job_update_gives_way_to_the_next_one_of_the_same_job():
    assert JobUpdated("local", "ftjob-1").can_replace(JobUpdated("local", "ftjob-1"))
    assert JobUpdated("local", "ftjob-1").can_replace(JobUpdated("local", "ftjob-1", {"status": "running"}))
    assert not JobUpdated("local", "ftjob-1").can_replace(JobUpdated("local", "ftjob-2"))


def test_a_job_state_change_is_never_dropped_for_an_events_only_update():
    changed = JobUpdated("local", "ftjob-1", {"status": "running"})
    assert not changed.can_replace(JobUpdated("local", "ftjob-1"))
    assert changed.can_replace(JobUpdated("local", "ftjob-1", {"status": "succeeded"}))


def test_build_progress_gives_way_to_newer_progress_but_not_to_the_outcome():
    assert BuildProgress("write", 1, 10).can_replace(BuildProgress("write", 2, 10))
    assert not BuildProgress("write", 1, 10).can_replace(BuildFinished(error="x"))


def test_job_messages_do_not_bubble_back_to_the_app_that_re_posts_them():
    assert JobUpdated.bubble is False


def test_a_preview_or_a_runs_list_gives_way_to_a_newer_one_only():
    assert PreviewReady(1, "", "").can_replace(PreviewReady(2, "", ""))
    assert not PreviewReady(1, "", "").can_replace(BuildFinished(error="x"))
    assert RunsRead([]).can_replace(RunsRead([]))
    assert not RunsRead([]).can_replace(JobUpdated("local", "ftjob-1"))


async def test_the_runs_screen_shows_the_list_its_refresh_posts(demo_registry, local_choice):
    from textual.widgets import DataTable

    from tests.tui.test_screens import wait_until
    from tui.app import create_app
    from tui.screens.runs import RunsScreen

    app = create_app(registry=demo_registry, backend=local_choice)
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, RunsScreen))
        table = app.screen.query_one(DataTable)
        await wait_until(pilot, lambda: table.row_count == 2)
        await app.workers.wait_for_complete()
        # the screen's own refreshes (on resume, on a job update) would post the whole registry after ours
        # and race this message under load: the list shown must be the one this test posts
        app.screen.action_refresh = lambda: None
        newest = app.screen.rows[0]
        from tui.screens.runs import COLUMNS

        app.screen.post_message(RunsRead([(newest, ("x",) * (len(COLUMNS) - 1))]))
        await wait_until(pilot, lambda: table.row_count == 1)
        assert [run["id"] for run in app.screen.rows] == [newest["id"]]


async def test_a_preview_of_values_changed_since_is_not_drawn(sample_csv, demo_registry, local_choice):
    from core.data.load import load_dataset
    from tests.tui.test_screens import _text, wait_until
    from tui.app import create_app
    from tui.screens.build import BuildScreen

    app = create_app(registry=demo_registry, backend=local_choice)
    async with app.run_test(size=(100, 30)) as pilot:
        app.dataset = load_dataset(sample_csv)
        app.action_open_build()
        await wait_until(pilot, lambda: isinstance(app.screen, BuildScreen) and "rows kept" in _text(
            app, "#preview-summary"))
        await app.workers.wait_for_complete()
        screen = app.screen
        screen.post_message(PreviewReady(screen._generation - 1, "stale summary", "stale"))
        await pilot.pause(0.2)
        assert "stale" not in _text(app, "#preview-summary")
        screen.post_message(PreviewReady(screen._generation, "newest summary", "newest"))
        await wait_until(pilot, lambda: "newest summary" in _text(app, "#preview-summary"))
        assert "stale" not in _text(app, "#preview")


def test_every_advice_core_gives_has_the_apps_own_words_and_they_name_no_flag():
    from core.errors import Advice, DataError
    from tui.errors import APP_ADVICE, describe

    assert set(APP_ADVICE) == set(Advice)
    for advice in Advice:
        said = describe(DataError("no text column found", path="reviews.csv", hint=advice))
        assert said == f"reviews.csv: no text column found ({APP_ADVICE[advice]})"
        assert "--" not in said and "startune " not in said
        assert str(DataError("x", hint=advice)) == f"x ({advice.value})"   # the command line's words


def test_a_field_says_a_refused_value_s_rule_and_other_errors_with_the_app_s_advice():
    from core.errors import Advice, ConfigError, ValueRefused
    from tui.errors import APP_ADVICE
    from tui.widgets.form import Checks

    def refused(value):
        raise ValueRefused("--samples", value, "give N or train=N,val=N,test=N")

    def advised(value):
        raise ConfigError("too many for this file", hint=Advice.SAMPLE_FEWER)

    assert str(ValueRefused("--samples", "x", "give N")) == "--samples 'x': give N"   # the command line's line
    assert Checks(refused).validate("x").failure_descriptions == ["give N or train=N,val=N,test=N"]
    assert Checks(advised).validate("9").failure_descriptions == [
        f"too many for this file ({APP_ADVICE[Advice.SAMPLE_FEWER]})"]
