"""App-wide behaviour: command palette, the one error path, following that survives leaving the
screen or quitting, job control, attaching to the backend's own jobs, big datasets."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.command import CommandPalette
from textual.widgets import DataTable, Select

from core.errors import DataError
from core.jobs.backends import BackendChoice
from core.registry.db import Registry
from tests.tui.conftest import CLOCK
from tests.tui.test_screens import _text, wait_until
from tui.app import create_app
from tui.screens.confirm import ConfirmScreen
from tui.screens.dataset import DatasetScreen
from tui.screens.monitor import MonitorScreen
from tui.screens.runs import RunsScreen
from tui.widgets.charts import SeriesChart
from tui.widgets.event_log import EventLog


@pytest.fixture(scope="module")
def small_build(tmp_path_factory) -> Path:
    from core.data.pipeline import PrepareOptions, prepare

    sample = Path(__file__).resolve().parents[2] / "assets" / "sample_reviews.csv"
    out = tmp_path_factory.mktemp("build") / "b"
    return prepare(sample, out, PrepareOptions(samples={"train": 120, "val": 30, "test": 30})).out_dir


def notifications(app) -> list[str]:
    return [n.message for n in app._notifications]


async def launch_in(app, build: Path, **options) -> tuple[str, str]:
    """Start a job through the app's own client, as the Launch screen does; (run id, job id)."""
    from core.jobs.launch import LaunchOptions, launch

    client = await app.session.client()
    run_id, job = await launch(client, build, LaunchOptions(**options), choice=app.session.choice,
                               registry=app.session.registry)
    return run_id, job["id"]


async def test_command_palette_lists_screens_and_opens_them(demo_registry, local_choice, sample_csv):
    from core.data.load import load_dataset

    app = create_app(registry=demo_registry, backend=local_choice, clock=lambda: CLOCK)
    async with app.run_test(size=(80, 24)) as pilot:
        app.dataset = load_dataset(sample_csv)
        await pilot.press("ctrl+p")
        await wait_until(pilot, lambda: isinstance(app.screen, CommandPalette))
        await pilot.press(*"build")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.screen.__class__.__name__ == "BuildScreen")


async def test_worker_failures_become_one_line_notifications(demo_registry, local_choice):
    app = create_app(registry=demo_registry, backend=local_choice, clock=lambda: CLOCK)

    def user_mistake() -> None:
        raise DataError("no label column found", path="reviews.csv", hint="pick one with the label selector")

    def bug() -> None:
        raise KeyError("oops")

    async with app.run_test(size=(80, 24)) as pilot:
        app.screen.run_worker(user_mistake, thread=True, exit_on_error=False)
        app.run_worker(bug, thread=True, exit_on_error=False)
        await wait_until(pilot, lambda: len(notifications(app)) == 2)
        shown = notifications(app)
        assert "reviews.csv: no label column found (pick one with the label selector)" in shown
        assert any(m.startswith("unexpected KeyError") for m in shown)
        assert all("\n" not in m and "Traceback" not in m for m in shown)
        assert isinstance(app.screen, RunsScreen)  # the app carries on


async def test_following_continues_off_screen_and_notifies_at_the_end(small_build, tmp_path):
    registry = Registry(tmp_path / "r.sqlite3")
    app = create_app(registry=registry, backend=BackendChoice("local"), local_dir=tmp_path / "backend",
                     local_options={"pace": 0.01})
    async with app.run_test(size=(100, 30)) as pilot:
        run_id, job_id = await launch_in(app, small_build, n_epochs=1, suffix="off")
        app.follow("local", job_id)
        app.push_screen(MonitorScreen(run_id))
        await pilot.pause(0.2)
        await pilot.press("escape")  # leave the monitor: following lives on the app
        assert isinstance(app.screen, RunsScreen)
        await wait_until(pilot, lambda: any("succeeded" in m for m in notifications(app)))
        assert registry.get_run(run_id)["status"] == "succeeded"
        assert any(e.get("type") == "metrics" for e in registry.events("local", job_id))
        await wait_until(pilot, lambda: "succeeded" in str(app.screen.query_one(DataTable).get_row_at(0)))


