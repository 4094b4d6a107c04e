"""Every text field of every screen, typed with what a careless or hostile user types: nothing, a lone
"-", a number past any range, non-ASCII, 5,000 characters. The fields are found in the DOM, so one
added later is typed into too. After each value the screen's own action runs (build, launch, load,
export, re-run): the app must not crash, nothing may hang, and a value the screen does not take must
be answered where the user looks (a note under the field, a notification or the screen's status)."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Input, Select, Static

from tests.tui.conftest import CLOCK
from tests.tui.test_screens import wait_until
from tui.app import create_app
from tui.screens.confirm import ConfirmScreen

VALUES = ["", "-", "99999999999999999999999", "ünïcødé ★ レビュー", "x" * 5000]


def _inputs(screen) -> list[Input]:
    """The screen's text fields a user can reach now (shown and enabled)."""
    return [w for w in screen.query(Input)
            if not w.disabled and all(node.display for node in (w, *w.ancestors) if node is not screen)]


def _said(app, screen) -> str:
    """Everything the app says to the user right now: field notes, status lines, notifications."""
    notes = [str(w.content) for w in screen.query(".field-note") if isinstance(w, Static) and w.display]
    statuses = [str(w.content) for w in screen.query(Static)
                if isinstance(w, Static) and w.id and w.id.endswith(("error", "status", "summary"))]
    return " ".join(notes + statuses + [str(n.message) for n in app._notifications])  # noqa: SLF001


def _busy(screen) -> bool:
    """A worker of the screen's own still runs (a file tree's loader inside it runs for good)."""
    return any(w.is_running and w.node is screen for w in screen.app.workers)


async def _type_each(pilot, screen, act, settle, reopen=None, only=None) -> list[str]:
    """For every field and value: type it, act, let the screen settle; returns what each step said. A
    screen the action went past is come back to (escape), a dialog it closed is opened again (``reopen``)."""
    heard = []
    for widget_id in [w.id for w in _inputs(screen) if only is None or w.id in only]:
        before = screen.query_one(f"#{widget_id}", Input).value
        for value in VALUES:
            pilot.app.clear_notifications()
            field = screen.query_one(f"#{widget_id}", Input)
            field.value = value
            field.focus()
            await pilot.pause()
            await act()
            await settle(screen)
            assert pilot.app.is_running, (widget_id, value[:40])
            if screen not in pilot.app.screen_stack:     # a dialog that did its work and closed
                assert reopen is not None, (widget_id, value[:40], pilot.app.screen)
                screen = await reopen()
            elif pilot.app.screen is not screen:        # the action went on (a confirmation): step back
                while pilot.app.screen is not screen:
                    await pilot.press("escape")
                    await pilot.pause()
            else:
                heard.append(f"{widget_id}={value[:20]!r}: {_said(pilot.app, screen)[:200]}")
        screen.query_one(f"#{widget_id}", Input).value = before
        await pilot.pause()
    return heard


