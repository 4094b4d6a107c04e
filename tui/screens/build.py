"""Build: every preparation option (each checked as it is typed), a live preview of the records,
then the files, their validation report and the cost per model."""

from __future__ import annotations

import time
from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Header, Input, Label, ProgressBar, Select, Static, Switch

from core.choices import (CONFLICT_POLICIES, DEFAULT_CONFLICT_POLICY, DEFAULT_FORMAT, DEFAULT_FRACTIONS, DEFAULT_ORDER,
                          DEFAULT_SEED, DEFAULT_SEPARATOR, FORMATS, ORDERS, escaped)
from tui.messages import BuildFinished, BuildProgress, PreviewReady
from tui.screens.base import AppScreen
from tui.widgets.charts import BarChart
from tui.widgets.form import Checks, Field, field, first_error
from tui.widgets.footer import AppFooter

# the app's words for core's choices (core.choices holds the values and defaults)
ORDER_NAMES = {"shuffled": "shuffled", "sorted": "sorted by label"}
FORMAT_NAMES = {"chat": "chat", "completion": "prompt/completion (export)"}
PREVIEW_DELAY = 0.3  # seconds of quiet typing before the preview is rebuilt
SEPARATOR_AS_TYPED = escaped(DEFAULT_SEPARATOR)  # escapes are read like Python's
SYSTEM_IGNORED = "ignored: prompt/completion records have no system message"
SPLIT_IGNORED = "ignored: the split column says which rows go where"
NO_SPLIT_COLUMN = "none (by fractions)"


def _options_with(**values) -> None:
    """Raise the core's error for one typed value, the others at their defaults."""
    from core.data.options import options_from_strings

    defaults = dict(dedup=True, conflicts=DEFAULT_CONFLICT_POLICY, fractions=DEFAULT_FRACTIONS, seed=DEFAULT_SEED,
                    stratify=False, samples_spec=None, balance=None, order=DEFAULT_ORDER, fmt=DEFAULT_FORMAT,
                    separator=SEPARATOR_AS_TYPED)
    options_from_strings(**(defaults | values))


def check_seed(value: str) -> None:
    _options_with(seed=value)  # core.seed's rule, as prepare and the backend read a seed


def check_fractions(value: str) -> None:
    _options_with(fractions=value)


def check_samples(value: str) -> None:
    _options_with(samples_spec=value.strip())


def check_balance(value: str) -> None:
    if value.strip() not in ("none", "equal"):
        _options_with(balance=value.strip())


def _check_escaped(name: str, value: str) -> None:
    from core.errors import ConfigError

    try:
        _options_with(**{name: value}, fmt="completion")
    except UnicodeDecodeError:
        raise ConfigError("unfinished escape (\\n new line, \\t tab, \\\\ backslash)") from None


def check_separator(value: str) -> None:
    _check_escaped("separator", value)


def check_stop(value: str) -> None:
    _check_escaped("stop", value)


def record_text(line: str) -> Text:
    """One JSONL record for reading: a chat record one message per line, spaces after separators,
    so long lines wrap between words and never inside a key."""
    import orjson

    record = orjson.loads(line)
    text = Text()
    messages = record.get("messages")
    if isinstance(messages, list):
        import json

        text.append('{"messages": [\n')
        for i, message in enumerate(messages):
            text.append("  " + json.dumps(message, ensure_ascii=False) + ("," if i < len(messages) - 1 else "") + "\n")
        text.append("]}")
    else:
        import json

        text.append(json.dumps(record, ensure_ascii=False))
    return text


def saved_corrections(source: str):
    """The Audit screen's decisions about this dataset, when any were made (applied by every build)."""
    from core.data.corrections import load_for

    decisions, where = load_for(source)
    return where if decisions.decisions else None


