"""The first hour, again (issue 25): each crash and hang a new user met, reproduced in the app."""

from __future__ import annotations

import pytest
from textual.widgets import Input

from tests.tui.test_screens import _text, wait_until
from tui.app import create_app
from tui.screens.dataset import DatasetScreen


def _notes(app) -> str:
    return " ".join(str(n.message) for n in app._notifications)


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


def _partial_evaluation(registry, run_id: str, model: str) -> None:
    registry.add_evaluation(model=model, data="out/build/test.jsonl", data_sha="x", options={"limit": 50},
                            run_id=run_id, report={
                                "n": 50, "accuracy": 0.42, "macro_f1": 0.3, "mae": 0.9, "within_one": 0.7,
                                "unparseable": 0, "confusion": {"labels": ["1", "2"], "columns": ["1", "2", "unparseable"],
                                                                "matrix": [[7, 3, 0], [2, 38, 0]]}})


async def test_a_partial_evaluation_is_labelled_and_never_replaces_the_full_one(demo_registry, local_choice):
    """Was: `evaluate --limit 50` became the run's test acc and its Results showed the 50-example matrix."""
    from core.jobs.summaries import run_summaries
    from tui.screens.results import ResultsScreen

    run = next(r for r in demo_registry.list_runs() if r["name"] == "1-epoch shuffled")
    _partial_evaluation(demo_registry, run["id"], run["fine_tuned_model"])
    summary = next(s for s in run_summaries(demo_registry) if s.run["id"] == run["id"])
    assert summary.test_accuracy == pytest.approx(0.8) and summary.test_partial is None
    app = create_app(registry=demo_registry, backend=local_choice)
    async with app.run_test(size=(120, 40)) as pilot:
        app.push_screen(ResultsScreen(run["id"]))
        await wait_until(pilot, lambda: "evaluations" in _text(app, "#evaluation"))
        shown = _text(app, "#evaluation")
        assert "partial: first 50 examples" in shown and shown.index("80.0%") < shown.index("42.0%")
        assert "90" in _text(app, "#confusion")  # the full evaluation's matrix (its first cell)


async def test_a_run_with_only_a_partial_evaluation_says_so_in_runs(tmp_path, local_choice):
    from core.jobs.summaries import run_summaries
    from core.registry.db import Registry
    from tui.formatting import fmt_test_accuracy

    registry = Registry(tmp_path / "r.sqlite3")
    job = {"id": "ftjob-p", "model": "startune-local", "status": "succeeded", "fine_tuned_model": "ft:x:p",
           "hyperparameters": {}, "created_at": 1}
    run_id = registry.add_run(backend="local", job=job, name="p", dataset="d.csv", build_dir="b", config={})
    _partial_evaluation(registry, run_id, "ft:x:p")
    summary = run_summaries(registry)[0]
    assert summary.test_partial == 50
    assert fmt_test_accuracy(summary.test_accuracy, summary.test_partial) == "42.0% (50 only)"


async def test_a_cancelled_run_says_it_has_nothing_to_evaluate(tmp_path, local_choice):
    """Was: "no result file (yet)" and `e` offered, which then refused."""
    from core.registry.db import Registry
    from tui.screens.results import ResultsScreen

    registry = Registry(tmp_path / "r.sqlite3")
    job = {"id": "ftjob-c", "model": "startune-local", "status": "cancelled", "fine_tuned_model": None,
           "hyperparameters": {}, "created_at": 1}
    run_id = registry.add_run(backend="local", job=job, name="stopped", dataset="d.csv", build_dir="b", config={})
    app = create_app(registry=registry, backend=local_choice)
    async with app.run_test(size=(80, 24)) as pilot:
        app.push_screen(ResultsScreen(run_id))
        await wait_until(pilot, lambda: "cancelled" in _text(app, "#results-summary"))
        assert "no model to evaluate" in _text(app, "#results-summary")
        assert "(yet)" not in _text(app, "#results-summary")
        assert "Nothing to evaluate" in _text(app, "#evaluation")
        assert app.screen.check_action("evaluate", ()) is None


async def test_launch_preselects_the_build_of_the_dataset_in_hand_or_none(sample_csv, tmp_path, local_choice):
    """Was: ctrl+l on Build (nothing built) preselected the newest build, which was another dataset's."""
    from textual.widgets import Select

    from core.data.load import load_dataset
    from core.data.pipeline import PrepareOptions, prepare
    from core.registry.db import Registry
    from tui.screens.launch import LaunchScreen

    registry = Registry(tmp_path / "r.sqlite3")
    built = prepare(sample_csv, tmp_path / "sample-build", PrepareOptions(samples={"train": 40, "val": 10, "test": 10}))
    registry.add_build(built.out_dir, built.manifest)
    other = tmp_path / "other.csv"
    other.write_text("review,star\n" + "".join(f"text number {i},{1 + i % 5}\n" for i in range(30)))
    app = create_app(registry=registry, backend=local_choice)
    async with app.run_test(size=(80, 24)) as pilot:
        app.dataset = load_dataset(other)
        app.push_screen(LaunchScreen(None))
        await pilot.pause()
        assert app.screen.query_one("#build", Select).value is Select.NULL
        app.screen.action_launch()
        await pilot.pause()
        assert "Choose a build" in _text(app, "#launch-error")
        app.pop_screen()
        app.dataset = load_dataset(sample_csv)
        app.push_screen(LaunchScreen(None))
        await pilot.pause()
        assert app.screen.query_one("#build", Select).value == str(built.out_dir)


