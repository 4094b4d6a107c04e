"""Every screen at 60x20 and 80x24: f1 Help in the footer, no column, value or chart title cut where a user
would read it as something else; and the copy dialog, the split column, stop and validation fields (issue 25,
items 16 and 17)."""

from __future__ import annotations

import pytest
from rich.cells import cell_len
from rich.text import Text
from textual.widgets import DataTable, Input, Select, Switch
from textual.widgets._footer import FooterKey

from tests.tui.conftest import CLOCK
from tests.tui.test_screens import _text, wait_until
from tui.app import create_app
from tui.screens.build import BuildScreen
from tui.screens.compare import CompareScreen
from tui.screens.copy import CopyScreen
from tui.screens.dataset import DatasetScreen
from tui.screens.launch import LaunchScreen
from tui.screens.monitor import MonitorScreen
from tui.screens.results import ResultsScreen
from tui.screens.runs import COLUMNS, RunsScreen, fitting_columns
from tui.widgets.charts import SeriesChart
from tui.widgets.footer import AppFooter

SIZES = [(60, 20), (80, 24)]


def _footer_keys(app) -> dict[str, FooterKey]:
    return {key.action: key for key in app.screen.query_one(AppFooter).query(FooterKey)}


async def _assert_fits(pilot, width: int) -> None:
    """What a user reads on the screen in hand is whole at this width."""
    app = pilot.app
    await wait_until(pilot, lambda: _footer_keys(app))   # the footer composes once the screen's keys are known
    await pilot.pause(0.2)
    keys = _footer_keys(app)
    assert "help" in keys, f"{type(app.screen).__name__} at {width}: no f1 Help in {list(keys)}"
    help_key = keys["help"]
    assert help_key.region.right <= width, f"{type(app.screen).__name__}: f1 Help drawn past the edge"
    for select in app.screen.query(Select):
        if not select.display or not all(node.display for node in select.ancestors if hasattr(node, "display")):
            continue
        label = select.selection if select.selection is not None else None
        shown = next((str(text) for text, value in select._options if value == label), None)  # noqa: SLF001
        if shown is not None and select.region.width:
            # the value, a space and the arrow, within the control
            assert cell_len(shown) + 2 <= select.region.width or select.region.width >= 24, (
                f"#{select.id} shows {shown!r} in {select.region.width} cells")
    for chart in app.screen.query(SeriesChart):
        if chart.region.width:
            title = Text.from_markup(str(chart.border_title))
            assert title.cell_len <= chart.region.width - 2, f"#{chart.id}'s title {title.plain!r} is cut"
    for table in app.screen.query(DataTable):
        if table.display and table.id == "runs-table":
            assert table.virtual_size.width <= table.region.width, "a Runs column is cut at the edge"


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
async def test_every_screen_keeps_help_and_whole_values_at_small_sizes(size, sample_csv, demo_registry,
                                                                      local_choice):
    app = create_app(dataset=sample_csv, registry=demo_registry, backend=local_choice, clock=lambda: CLOCK,
                     cursor_blink=False)
    width = size[0]
    async with app.run_test(size=size) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, DatasetScreen) and app.dataset is not None, 60)
        await pilot.pause(0.3)
        column = app.screen.query_one("#text-column", Select)
        assert column.region.width >= cell_len("review") + 3, "the text column's name was cut to 'revie'"
        await _assert_fits(pilot, width)
        await pilot.press("ctrl+b")
        await wait_until(pilot, lambda: isinstance(app.screen, BuildScreen))
        await pilot.pause(0.3)
        await _assert_fits(pilot, width)
        app.action_open_launch()
        await wait_until(pilot, lambda: isinstance(app.screen, LaunchScreen))
        await pilot.pause(0.3)
        await _assert_fits(pilot, width)
        app.action_open_runs()
        await wait_until(pilot, lambda: isinstance(app.screen, RunsScreen) and app.screen.rows)
        await pilot.pause(0.3)
        await _assert_fits(pilot, width)
        run = app.screen.rows[0]
        app.push_screen(MonitorScreen(run["id"]))
        await pilot.pause(0.5)
        await _assert_fits(pilot, width)
        app.push_screen(ResultsScreen(run["id"]))
        await wait_until(pilot, lambda: "steps" in _text(app, "#results-summary"))
        await pilot.pause(0.5)
        await _assert_fits(pilot, width)
        app.push_screen(CompareScreen([r["id"] for r in demo_registry.list_runs()]))
        await pilot.pause(0.5)
        await _assert_fits(pilot, width)


def test_the_runs_columns_that_do_not_fit_are_left_out_whole_most_wanted_kept():
    row = (" ", "1-epoch shuffled", "succeeded", "0.633", "0.633", "80.0%", "free", "-", "startune-local", "local",
           "sample_reviews.csv")
    shown = [COLUMNS[i] for i in fitting_columns([row], 60)]
    assert shown[:3] == ["", "run", "status"] and "test acc" in shown
    assert "stops serving" not in shown   # every run's is "-": a column of dashes says nothing
    wide = [COLUMNS[i] for i in fitting_columns([row], 200)]
    assert wide == [c for c in COLUMNS if c != "stops serving"]
    paid = row[:7] + ("2027-01-14 (41d left)",) + row[8:]
    assert "stops serving" in [COLUMNS[i] for i in fitting_columns([paid], 80)]


