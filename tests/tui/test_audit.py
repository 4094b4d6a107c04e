"""The Audit screen: flagged reviews a page at a time, decisions saved beside the dataset at each key,
there again after closing and reopening the app, and applied by the Build screen."""

from __future__ import annotations

import orjson
from textual.widgets import DataTable, Input

from core.data.corrections import Corrections
from tests.tui.test_screens import _text, wait_until
from tui.app import create_app
from tui.screens.audit import AuditScreen
from tui.screens.build import BuildScreen


def _loaded(app) -> bool:
    return app.dataset is not None and "usable" in _text(app, "#dataset-summary")


async def _open_audit(app, pilot) -> AuditScreen:
    await wait_until(pilot, lambda: _loaded(app))
    await pilot.press("ctrl+r")
    await wait_until(pilot, lambda: isinstance(app.screen, AuditScreen) and app.screen.report is not None, 120)
    await pilot.pause()
    return app.screen


async def test_decisions_survive_closing_and_reopening_and_the_build_applies_them(
        threads_csv, tmp_path, demo_registry, local_choice):
    import pandas as pd

    data = tmp_path / "reviews.csv"   # 3,000 real reviews: their stars are noisy enough to flag a few pages
    pd.read_csv(threads_csv, dtype=str, keep_default_na=False).head(3000).to_csv(data, index=False)
    original = data.read_bytes()
    saved = tmp_path / "reviews.csv.startune-corrections.json"
    app = create_app(dataset=data, registry=demo_registry, backend=local_choice, cursor_blink=False)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _open_audit(app, pilot)
        table = screen.query_one("#audit-table", DataTable)
        report = screen.report
        assert report.flagged > table.row_count >= 5   # a page that fits the 80x24 terminal
        first_page = [issue.row for issue in report.issues[:table.row_count]]
        await pilot.press("a", "d", "k")                # accept, drop, keep: the cursor moves on each time
        assert table.cursor_row == 3
        summary = _text(app, "#audit-summary")
        assert "decided 1 relabel · 1 keep · 1 drop" in summary and f"in {saved.name}" in summary
        assert orjson.loads(saved.read_bytes())["decisions"]   # saved at once, not at exit
        await pilot.press("pagedown")
        assert screen.first == table.row_count and screen._current().row == report.issues[table.row_count].row
        await pilot.press("u")                           # undo of an undecided row: nothing changes
        await pilot.press("t")
        assert table.ordered_columns[0].label.plain == "labels (rows)" and table.row_count
    assert data.read_bytes() == original  # the user's file is never edited

    accepted, dropped, kept = report.issues[0], report.issues[1], report.issues[2]
    decisions = Corrections.load(saved).decisions
    assert {r: d.action for r, d in decisions.items()} == {accepted.row: "relabel", dropped.row: "drop",
                                                           kept.row: "keep"}
    assert decisions[accepted.row].label == accepted.suggested

    app = create_app(dataset=data, registry=demo_registry, backend=local_choice, cursor_blink=False)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _open_audit(app, pilot)
        table = screen.query_one("#audit-table", DataTable)
        assert [issue.row for issue in screen.report.issues[:table.row_count]] == first_page
        assert [table.get_cell_at((i, 4)) for i in range(3)] == [f"→ {accepted.suggested}", "drop", "keep"]
        assert "decided 1 relabel · 1 keep · 1 drop" in _text(app, "#audit-summary")

        await pilot.press("ctrl+b")
        await wait_until(pilot, lambda: isinstance(app.screen, BuildScreen))
        out = tmp_path / "build"
        app.screen.query_one("#out", Input).value = str(out)
        await pilot.press("ctrl+b")
        await wait_until(pilot, lambda: "Built" in _text(app, "#build-status"), 120)
        assert "audit decisions applied: 1 relabelled, 1 dropped" in _text(app, "#build-status")
    manifest = orjson.loads((out / "manifest.json").read_bytes())
    assert manifest["corrections"]["relabelled"] == [accepted.row]
    assert manifest["corrections"]["dropped"] == [dropped.row]
    assert manifest["corrections"]["kept"] == [kept.row]
    rows = {}
    for name in ("train", "val", "test"):
        for line in (out / f"{name}.jsonl").read_bytes().splitlines():
            record = orjson.loads(line)
            rows[record["messages"][-2]["content"]] = record["messages"][-1]["content"]
    assert rows[accepted.text] == accepted.suggested
    assert dropped.text not in rows


async def test_audit_of_a_dataset_too_small_says_why(tmp_path, demo_registry, local_choice):
    data = tmp_path / "tiny.csv"
    data.write_text("review,star\n" + "".join(f"review number {i},{1 + i % 5}\n" for i in range(20)))
    app = create_app(dataset=data, registry=demo_registry, backend=local_choice, cursor_blink=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: _loaded(app))
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: "too few usable rows" in _text(app, "#audit-summary"), 60)
        await pilot.press("a", "pagedown", "t")   # no report: the keys do nothing, and nothing breaks
        assert isinstance(app.screen, AuditScreen)