class BuildScreen(AppScreen):
    SUB_TITLE = "Build"  # the header says which screen this is
    BINDINGS = [Binding("ctrl+b", "build", "Build files"), Binding("ctrl+l", "launch", "Launch")]

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="build-body"):
            with VerticalScroll(id="build-form"):
                yield field("de-duplicate", Switch(True, id="dedup"))
                yield field("conflicts", Select([(v, v) for v in CONFLICT_POLICIES],
                                                 value=DEFAULT_CONFLICT_POLICY, allow_blank=False, id="conflicts"))
                yield field("split column", self._split_column_select())
                yield field("split", Input(DEFAULT_FRACTIONS, id="fractions", validators=[Checks(check_fractions)]))
                yield field("seed", Input(str(DEFAULT_SEED), id="seed", type="integer",
                                          validators=[Checks(check_seed)]))
                yield field("stratify", Switch(False, id="stratify"))
                yield field("samples", Input("", placeholder="all, or train=N,val=N,…", id="samples",
                                             validators=[Checks(check_samples, allow_empty=True)]))
                yield field("balance", Input("", placeholder="none, equal, or a cap N", id="balance",
                                             validators=[Checks(check_balance, allow_empty=True)]))
                yield field("order", Select([(ORDER_NAMES[o], o) for o in ORDERS],
                                             value=DEFAULT_ORDER, allow_blank=False, id="order"))
                yield field("format", Select([(FORMAT_NAMES[f], f) for f in FORMATS],
                                              value=DEFAULT_FORMAT, allow_blank=False, id="format"))
                yield field("system", Input("", placeholder="system prompt (optional)", id="system"))
                yield field("separator", Input(SEPARATOR_AS_TYPED, id="separator", validators=[Checks(check_separator)]))
                yield field("stop", Input("", id="stop", placeholder="end of each completion (optional)",
                                          validators=[Checks(check_stop, allow_empty=True)]))
            with VerticalScroll(id="build-side"):
                yield Static("", id="preview-summary", classes="status-line")
                yield Static("Preview of train.jsonl", classes="title")
                yield Static("", id="preview", classes="code")
                yield Static("", id="build-status", classes="status-line")
                yield ProgressBar(id="build-progress", show_eta=False)
                yield Static("", id="report")
                yield BarChart("Labels per split", id="split-histogram")
        # the whole width: a build folder's path is long
        with Horizontal(id="build-out"):
            yield Label("output", classes="field-label")
            yield Input("", id="out", compact=True)
        yield AppFooter()

    def _split_column_select(self) -> Select:
        """The dataset's other columns; one the loader recognised as a split column is chosen already."""
        ds = self.app.dataset
        others = [c for c in map(str, ds.frame.columns) if c not in (ds.text_column, ds.label_column)]
        return Select([(c, c) for c in others], prompt=NO_SPLIT_COLUMN, allow_blank=True,
                      value=ds.split_column if ds.split_column in others else Select.NULL, id="split-column")

    def on_mount(self) -> None:
        ds = self.app.dataset
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(self.app.session.clock()))
        from core.paths import runs_dir

        out = runs_dir() / "builds" / f"{Path(ds.source).stem}-{stamp}"
        try:  # ~/... reads shorter, and expanduser() gives it back when building
            out = Path("~") / out.relative_to(Path.home())
        except ValueError:
            pass
        self.query_one("#out", Input).value = str(out)
        self.query_one("#build-progress").display = False
        self._result_in_view = False
        # the report, the chart and the preview settle their heights over several refreshes: keep the
        # result at the top through each, not just the first
        self.watch(self.query_one("#build-side", VerticalScroll), "virtual_size", self._side_resized, init=False)
        self.query_one("#split-histogram").display = False
        self._timer = None
        self.schedule_preview()

    def options(self):
        """The preparation options; a value a field refuses raises ConfigError naming the field."""
        from core.data.options import options_from_strings
        from core.errors import ConfigError

        refused = first_error(self)
        if refused is not None:
            raise ConfigError(refused[1])

        def value(widget_id: str):
            return self.query_one(f"#{widget_id}").value

        balance = value("balance").strip() or None
        split_column = value("split-column")
        completion = value("format") == "completion"   # a stop is a completion's end: chat records have none
        return options_from_strings(
            split_column=None if split_column is Select.NULL else str(split_column),
            stop=(value("stop") or None) if completion else None,
            text_column=self.app.dataset.text_column, label_column=self.app.dataset.label_column,
            labels_spec=self.app.labels_spec, dedup=value("dedup"), conflicts=value("conflicts"),
            fractions=value("fractions"), seed=value("seed"), stratify=value("stratify"),
            samples_spec=value("samples").strip() or None, balance=None if balance == "none" else balance,
            order=value("order"), fmt=value("format"), system_prompt=value("system") or None,
            separator=value("separator"))

    @on(Input.Changed)
    @on(Select.Changed)
    @on(Switch.Changed)
    def schedule_preview(self) -> None:
        self._result_in_view = False  # a value changed after the build: the preview matters again
        self._notes()
        if getattr(self, "_timer", None) is not None:
            self._timer.stop()
        self._timer = self.set_timer(PREVIEW_DELAY, self._preview)

    def _notes(self) -> None:
        """Remarks that depend on two fields: a system prompt the chosen format cannot carry."""
        completion = self.query_one("#format", Select).value == "completion"
        system = self.query_one("#field-system", Field)
        system.note(SYSTEM_IGNORED if completion and self.query_one("#system", Input).value.strip() else "",
                    error=False)
        self.query_one("#field-separator").display = completion
        self.query_one("#field-stop").display = completion
        by_column = self.query_one("#split-column", Select).value is not Select.NULL
        fractions = self.query_one("#field-fractions", Field)
        if by_column or getattr(self, "_split_ignored_said", False):   # else the note is the field's own check
            fractions.note(SPLIT_IGNORED if by_column else "", error=False)
        self._split_ignored_said = by_column

    def _preview(self) -> None:
        from core.errors import StartuneError
        from tui.errors import describe

        # a preview still being computed for earlier values must not land after this one
        self._generation = getattr(self, "_generation", 0) + 1
        try:
            options = self.options()
        except StartuneError as exc:
            self._show_preview(self._generation, "", Text(describe(exc), style="red"))
            return
        self._render_preview(options, self._generation)

    @work(thread=True, exclusive=True, group="preview", exit_on_error=False)
    def _render_preview(self, options, generation: int) -> None:
        from core.data.pipeline import preview
        from core.errors import StartuneError
        from tui.errors import describe

        try:
            lines, counts, report = preview(self.app.dataset, options, n=3)
        except StartuneError as exc:
            self.post_message(PreviewReady(generation, "", Text(describe(exc), style="red")))
            return
        total = {k: sum(v.values()) for k, v in counts.items()}
        summary = (f"{report.rows_out:,} of {report.rows_in:,} rows kept · "
                   + " · ".join(f"{k} {n:,}" for k, n in total.items()))
        body = Text("\n").join(record_text(line) for line in lines)
        self.post_message(PreviewReady(generation, summary, body))

    @on(PreviewReady)
    def _preview_ready(self, message: PreviewReady) -> None:
        self._show_preview(message.generation, message.summary, message.body)

    def _show_preview(self, generation: int, summary: str, body: Text) -> None:
        if generation != self._generation:  # values changed since: a newer preview is on its way
            return
        self.query_one("#preview-summary", Static).update(summary)
        self.query_one("#preview", Static).update(body)
        if self._result_in_view:  # typed just before ctrl+b: keep the result in view
            self._scroll_to_result()

    def _side_resized(self) -> None:
        if self._result_in_view:
            self._scroll_to_result()

    def _scroll_to_result(self) -> None:
        # once laid out: the report, the chart or a new preview just changed the column's height
        self.call_after_refresh(self.query_one("#build-side", VerticalScroll).scroll_to_widget,
                                self.query_one("#build-status"), animate=False, top=True)

    def action_build(self) -> None:
        from core.errors import StartuneError
        from tui.errors import describe

        refused = first_error(self)
        if refused is not None:
            refused[0].focus()
            self.app.notify(refused[1], severity="error")
            return
        try:
            options = self.options()
        except StartuneError as exc:
            self.app.notify(describe(exc), severity="error")
            return
        out = self.query_one("#out", Input).value.strip()
        if not out:
            self.query_one("#out", Input).focus()
            self.app.notify("output: give a folder for the files", severity="error")
            return
        bar = self.query_one("#build-progress", ProgressBar)
        bar.display = True
        bar.update(total=None, progress=0)
        self.query_one("#build-status", Static).update("Building ...")
        self._build(options, Path(out).expanduser())

    @work(thread=True, exclusive=True, group="build", exit_on_error=False)
    def _build(self, options, out_dir: Path) -> None:
        from core.jobs.backends import tokens_matter
        from core.jobs.build import build
        from core.validation.validate import cost_by_model, drop_default_system_warning
        from tui.errors import post_outcome

        def progress(stage: str, done: int, total: int | None = None) -> None:
            self.post_message(BuildProgress(stage, done, total))

        def work():
            # tokens matter only where training bills by them: a build for the local backend skips them;
            # otherwise they are counted as the files are written (only other tokenizers read train.jsonl again)
            billed = tokens_matter(self.app.session.choice)
            built = build(self.app.dataset, out_dir, options, count_tokens=billed,
                          corrections=saved_corrections(self.app.dataset.source), registry=self.app.session.registry,
                          progress=progress)
            result = built.result
            if billed or "train" not in result.validation:
                report, costs = cost_by_model(result.files["train"], progress=progress,
                                              known=result.validation.get("train"))
            else:
                report, costs = result.validation["train"], []
            drop_default_system_warning(report, options.system_prompt)
            return result, report, costs

        post_outcome(self, BuildFinished, work)

    @on(BuildFinished)
    def _finished(self, message: BuildFinished) -> None:
        if message.error is not None:
            self._failed(message.error)
            # also where the eyes are: the status line is at the top of a column that may be scrolled down
            self.app.notify(message.error, severity="error", markup=False)
        else:
            self._built(message.result, message.report, message.costs)

    def on_worker_state_changed(self, event) -> None:
        # an unexpected failure is reported by the app (ReportsWorkerErrors); the bar must not stay at its
        # last stage as if the build were still running
        from textual.worker import WorkerState

        if event.worker.group == "build" and event.state in (WorkerState.ERROR, WorkerState.CANCELLED):
            self._failed("The build stopped; nothing was written (see the message).")

    def _failed(self, message: str) -> None:
        self.query_one("#build-progress").display = False
        self.query_one("#build-status", Static).update(Text(message, style="red"))
        self._result_in_view = True
        self._scroll_to_result()

    @on(BuildProgress)
    def _progress(self, message: BuildProgress) -> None:
        self.query_one("#build-status", Static).update(f"{message.stage} ...")
        self.query_one("#build-progress", ProgressBar).update(total=message.total, progress=message.done)

    def _built(self, result, report, costs) -> None:
        from tui.formatting import fmt_usd

        self.app.build_dir = result.out_dir
        self.query_one("#build-progress").display = False
        splits = result.manifest["splits"]
        fixed = result.manifest.get("corrections")
        applied = (f" · audit decisions applied: {len(fixed['relabelled']):,} relabelled, "
                   f"{len(fixed['dropped']):,} dropped" if fixed else "")
        self.query_one("#build-status", Static).update(
            "[green]Built[/] " + ", ".join(f"{k} {v['examples']:,}" for k, v in splits.items())
            + applied + " · ctrl+l to launch")
        lines = [f"validation: {'[green]ok[/]' if report.ok else '[red]' + str(sum(report.error_counts.values())) + ' errors[/]'}"
                 f" · {report.n_examples:,} examples"]
        lines += [f"[yellow]warning:[/] {w}" for w in report.warnings]
        t = report.token_stats
        if t:
            lines.append(f"tokens/example min {t['min']} · median {t['median']:g} · p90 {t['p90']:g} · max {t['max']}"
                         f" · default epochs {report.default_epochs}")
        if costs:
            lines.append("cost: " + " · ".join(f"{c.model.split('-20')[0]} {fmt_usd(c.usd)}" for c in costs))
        else:
            lines.append("tokens not counted: nothing bills by token on the local backend")
            lines.append(f"default epochs {report.default_epochs} · cost: none (trains on this machine)")
        self.query_one("#report", Static).update("\n".join(lines))
        chart = self.query_one("#split-histogram", BarChart)
        chart.display = True
        chart.show({name: s["labels"] for name, s in splits.items()})
        # the result first: what was built and the validation, then the rest below
        self._result_in_view = True
        self._scroll_to_result()

    def action_launch(self) -> None:
        self.app.action_open_launch()