async def test_a_model_name_like_markup_or_an_emoji_code_is_shown_and_copied_as_it_is(demo_registry, local_choice):
    """Item 4 in the app: a suffix ':ok:' or '[bold]' is the user's text, not rich markup."""
    run = demo_registry.list_runs()[0]
    name = "ft:startune-local:local:[bold]x:ok:1"
    demo_registry.update_run(run["id"], job=dict(run["job"], fine_tuned_model=name))
    app = create_app(registry=demo_registry, backend=local_choice, clock=lambda: CLOCK, cursor_blink=False)
    async with app.run_test(size=(80, 24)) as pilot:
        app.push_screen(ResultsScreen(run["id"]))
        await wait_until(pilot, lambda: "steps" in _text(app, "#results-summary"))
        assert name in _text(app, "#results-summary").replace("\n", "")
        await pilot.press("y")
        await wait_until(pilot, lambda: isinstance(app.screen, CopyScreen))
        await pilot.press("enter")   # the first entry: the fine-tuned model
        await wait_until(pilot, lambda: not isinstance(app.screen, CopyScreen))
        assert app.clipboard == name
        assert any(name in str(n.message) for n in app._notifications)  # noqa: SLF001


async def test_y_copies_the_job_id_whole_from_runs(demo_registry, local_choice):
    app = create_app(registry=demo_registry, backend=local_choice, clock=lambda: CLOCK, cursor_blink=False)
    async with app.run_test(size=(60, 20)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, RunsScreen) and app.screen.rows)
        newest = app.screen.rows[0]
        await pilot.press("y")
        await wait_until(pilot, lambda: isinstance(app.screen, CopyScreen))
        options = [what for what, _ in app.screen.handles]
        assert options[:2] == ["fine-tuned model", "job id"] and "build folder" in options
        await pilot.press("down", "enter")
        await wait_until(pilot, lambda: not isinstance(app.screen, CopyScreen))
        assert app.clipboard == newest["job_id"]
        await pilot.press("y", "escape")   # closes without copying anything
        await pilot.pause()
        assert isinstance(app.screen, RunsScreen) and app.clipboard == newest["job_id"]


@pytest.fixture
def split_csv(tmp_path):
    rows = ["review,star,part"]
    parts = ["train"] * 5 + ["val"] * 3 + ["test"] * 2   # not the default fractions' 6:2:2
    for i in range(60):
        rows.append(f"review number {i} says {'good' if i % 2 else 'bad'} things,{1 + i % 5},{parts[i % 10]}")
    path = tmp_path / "parts.csv"
    path.write_text("\n".join(rows) + "\n")
    return path


async def test_the_build_screen_splits_by_a_column_and_ends_completions_with_a_stop(split_csv, tmp_path,
                                                                                   demo_registry, local_choice):
    import orjson

    app = create_app(dataset=split_csv, registry=demo_registry, backend=local_choice, cursor_blink=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: app.dataset is not None, 60)
        await pilot.press("ctrl+b")
        await wait_until(pilot, lambda: isinstance(app.screen, BuildScreen))
        screen = app.screen
        assert not screen.query_one("#field-stop").display   # chat records have no stop
        screen.query_one("#split-column", Select).value = "part"
        await wait_until(pilot, lambda: "train 30" in _text(app, "#preview-summary"))
        assert "ignored" in _text(app, "#field-fractions .field-note")
        screen.query_one("#format", Select).value = "completion"
        await pilot.pause()
        assert screen.query_one("#field-stop").display
        stop = screen.query_one("#stop", Input)
        stop.value = "\\"   # an unfinished escape: said under the field, and the build refused
        await pilot.pause()
        assert "escape" in _text(app, "#field-stop .field-note")
        stop.value = " END"
        screen.query_one("#out", Input).value = str(tmp_path / "built")
        await pilot.pause(0.5)
        await pilot.press("ctrl+b")
        await wait_until(pilot, lambda: "Built" in _text(app, "#build-status"), 120)
    manifest = orjson.loads((tmp_path / "built" / "manifest.json").read_bytes())
    assert {k: v["examples"] for k, v in manifest["splits"].items()} == {"train": 30, "val": 18, "test": 12}
    first = orjson.loads((tmp_path / "built" / "train.jsonl").read_bytes().splitlines()[0])
    assert first["completion"].endswith(" END")


async def test_the_launch_screen_can_leave_the_validation_file_out(sample_csv, tmp_path, local_choice):
    from core.data.pipeline import PrepareOptions, prepare
    from core.data.load import load_dataset
    from core.registry.db import Registry

    registry = Registry(tmp_path / "r.sqlite3")
    build = prepare(load_dataset(sample_csv), tmp_path / "b", PrepareOptions(samples={"train": 30, "val": 10,
                                                                                       "test": 10})).out_dir
    app = create_app(registry=registry, backend=local_choice, cursor_blink=False)
    async with app.run_test(size=(80, 24)) as pilot:
        app.push_screen(LaunchScreen(build))
        await wait_until(pilot, lambda: isinstance(app.screen, LaunchScreen))
        await pilot.pause(0.3)
        switch = app.screen.query_one("#validation", Switch)
        assert switch.value   # on by default, as `launch` without --no-validation
        switch.value = False
        await pilot.press("ctrl+l")
        await wait_until(pilot, lambda: app.screen.__class__.__name__ == "ConfirmScreen", 120)
        await pilot.press("y")
        await wait_until(pilot, lambda: registry.list_runs(), 60)
    job = registry.list_runs()[0]["job"]
    assert job.get("training_file") and job.get("validation_file") is None
