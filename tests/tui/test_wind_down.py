"""Issue 15 in the app: when a paid model stops serving, re-running a run on another backend, and the
Compare screen showing a run next to its re-run."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from textual.widgets import DataTable

from core.jobs.backends import BackendChoice
from core.registry.db import Registry
from tests.tui.conftest import CLOCK
from tests.tui.test_screens import wait_until
from tui.app import create_app
from tui.screens.runs import RunsScreen

PAID = "ft:gpt-4o-mini-2024-07-18:acme::abc123"
TODAY = dt.datetime.fromtimestamp(CLOCK, dt.timezone.utc).date()
DAYS_LEFT = (dt.date(2027, 1, 14) - TODAY).days


@pytest.fixture(scope="module")
def small_build(tmp_path_factory) -> Path:
    from core.data.pipeline import PrepareOptions, prepare

    sample = Path(__file__).resolve().parents[2] / "assets" / "sample_reviews.csv"
    out = tmp_path_factory.mktemp("build") / "b"
    return prepare(sample, out, PrepareOptions(samples={"train": 60, "val": 20, "test": 20})).out_dir


@pytest.fixture
def paid_run(tmp_path, small_build) -> tuple[Registry, str]:
    """A registry with one finished OpenAI run of gpt-4o-mini, trained on ``small_build``."""
    registry = Registry(tmp_path / "r.sqlite3")
    job = {"id": "ftjob-paid", "object": "fine_tuning.job", "model": "gpt-4o-mini-2024-07-18", "status": "succeeded",
           "created_at": int(CLOCK) - 9000, "finished_at": int(CLOCK) - 8000, "fine_tuned_model": PAID,
           "hyperparameters": {"n_epochs": 1, "batch_size": 4, "learning_rate_multiplier": "auto"}, "seed": 7}
    run_id = registry.add_run(backend="openai", job=job, name="paid", dataset="assets/sample_reviews.csv",
                              build_dir=str(small_build), cost_usd=0.42,
                              config={"hyperparameters": {"n_epochs": 1}, "model": "gpt-4o-mini-2024-07-18"})
    return registry, run_id


def _cells(app, row_key: str) -> dict[str, str]:
    table = app.screen.query_one(DataTable)
    labels = [str(c.label) for c in table.columns.values()]
    return dict(zip(labels, (str(v) for v in table.get_row(row_key))))


async def test_runs_show_when_a_paid_model_stops_serving_with_days_left(paid_run, local_choice):
    registry, run_id = paid_run
    app = create_app(registry=registry, backend=local_choice, clock=lambda: CLOCK)
    async with app.run_test(size=(120, 24)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, RunsScreen) and app.screen.rows)
        assert _cells(app, run_id)["stops serving"] == f"2027-01-14 ({DAYS_LEFT}d left)"
    # the same run a year later: the date has passed
    later = create_app(registry=registry, backend=local_choice, clock=lambda: CLOCK + 365 * 86400)
    async with later.run_test(size=(120, 24)) as pilot:
        await wait_until(pilot, lambda: isinstance(later.screen, RunsScreen) and later.screen.rows)
        assert _cells(later, run_id)["stops serving"] == "2027-01-14 (ended)"


async def test_local_models_have_no_end_of_service(demo_registry, local_choice):
    app = create_app(registry=demo_registry, backend=local_choice, clock=lambda: CLOCK)
    async with app.run_test(size=(120, 24)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, RunsScreen) and app.screen.rows)
        # no column of dashes: only OpenAI's models stop serving
        assert all("stops serving" not in _cells(app, r["id"]) for r in app.screen.rows)
        assert "test acc" in _cells(app, app.screen.rows[0]["id"])


async def test_rerun_on_local_creates_a_linked_run_that_trains(paid_run, tmp_path):
    from textual.widgets import Select

    from tui.screens.monitor import MonitorScreen
    from tui.screens.rerun import RerunScreen

    registry, source = paid_run
    app = create_app(registry=registry, backend=BackendChoice("local"), local_dir=tmp_path / "backend",
                     clock=lambda: CLOCK)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, RunsScreen) and app.screen.rows)
        await pilot.press("R")
        await wait_until(pilot, lambda: isinstance(app.screen, RerunScreen))
        assert app.screen.query_one("#rerun-backend", Select).value == "local"  # not where it ran
        await pilot.click("#rerun-go")
        await wait_until(pilot, lambda: isinstance(app.screen, MonitorScreen), timeout=60)
        [again] = registry.reruns_of(source)
        assert app.screen.run_id == again["id"] and again["backend"] == "local"
        assert again["config"]["rerun_of"] == source
        await wait_until(pilot, lambda: registry.get_run(again["id"])["status"] == "succeeded", timeout=120)
        assert registry.get_run(again["id"])["fine_tuned_model"].startswith("ft:")


async def test_rerun_failure_is_shown_in_the_dialog(paid_run, tmp_path):
    from textual.widgets import Select

    from tui.screens.rerun import RerunScreen

    registry, source = paid_run
    app = create_app(registry=registry, backend=BackendChoice("local"), local_dir=tmp_path / "backend",
                     clock=lambda: CLOCK)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, RunsScreen) and app.screen.rows)
        await pilot.press("R")
        await wait_until(pilot, lambda: isinstance(app.screen, RerunScreen))
        app.screen.query_one("#rerun-backend", Select).value = "compatible"
        await pilot.click("#rerun-go")
        status = lambda: str(app.screen.query_one("#rerun-status").content)  # noqa: E731
        await wait_until(pilot, lambda: "base URL" in status())
        assert isinstance(app.screen, RerunScreen) and "--" not in status()  # the app's words, not a flag
        assert registry.reruns_of(source) == []


def _link_a_rerun(registry: Registry, source: str) -> str:
    """A finished local run recorded as the re-run of ``source``."""
    job = {"id": "ftjob-again", "object": "fine_tuning.job", "model": "startune-local", "status": "succeeded",
           "created_at": int(CLOCK) - 500, "finished_at": int(CLOCK) - 400,
           "fine_tuned_model": "ft:startune-local:local:again:1", "hyperparameters": {"n_epochs": 1}}
    again = registry.add_run(backend="local", job=job, name="paid on local", cost_usd=0.0,
                             config={"hyperparameters": {"n_epochs": 1}, "rerun_of": source})
    registry.link_rerun(again, source)
    return again


@pytest.mark.parametrize("how", ["cursor on the source", "cursor on the re-run", "both selected"])
async def test_compare_shows_a_run_and_its_rerun_as_a_pair(paid_run, local_choice, how):
    from tests.tui.test_screens import _text
    from tui.screens.compare import CompareScreen

    registry, source = paid_run
    again = _link_a_rerun(registry, source)
    app = create_app(registry=registry, backend=local_choice, clock=lambda: CLOCK)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, RunsScreen) and len(app.screen.rows) == 2)
        table = app.screen.query_one(DataTable)
        order = [r["id"] for r in app.screen.rows]
        if how == "both selected":
            for _ in order:
                await pilot.press("space", "down")
        else:
            table.move_cursor(row=order.index(source if how == "cursor on the source" else again))
        await pilot.pause()
        await pilot.press("c")
        await wait_until(pilot, lambda: isinstance(app.screen, CompareScreen))
        assert set(app.screen.run_ids) == {source, again}
        assert app.screen.pairs == [(source, again)]
        text = _text(app, "#compare-table")
        assert "paid re-run as paid on local" in text and "$0.42" in text


async def test_compare_needs_two_runs_when_a_run_has_no_rerun(demo_registry, local_choice):
    from tui.screens.compare import CompareScreen

    app = create_app(registry=demo_registry, backend=local_choice, clock=lambda: CLOCK)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, RunsScreen) and app.screen.rows)
        await pilot.press("c")
        await pilot.pause()
        assert not isinstance(app.screen, CompareScreen) and app._notifications  # noqa: SLF001


async def test_help_names_rerun_and_the_pair(demo_registry, local_choice):
    from textual.widgets import Markdown

    app = create_app(registry=demo_registry, backend=local_choice)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f1")
        source = app.screen.query_one(Markdown).source
        assert "`R` re-run on another backend" in source and "compares\nthe pair" in source


async def test_rerun_dialog_fits_80x24(paid_run, tmp_path):
    from tui.screens.rerun import RerunScreen

    registry, _ = paid_run
    app = create_app(registry=registry, backend=BackendChoice("local"), local_dir=tmp_path / "backend",
                     clock=lambda: CLOCK, cursor_blink=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, RunsScreen) and app.screen.rows)
        await pilot.press("R")
        await wait_until(pilot, lambda: isinstance(app.screen, RerunScreen))
        await pilot.pause()
        for widget_id in ("#rerun-backend", "#rerun-model", "#rerun-go", "#rerun-cancel"):
            region = app.screen.query_one(widget_id).region
            assert region.height > 0 and region.bottom <= 24 and region.right <= 80, widget_id
