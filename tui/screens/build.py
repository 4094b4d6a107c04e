"""Build: every preparation option, a live preview of the records, then the files, their
validation report and the cost per model."""

from __future__ import annotations

import time
from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from tui.screens.base import AppScreen
from textual.widgets import Footer, Header, Input, ProgressBar, Select, Static, Switch

from tui.widgets.charts import BarChart
from tui.widgets.form import field

PREVIEW_DELAY = 0.3  # seconds of quiet typing before the preview is rebuilt


class BuildScreen(AppScreen):
    BINDINGS = [Binding("ctrl+b", "build", "Build files"), Binding("ctrl+l", "launch", "Launch")]

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="build-body"):
            with VerticalScroll(id="build-form"):
                yield field("de-duplicate", Switch(True, id="dedup"))
                yield field("conflicts", Select([(v, v) for v in ("keep_first", "drop", "majority")],
                                                 value="keep_first", allow_blank=False, id="conflicts"))
                yield field("split", Input("0.6,0.2,0.2", id="fractions"))
                yield field("seed", Input("42", id="seed", type="integer"))
                yield field("stratify", Switch(False, id="stratify"))
                yield field("samples", Input("", placeholder="all, or train=N,val=N,…", id="samples"))
                yield field("balance", Input("", placeholder="none, equal, or a cap N", id="balance"))
                yield field("order", Select([("shuffled", "shuffled"), ("sorted by label", "sorted")],
                                             value="shuffled", allow_blank=False, id="order"))
                yield field("format", Select([("chat", "chat"), ("prompt/completion (export)", "completion")],
                                              value="chat", allow_blank=False, id="format"))
                yield field("system", Input("", placeholder="system prompt (optional)", id="system"))
                yield field("separator", Input("\\n\\n###\\n\\n", id="separator"))
                yield field("output", Input("", id="out"))
            with VerticalScroll(id="build-side"):
                yield Static("Preview of train.jsonl", classes="title")
                yield Static("", id="preview", classes="code")
                yield Static("", id="build-status", classes="status-line")
                yield ProgressBar(id="build-progress", show_eta=False)
                yield Static("", id="report")
                yield BarChart("Labels per split", id="split-histogram")
        yield Footer()

    def on_mount(self) -> None:
        ds = self.app.dataset
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(self.app.session.clock()))
        from core.paths import runs_dir

        self.query_one("#out", Input).value = str(runs_dir() / "builds" / f"{Path(ds.source).stem}-{stamp}")
        self.query_one("#build-progress").display = False
        self.query_one("#split-histogram").display = False
        self._timer = None
        self.schedule_preview()

    def options(self):
        from core.data.options import options_from_strings

        def value(widget_id: str):
            return self.query_one(f"#{widget_id}").value

        balance = value("balance").strip() or None
        return options_from_strings(
            text_column=self.app.dataset.text_column, label_column=self.app.dataset.label_column,
            dedup=value("dedup"), conflicts=value("conflicts"), fractions=value("fractions"),
            seed=int(value("seed") or 42), stratify=value("stratify"), samples_spec=value("samples").strip() or None,
            balance=None if balance == "none" else balance, order=value("order"), fmt=value("format"),
            system_prompt=value("system") or None, separator=value("separator"))

    @on(Input.Changed)
    @on(Select.Changed)
    @on(Switch.Changed)
    def schedule_preview(self) -> None:
        if getattr(self, "_timer", None) is not None:
            self._timer.stop()
        self._timer = self.set_timer(PREVIEW_DELAY, self._preview)

    def _preview(self) -> None:
        from core.errors import StartuneError

        try:
            options = self.options()
        except (StartuneError, ValueError) as exc:
            self.query_one("#preview", Static).update(f"[red]{exc}[/]")
            return
        self._render_preview(options)

    @work(thread=True, exclusive=True, group="preview", exit_on_error=False)
    def _render_preview(self, options) -> None:
        from rich.text import Text

        from core.data.pipeline import preview
        from core.errors import StartuneError

        try:
            lines, counts, report = preview(self.app.dataset, options, n=3)
        except StartuneError as exc:
            self.app.call_from_thread(self.query_one("#preview", Static).update, Text(str(exc), style="red"))
            return
        total = {k: sum(v.values()) for k, v in counts.items()}
        summary = (f"\n{report.rows_out:,} of {report.rows_in:,} rows kept · " +
                   " · ".join(f"{k} {n:,}" for k, n in total.items()))
        self.app.call_from_thread(self.query_one("#preview", Static).update, Text("\n".join(lines) + summary))

    def action_build(self) -> None:
        from core.errors import StartuneError

        try:
            options = self.options()
        except StartuneError as exc:
            self.app.notify(str(exc), severity="error")
            return
        bar = self.query_one("#build-progress", ProgressBar)
        bar.display = True
        bar.update(total=None, progress=0)
        self.query_one("#build-status", Static).update("Building ...")
        self._build(options, Path(self.query_one("#out", Input).value).expanduser())

    @work(thread=True, exclusive=True, group="build", exit_on_error=False)
    def _build(self, options, out_dir: Path) -> None:
        from core.data.pipeline import prepare
        from core.validation.validate import cost_by_model

        def progress(stage: str, done: int, total: int | None = None) -> None:
            self.app.call_from_thread(self._progress, stage, done, total)

        result = prepare(self.app.dataset, out_dir, options, progress=progress)
        report, costs = cost_by_model(result.files["train"], progress=progress)
        self.app.session.registry.add_build(out_dir, result.manifest)
        self.app.call_from_thread(self._built, result, report, costs)

    def _progress(self, stage: str, done: int, total: int | None) -> None:
        self.query_one("#build-status", Static).update(f"{stage} ...")
        self.query_one("#build-progress", ProgressBar).update(total=total, progress=done)

    def _built(self, result, report, costs) -> None:
        from tui.formatting import fmt_usd

        self.app.build_dir = result.out_dir
        self.query_one("#build-progress").display = False
        splits = result.manifest["splits"]
        self.query_one("#build-status", Static).update(
            f"[green]Built[/] {result.out_dir}: " + ", ".join(f"{k} {v['examples']:,}" for k, v in splits.items())
            + " · ctrl+l to launch")
        lines = [f"validation: {'[green]ok[/]' if report.ok else '[red]' + str(sum(report.error_counts.values())) + ' errors[/]'}"
                 f" · {report.n_examples:,} examples"]
        lines += [f"[yellow]warning:[/] {w}" for w in report.warnings]
        t = report.token_stats
        if t:
            lines.append(f"tokens/example min {t['min']} · median {t['median']:g} · p90 {t['p90']:g} · max {t['max']}"
                         f" · default epochs {report.default_epochs}")
        lines.append("cost: " + " · ".join(f"{c.model.split('-20')[0]} {fmt_usd(c.usd)}" for c in costs))
        self.query_one("#report", Static).update("\n".join(lines))
        chart = self.query_one("#split-histogram", BarChart)
        chart.display = True
        chart.show({name: s["labels"] for name, s in splits.items()})

    def action_launch(self) -> None:
        self.app.action_open_launch()