@pytest.mark.parametrize(("done", "total"), [(572, 1040), (7725, 25000)])
def test_time_left_from_whole_second_bursts_is_not_zero(done, total):
    """Was: "about 0m00s left" at 572/1,040: event times are whole seconds and steps arrive in bursts."""
    from core.jobs.series import MetricSeries

    series = MetricSeries()
    for step in range(1, done + 1):  # 25 steps a second, all stamped with the same second
        series.add({"type": "metrics", "created_at": 1000 + step // 25, "data": {"step": step, "total_steps": total}})
    now = 1000 + done // 25
    assert series.seconds_left(now) == pytest.approx((total - done) / 25, rel=0.1)


async def test_compare_says_when_the_test_sets_differ(demo_registry, local_choice):
    """Was: runs scored on 477 and 331 test examples side by side with no note."""
    from tui.screens.compare import CompareScreen

    runs = demo_registry.list_runs()
    app = create_app(registry=demo_registry, backend=local_choice)
    async with app.run_test(size=(120, 40)) as pilot:
        app.push_screen(CompareScreen([r["id"] for r in runs]))
        await pilot.pause()
        assert "test sets differ" not in _text(app, "#compare-table")  # same test set: no note
        app.pop_screen()
        demo_registry.add_evaluation(model=runs[0]["fine_tuned_model"], data="other/test.jsonl", data_sha="y",
                                     options={}, run_id=runs[0]["id"], report={"n": 331, "accuracy": 0.5})
        app.push_screen(CompareScreen([r["id"] for r in runs]))
        await pilot.pause()
        shown = _text(app, "#compare-table")
        assert "test sets differ" in shown and "331" in shown and "477" in shown


@pytest.mark.parametrize("value", ["-1", "99999999999999999999999"], ids=["negative", "huge"])
async def test_the_build_seed_field_refuses_under_the_field(sample_csv, demo_registry, local_choice, tmp_path, value):
    """Was: "unexpected TypeError: Integer exceeds 64-bit range" after ctrl+b (the rule: core/seed.py)."""
    from core.data.load import load_dataset
    from tests.tui.test_first_hour import field_note

    app = create_app(registry=demo_registry, backend=local_choice)
    async with app.run_test(size=(80, 24)) as pilot:
        app.dataset = load_dataset(sample_csv)
        app.action_open_build()
        await pilot.pause()
        app.screen.query_one("#out", Input).value = str(tmp_path / "out")
        app.screen.query_one("#seed", Input).value = value
        await pilot.press("ctrl+b")
        await pilot.pause()
        assert field_note(app, "seed"), "no reason under the seed field"
        assert "unexpected" not in _notes(app) and not (tmp_path / "out").exists()


async def test_quitting_mid_job_says_training_pauses_and_asks(tmp_path):
    """Was: ctrl+q during a training job quit at once, without a word."""
    from pathlib import Path

    from core.data.pipeline import PrepareOptions, prepare
    from core.jobs.backends import BackendChoice
    from core.registry.db import Registry
    from tests.tui.test_behaviour import launch_in
    from tui.screens.confirm import ConfirmScreen
    sample = Path(__file__).resolve().parents[2] / "assets" / "sample_reviews.csv"
    build = prepare(sample, tmp_path / "b", PrepareOptions(samples={"train": 60, "val": 20, "test": 20})).out_dir
    app = create_app(registry=Registry(tmp_path / "r.sqlite3"), backend=BackendChoice("local"),
                     local_dir=tmp_path / "backend", local_options={"pace": 0.5})
    async with app.run_test(size=(80, 24)) as pilot:
        _, job_id = await launch_in(app, build, n_epochs=5, suffix="q")
        app.follow("local", job_id)
        state = app.session.job("local", job_id)
        await wait_until(pilot, lambda: state.following and state.job.get("status") not in (None, "succeeded"))
        await pilot.press("ctrl+q")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen) and app.is_running
        assert "pauses while startune is closed" in str(app.screen.question)
        await pilot.press("n")
        assert app.is_running


async def test_compare_draws_runs_of_other_lengths_against_epochs(demo_registry, local_choice):
    """Was: 1,040 steps plotted beside 25,000 on one step axis. `x` puts every run on its epochs."""
    from tui.screens.compare import CompareScreen
    from tui.widgets.charts import SeriesChart

    runs = demo_registry.list_runs()
    app = create_app(registry=demo_registry, backend=local_choice)
    async with app.run_test(size=(80, 24)) as pilot:
        app.push_screen(CompareScreen([r["id"] for r in runs]))
        await pilot.pause()
        chart = app.screen.query_one("#compare-loss", SeriesChart)
        by_step = {name: xs[-1] for name, (xs, _) in chart.lines.items()}
        await pilot.press("x")
        await pilot.pause()
        by_epoch = {name: xs[-1] for name, (xs, _) in chart.lines.items()}
        assert chart.title == "valid loss by epoch" and set(by_epoch) == set(by_step)
        epochs = {r["name"]: r["job"]["hyperparameters"]["n_epochs"] for r in runs}
        for name, last in by_epoch.items():   # each run's last point sits at its own last epoch
            assert last == pytest.approx(epochs[name], abs=0.25), (name, last, by_step[name])
        await pilot.press("x")
        await pilot.pause()
        assert {name: xs[-1] for name, (xs, _) in chart.lines.items()} == by_step and chart.title == "valid loss"


async def test_launch_marks_a_model_that_cannot_train_here_and_refuses_it(sample_csv, tmp_path, local_choice,
                                                                          monkeypatch):
    """Was: minilm-l6 without torch was offered like any other and failed after confirming and uploading."""
    from textual.widgets import Select

    from core.backend import training
    from core.data.load import load_dataset
    from core.data.pipeline import PrepareOptions, prepare
    from core.registry.db import Registry
    from tui.screens.launch import LaunchScreen

    real = training.installed
    monkeypatch.setattr(training, "installed", lambda name: name != "torch" and real(name))
    registry = Registry(tmp_path / "r.sqlite3")
    built = prepare(sample_csv, tmp_path / "build", PrepareOptions(samples={"train": 40, "val": 10, "test": 10}))
    registry.add_build(built.out_dir, built.manifest)
    app = create_app(registry=registry, backend=local_choice)
    async with app.run_test(size=(80, 24)) as pilot:
        app.dataset = load_dataset(sample_csv)
        app.push_screen(LaunchScreen(None))
        await pilot.pause()
        select = app.screen.query_one("#model", Select)
        await wait_until(pilot, lambda: "minilm-l6" in [v for _, v in select._options])  # noqa: SLF001
        labels = {v: str(p) for p, v in select._options}  # noqa: SLF001
        assert labels["minilm-l6"] == "minilm-l6 (not installed)"
        assert "(not installed)" not in labels[local_choice.default_model]
        select.value = "minilm-l6"
        await pilot.pause()
        assert "pip install 'startune[transformers]'" in str(app.screen.query_one("#field-model .field-note").render())
        app.screen.action_launch()
        await pilot.pause()
        assert "pip install 'startune[transformers]'" in _text(app, "#launch-error")
        assert app.is_running and isinstance(app.screen, LaunchScreen)
        assert registry.find_uploads(local_choice.key, built.manifest["splits"]["train"]["sha256"]) == []


async def test_escape_closes_the_file_tree_before_leaving_the_dataset_screen(demo_registry, local_choice):
    """Was: escape with the tree open went back to Runs, the tree still open there on return."""
    app = create_app(registry=demo_registry, backend=local_choice)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("n")
        screen = app.screen
        await pilot.press("ctrl+t")
        await pilot.pause()
        assert screen.query_one("#tree").display
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is screen and not screen.query_one("#tree").display
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is not screen


async def test_home_and_end_in_the_table_go_to_the_first_and_last_row(sample_csv, demo_registry, local_choice):
    """Was: home/end did nothing visible (the table's own keys scroll sideways within one page)."""
    app = create_app(registry=demo_registry, backend=local_choice)
    async with app.run_test(size=(80, 24)) as pilot:
        await _open_dataset(pilot, str(sample_csv))
        await wait_until(pilot, lambda: "usable" in _text(app, "#dataset-summary"), timeout=120)
        screen = app.screen
        screen.query_one("#preview").focus()
        await pilot.press("end")
        await pilot.pause()
        table = screen.query_one("#preview")
        assert screen.first_row + table.cursor_row == screen.pager.rows - 1
        await pilot.press("home")
        await pilot.pause()
        assert screen.first_row == 0 and table.cursor_row == 0


async def test_each_screen_names_itself_in_the_header(demo_registry, local_choice):
    """Was: every header said "reviews to fine-tuned model", whichever screen was open."""
    from textual.widgets._header import HeaderTitle

    app = create_app(registry=demo_registry, backend=local_choice)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert "startune — Runs" in str(app.screen.query_one(HeaderTitle).render())
        await pilot.press("n")
        await pilot.pause()
        assert "startune — Dataset" in str(app.screen.query_one(HeaderTitle).render())