async def test_every_field_of_dataset_build_and_launch_takes_any_value_without_a_crash(sample_csv, demo_registry,
                                                                                        local_choice, tmp_path,
                                                                                        monkeypatch):
    from tui.screens.build import BuildScreen
    from tui.screens.dataset import DatasetScreen
    from tui.screens.launch import LaunchScreen

    monkeypatch.chdir(tmp_path)
    app = create_app(registry=demo_registry, backend=local_choice, clock=lambda: CLOCK)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("n")
        dataset = app.screen
        assert isinstance(dataset, DatasetScreen)
        dataset.query_one("#path", Input).value = str(sample_csv)   # a dataset in hand: every field acts on it
        dataset.query_one("#path", Input).focus()
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.dataset is not None and "usable" in _said(app, dataset))
        await pilot.press("ctrl+g")           # the go-to-row field, shown on demand
        await pilot.pause()

        async def load() -> None:
            await pilot.press("enter")

        async def loaded(_) -> None:
            await wait_until(pilot, lambda: "Loading" not in _said(app, dataset), timeout=60)

        heard = await _type_each(pilot, dataset, load, loaded)
        assert len(heard) >= 2 * len(VALUES), heard      # the path and the labels at least
        assert all(h.split(": ", 1)[1] for h in heard if h.startswith("path=")), heard   # each path answered

        dataset.query_one("#path", Input).value = str(sample_csv)
        dataset.query_one("#path", Input).focus()
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.dataset is not None and "usable" in _said(app, dataset))
        await pilot.press("ctrl+b")
        build = app.screen
        assert isinstance(build, BuildScreen)
        build.query_one("#out", Input).value = str(tmp_path / "out")

        async def press_build() -> None:
            await pilot.press("ctrl+b")

        async def built(_) -> None:
            await pilot.pause(0.2)
            await wait_until(pilot, lambda: not _busy(build), timeout=60)

        heard = await _type_each(pilot, build, press_build, built)
        refused = [h for h in heard if "'-'" in h or "'9999" in h]
        assert refused and all(h.split(": ", 1)[1].strip() for h in refused if not h.startswith(("system=",))), refused

        # the fields only the completion format shows: its separator and stop
        build.query_one("#format", Select).value = "completion"
        await pilot.pause()
        heard = await _type_each(pilot, build, press_build, built, only=("separator", "stop"))
        assert {h.split("=", 1)[0] for h in heard} == {"separator", "stop"}, heard
        build.query_one("#format", Select).value = "chat"
        await pilot.pause()

        build.query_one("#out", Input).value = str(tmp_path / "good")
        await pilot.press("ctrl+b")
        await wait_until(pilot, lambda: (tmp_path / "good" / "manifest.json").is_file(), timeout=60)
        await pilot.press("ctrl+l")
        await wait_until(pilot, lambda: isinstance(app.screen, LaunchScreen))
        launch = app.screen

        async def press_launch() -> None:
            await pilot.press("ctrl+l")

        async def priced(_) -> None:
            await pilot.pause(0.2)
            await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen) or not _busy(launch), timeout=60)

        heard = await _type_each(pilot, launch, press_launch, priced)
        numbers = [h for h in heard if h.startswith(("epochs=", "batch=", "lr=", "max-length="))
                   and ("'-'" in h or "'9999" in h or "'xxxx" in h)]
        assert numbers and all("auto, or" in h for h in numbers), numbers   # the rule, where it was typed
        assert app.session.registry.list_runs() == demo_registry.list_runs()   # no job started by any of it


@pytest.mark.parametrize("kind", ["export", "rerun"])
async def test_every_field_of_the_run_dialogs_takes_any_value_without_a_crash(demo_registry, local_choice, tmp_path,
                                                                              monkeypatch, kind):
    from tui.screens.export import ExportScreen
    from tui.screens.rerun import RerunScreen

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)   # a re-run elsewhere is refused, never sent
    app = create_app(registry=demo_registry, backend=local_choice, clock=lambda: CLOCK)
    async with app.run_test(size=(80, 24)) as pilot:
        run = demo_registry.list_runs()[0]

        async def reopen():
            dialog = (ExportScreen if kind == "export" else RerunScreen)(run)
            app.push_screen(dialog)
            await pilot.pause()
            return dialog

        screen = await reopen()

        async def submit() -> None:
            await pilot.press("enter")

        async def answered(dialog) -> None:
            await pilot.pause(0.2)
            await wait_until(pilot, lambda: app.screen is not dialog or not _busy(dialog), timeout=60)

        heard = await _type_each(pilot, screen, submit, answered, reopen)
        assert heard and all(h.split(": ", 1)[1].strip() for h in heard), heard   # every refusal said in the dialog
    assert not any(Path(tmp_path).glob("x" * 200 + "*"))   # nothing made of a 5,000-character name