async def test_quit_mid_job_and_reopen_shows_history_and_resumes(small_build, tmp_path):
    registry_path, backend_dir = tmp_path / "r.sqlite3", tmp_path / "backend"
    options = {"pace": 0.05, "lease": 1.0}
    first = create_app(registry=Registry(registry_path), backend=BackendChoice("local"), local_dir=backend_dir,
                       local_options=options)
    async with first.run_test(size=(100, 30)) as pilot:
        run_id, job_id = await launch_in(first, small_build, n_epochs=3, suffix="resume")
        first.follow("local", job_id)
        state = first.session.job("local", job_id)
        await wait_until(pilot, lambda: sum(e.get("type") == "metrics" for e in state.events) >= 3)
    registry = Registry(registry_path)
    stored = len(registry.events("local", job_id))
    assert registry.get_run(run_id)["status"] not in ("succeeded", "failed", "cancelled")

    second = create_app(registry=registry, backend=BackendChoice("local"), local_dir=backend_dir,
                        local_options=options | {"pace": 0.0})
    async with second.run_test(size=(100, 30)) as pilot:
        state = second.session.job("local", job_id)
        assert state.following  # re-attached on start
        assert len(state.events) >= stored  # the history is there before anything new arrives
        table = second.screen.query_one(DataTable)
        await wait_until(pilot, lambda: table.row_count == 1)
        await pilot.press("enter")  # open the run from the Runs screen
        await wait_until(pilot, lambda: isinstance(second.screen, MonitorScreen))
        assert len(second.screen.query_one("#loss-chart", SeriesChart).lines["train"][0]) >= 3
        await wait_until(pilot, lambda: state.job.get("status") == "succeeded" and not state.following, timeout=60)
        await pilot.pause(0.3)
        assert "succeeded" in _text(second, "#monitor-status")
    ids = [e["id"] for e in registry.events("local", job_id)]
    assert len(ids) == len(set(ids))  # each event once, across the restart


async def test_monitor_pause_resume_and_cancel_with_confirmation(small_build, tmp_path):
    registry = Registry(tmp_path / "r.sqlite3")
    # the job must outlast the keys pressed at it: at 0.05 s a step it finished in ~5 s, before the
    # cancel arrived on a loaded machine (then "cancelled" never came). At 0.5 s it lasts over a minute;
    # pause, resume and cancel act between steps, so the test waits no longer for them.
    app = create_app(registry=registry, backend=BackendChoice("local"), local_dir=tmp_path / "backend",
                     local_options={"pace": 0.5})
    async with app.run_test(size=(120, 40)) as pilot:
        run_id, job_id = await launch_in(app, small_build, n_epochs=5, suffix="ctl")
        app.follow("local", job_id)
        app.push_screen(MonitorScreen(run_id))
        state = app.session.job("local", job_id)
        await wait_until(pilot, lambda: state.job.get("status") == "running")
        await pilot.press("p")
        await wait_until(pilot, lambda: state.job.get("status") == "paused")
        await pilot.press("u")
        await wait_until(pilot, lambda: state.job.get("status") in ("queued", "running", "validating_files"))
        await pilot.press("c")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")  # changed my mind: nothing happens
        assert isinstance(app.screen, MonitorScreen)
        await pilot.press("c", "y")
        await wait_until(pilot, lambda: state.job.get("status") == "cancelled")
        await pilot.pause(0.3)
        assert "cancelled" in _text(app, "#monitor-status")
        assert len(app.screen.query_one(EventLog).lines) >= 3
    assert registry.get_run(run_id)["status"] == "cancelled"


async def test_attach_to_a_job_started_elsewhere(small_build, tmp_path):
    from core.jobs.launch import LaunchOptions, launch

    registry = Registry(tmp_path / "r.sqlite3")
    app = create_app(registry=registry, backend=BackendChoice("local"), local_dir=tmp_path / "backend")
    async with app.run_test(size=(120, 40)) as pilot:
        client = await app.session.client()
        # launched by another tool: recorded in a registry the app does not read
        _, job = await launch(client, small_build, LaunchOptions(n_epochs=1), choice=BackendChoice("local"),
                              registry=Registry(tmp_path / "elsewhere.sqlite3"))
        assert registry.list_runs() == []
        await pilot.press("j")
        await wait_until(pilot, lambda: app.screen.__class__.__name__ == "BackendJobsScreen")
        table = app.screen.query_one(DataTable)
        await wait_until(pilot, lambda: table.row_count == 1)
        await pilot.press("a")
        await wait_until(pilot, lambda: registry.run_for_job("local", job["id"]) is not None)
        await wait_until(pilot, lambda: app.screen.__class__.__name__ in ("MonitorScreen", "ResultsScreen"))


async def test_delete_asks_first(demo_registry, local_choice):
    app = create_app(registry=demo_registry, backend=local_choice, clock=lambda: CLOCK)
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.screen.query_one(DataTable)
        await wait_until(pilot, lambda: table.row_count == 2)
        await pilot.press("d")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("escape")
        assert len(demo_registry.list_runs()) == 2
        await pilot.press("d", "y")
        await wait_until(pilot, lambda: table.row_count == 1)
        assert [r["name"] for r in demo_registry.list_runs()] == ["1-epoch shuffled"]


