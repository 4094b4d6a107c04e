"""Launch: backend, model and hyperparameters; a confirmation with the cost estimate and budget."""

from __future__ import annotations

from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from tui.screens.base import AppScreen
from textual.widgets import Button, Footer, Header, Input, Select, Static

from tui.widgets.form import field

BACKENDS = [("local (this machine)", "local"), ("OpenAI", "openai"), ("Azure OpenAI", "azure"),
            ("compatible base URL", "compatible")]


class LaunchScreen(AppScreen):
    BINDINGS = [Binding("ctrl+l", "launch", "Launch")]

    def __init__(self, build_dir: Path) -> None:
        super().__init__()
        self.build_dir = build_dir

    def compose(self) -> ComposeResult:
        choice = self.app.session.choice
        yield Header()
        with VerticalScroll(id="launch-form"):
            yield Static(f"Build: {self.build_dir}", classes="status-line")
            yield field("backend", Select(BACKENDS, value=choice.kind, allow_blank=False, id="backend"))
            yield field("base URL", Input(choice.base_url or "", placeholder="for a compatible server", id="base-url"))
            yield field("model", Input(choice.default_model, id="model"))
            yield field("epochs", Input("auto", id="epochs"))
            yield field("batch size", Input("auto", id="batch"))
            yield field("LR multiplier", Input("auto", id="lr"))
            yield field("suffix", Input("", placeholder="up to 64 characters", id="suffix"))
            yield field("seed", Input("", placeholder="random", id="seed", type="integer"))
            yield field("budget (USD)", Input("", placeholder="no limit", id="budget", type="number"))
            with Vertical(id="launch-actions"):
                yield Button("Launch (ctrl+l)", variant="primary", id="launch", compact=True)
                yield Static("", id="launch-error")
        yield Footer()

    @on(Select.Changed, "#backend")
    def backend_changed(self, event: Select.Changed) -> None:
        from core.jobs.backends import BackendChoice

        kind = str(event.value)
        self.query_one("#model", Input).value = BackendChoice(kind).default_model

    def _choice(self):
        from core.jobs.backends import resolve_backend

        kind = str(self.query_one("#backend", Select).value)
        url = self.query_one("#base-url", Input).value.strip() or None
        return resolve_backend(kind, url if kind in ("compatible", "openai", "azure") else None)

    def _options(self):
        from core.cli_values import auto_or
        from core.jobs.launch import LaunchOptions

        def text(widget_id: str) -> str:
            return self.query_one(f"#{widget_id}", Input).value.strip()

        return LaunchOptions(
            model=text("model") or None, n_epochs=auto_or(text("epochs"), int), batch_size=auto_or(text("batch"), int),
            learning_rate_multiplier=auto_or(text("lr"), float), suffix=text("suffix") or None,
            seed=int(text("seed")) if text("seed") else None,
            max_cost=float(text("budget")) if text("budget") else None)

    @on(Button.Pressed, "#launch")
    def action_launch(self) -> None:
        from core.errors import StartuneError

        self.query_one("#launch-error", Static).update("")
        try:
            choice, options = self._choice(), self._options()
        except StartuneError as exc:
            self.query_one("#launch-error", Static).update(f"[red]{exc}[/]")
            return
        self._estimate(choice, options)

    @work(thread=True, exclusive=True, group="launch", exit_on_error=False)
    def _estimate(self, choice, options) -> None:
        from core.validation.validate import validate_file

        model = options.model or choice.default_model
        epochs = options.n_epochs if isinstance(options.n_epochs, int) else None
        report = validate_file(self.build_dir / "train.jsonl", model, n_epochs=epochs)
        self.app.call_from_thread(self._confirm, choice, options, report)

    def _confirm(self, choice, options, report) -> None:
        from tui.screens.confirm import ConfirmScreen

        cost = report.cost
        budget = "no budget set" if options.max_cost is None else f"budget ${options.max_cost:,.2f}"
        over = options.max_cost is not None and cost.usd is not None and cost.usd > options.max_cost
        question = (f"Launch on {choice.describe()}?\n\n{cost.describe()}\n{budget}"
                    + ("\n\n[red]The estimate is above the budget: the launch will be refused.[/]" if over else ""))

        def answered(yes: bool | None) -> None:
            if yes:
                self.query_one("#launch-error", Static).update("Uploading and creating the job ...")
                self._launch(choice, options)

        self.app.push_screen(ConfirmScreen(question, yes="Launch (y)", no="Cancel (n)"), answered)

    @work(exclusive=True, group="launch", exit_on_error=False)
    async def _launch(self, choice, options) -> None:
        from core.errors import StartuneError
        from core.jobs.launch import launch
        from tui.errors import describe

        session = self.app.session
        session.use_backend(choice)
        try:
            client = await session.client(choice)
            run_id, job = await launch(client, self.build_dir, options, choice=choice, registry=session.registry)
        except (StartuneError, Exception) as exc:  # explained in place, where the user is looking
            self.query_one("#launch-error", Static).update(f"[red]{describe(exc)}[/]")
            return
        self.app.follow(choice.key, job["id"])
        from tui.screens.monitor import MonitorScreen

        self.app.switch_screen(MonitorScreen(run_id))