async def test_changing_the_label_column_reloads(tmp_path, demo_registry, local_choice):
    path = tmp_path / "two_labels.csv"
    path.write_text("content,score,stars\n" + "".join(f"review number {i},{1 + i % 5},{5 - i % 5}\n" for i in range(40)))
    app = create_app(dataset=path, registry=demo_registry, backend=local_choice)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: app.dataset is not None and "usable" in _text(app, "#dataset-summary"))
        first = app.dataset.label_column
        other = "stars" if first == "score" else "score"
        app.screen.query_one("#label-column", Select).value = other
        await wait_until(pilot, lambda: app.dataset.label_column == other and "usable" in _text(app, "#dataset-summary"))
        assert app.screen.query_one("#preview", DataTable).ordered_columns[1].label.plain == other


async def test_paging_stays_instant_on_288065_rows(demo_registry, local_choice):
    import pandas as pd

    from core.data.load import LoadedDataset

    n = 288_065
    frame = pd.DataFrame({"content": [f"review {i}" for i in range(n)], "score": [str(1 + i % 5) for i in range(n)]})
    ds = LoadedDataset(frame=frame, source="big.csv", format="csv", text_column="content", label_column="score",
                       split_column=None, fingerprint="sha256:0")
    app = create_app(registry=demo_registry, backend=local_choice)
    async with app.run_test(size=(80, 24)) as pilot:
        app.dataset = ds
        app.push_screen(DatasetScreen())
        await pilot.pause()
        table = app.screen.query_one("#preview", DataTable)
        await wait_until(pilot, lambda: table.row_count == table.size.height - 1)
        page = table.row_count  # one page in the widget, never the whole table; exactly what fits
        assert page < 50 and table.max_scroll_y == 0
        assert f"of {-(-n // page):,}" in _text(app, "#page-info")
        for _ in range(10):
            await pilot.press("pagedown")
        # the widget holds one page whatever the file's size (speed is benchmarked, not timed here)
        assert table.row_count == page
        assert str(table.get_row_at(0)[0]) == f"{10 * page + 1:,}"


def test_bare_startune_and_startune_tui_open_the_app(monkeypatch, sample_csv):
    from click.testing import CliRunner

    from tui.app import StartuneApp
    from tui.cli import cli   # the installed entry point: core's commands plus the app

    opened = []
    monkeypatch.setattr(StartuneApp, "run", lambda self, *a, **kw: opened.append(self))
    assert CliRunner().invoke(cli, []).exit_code == 0
    result = CliRunner().invoke(cli, ["tui", str(sample_csv)])
    assert result.exit_code == 0, result.output
    assert opened[0].initial_dataset is None
    assert opened[1].initial_dataset == sample_csv
    assert opened[1].session.choice.kind == "local"  # no API key: the local backend


async def test_pick_a_file_from_the_tree_or_by_completion(tmp_path, monkeypatch, sample_csv, demo_registry, local_choice):
    import shutil

    from textual.widgets import DirectoryTree

    from tui.widgets.path_input import PathInput, PathSuggester

    (tmp_path / "data").mkdir()
    shutil.copy(sample_csv, tmp_path / "data" / "reviews.csv")
    monkeypatch.chdir(tmp_path)
    assert await PathSuggester().get_suggestion("da") == "data/"
    assert await PathSuggester().get_suggestion("data/re") == "data/reviews.csv"

    app = create_app(registry=demo_registry, backend=local_choice)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("n")  # new run starts at the Dataset screen
        assert isinstance(app.screen, DatasetScreen)
        await pilot.press(*"data/re", "right")  # right arrow accepts the completion
        assert app.screen.query_one(PathInput).value == "data/reviews.csv"
        await pilot.press("ctrl+u")
        await pilot.press("ctrl+t")  # the tree, keyboard only
        tree = app.screen.query_one(DirectoryTree)
        assert tree.display and tree.has_focus
        await wait_until(pilot, lambda: tree.last_line >= 1)
        await pilot.press("down", "enter")  # open data/
        await wait_until(pilot, lambda: tree.last_line >= 2)
        await pilot.press("down", "enter")  # choose reviews.csv
        await wait_until(pilot, lambda: app.dataset is not None and "usable" in _text(app, "#dataset-summary"))
        assert app.dataset.source.endswith("reviews.csv")
        assert not tree.display
