"""Results: the result CSV's curves, summary numbers, where the CSV was saved; evaluation on the
test split with a confusion-matrix heat map."""

from __future__ import annotations

from pathlib import Path

from rich import box
from rich.console import Group
from rich.markup import escape
from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from tui.screens.base import AppScreen
from textual.widgets import Header, ProgressBar, Static

from tui.formatting import fmt_float, fmt_pct
from tui.widgets.charts import ChartPair, SeriesChart
from tui.widgets.footer import AppFooter


def confusion_heatmap(conf: dict) -> Text:
    """Rows: true label; columns: answered label (and ? for unparseable); each cell shaded by its
    share of the row. Drawn as fixed-width text so the grid never reflows in a narrow column."""
    width = max(3, *(len(str(v)) for row in conf["matrix"] for v in row)) + 1
    shades = ["grey30", "dark_green", "green4", "green3", "bright_green"]
    text = Text(no_wrap=True)
    text.append("true \u2193 answered \u2192\n", style="italic")
    text.append("  " + "".join(f"{'?' if c == 'unparseable' else c:>{width}}" for c in conf["columns"]) + "\n",
                style="bold")
    for label, row in zip(conf["labels"], conf["matrix"]):
        total = sum(row) or 1
        text.append(f"{label:<2}", style="bold")
        for value in row:
            style = f"black on {shades[min(4, int(value / total * 5))]}" if value else "dim"
            text.append(f"{value:>{width}}", style=style)
        text.append("\n")
    text.rstrip()
    return text


def per_label_table(per_label: dict) -> Table:
    """Precision, recall and F1 for each star: where the model confuses neighbours shows here."""
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, padding=(0, 1))
    for col in ("label", "precision", "recall", "F1", "n"):
        table.add_column(col, justify="left" if col == "label" else "right")
    for label, m in per_label.items():
        table.add_row(label, fmt_pct(m["precision"]), fmt_pct(m["recall"]), fmt_float(m["f1"], 2), f"{m['support']:,}")
    return table


# statuses after which no fine-tuned model exists (evaluation would be refused)
ENDED_WITHOUT_MODEL = ("cancelled", "failed")


class ResultsScreen(AppScreen):
    SUB_TITLE = "Results"  # the header says which screen this is
    BINDINGS = [Binding("e", "evaluate", "Evaluate on test"), Binding("m", "monitor", "Monitor"),
                Binding("x", "export", "Export"), Binding("y", "copy", "Copy")]

    def __init__(self, run_id: str) -> None:
        super().__init__()
        self.run_id = run_id

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="results-summary", classes="status-line")
        yield ChartPair(("Valid loss", "valid-loss"), ("Valid token accuracy", "valid-accuracy"), id="results-charts")
        with Horizontal(id="results-bottom"):
            # scrolls (up/down once focused): the per-label table is taller than 80x24 leaves
            with VerticalScroll(id="evaluation-box"):
                yield Static("", id="evaluation")
            with Vertical(id="results-side"):
                yield ProgressBar(id="eval-progress", show_eta=False)
                yield Static("", id="confusion")
        yield AppFooter()

    def on_mount(self) -> None:
        self.query_one("#eval-progress").display = False
        self._load()
        self._show_evaluations()

    @work(exclusive=True, group="results", exit_on_error=False)
    async def _load(self) -> None:
        from core.jobs.results import decode_result, download_and_record, parse_result_csv

        session = self.app.session
        run = session.registry.get_run(self.run_id)
        stored = run.get("results_csv")
        if stored and Path(stored).is_file():
            table = parse_result_csv(decode_result(Path(stored).read_bytes()))
            table.path = Path(stored)
        elif run["job"].get("result_files") and run["backend"] == session.choice.key:
            client = await session.client()
            table = await download_and_record(client, session.registry, self.run_id, run["job"])
        else:
            status = run["status"] or "-"
            why = ("the job ended before training finished: no result file and no model to evaluate"
                   if status in ENDED_WITHOUT_MODEL else "no result file yet")
            self.query_one("#results-summary", Static).update(
                Text.assemble((run["name"] or run["id"], "bold"), f" {status}: {why}"))
            return
        for widget_id, column in (("#valid-loss", "valid_loss"), ("#valid-accuracy", "valid_mean_token_accuracy")):
            steps, values = table.column(column)
            self.query_one(widget_id, SeriesChart).set_series(run["name"], steps, values)
        _, losses = table.column("valid_loss")
        _, accs = table.column("valid_mean_token_accuracy")
        # names, models and paths are the user's text: plain, never markup or emoji codes (":ok:" showed as 🆗)
        self.query_one("#results-summary", Static).update(Text.assemble(
            (run["name"] or "", "bold"), f" {run['status']} · {run['job'].get('fine_tuned_model') or '-'} · "
            f"{table.steps:,} steps · valid loss last {fmt_float(losses[-1] if losses else None)} best "
            f"{fmt_float(min(losses) if losses else None)} · valid acc last {fmt_pct(accs[-1] if accs else None)}"
            f" · CSV: {table.path}"))

    def _show_evaluations(self) -> None:
        evaluations = self.app.session.registry.evaluations(run_id=self.run_id)  # full ones first
        if not evaluations:
            can = self.check_action("evaluate", ())
            self.query_one("#evaluation", Static).update(
                "Not evaluated yet: press e to score the test split." if can else
                "Nothing to evaluate: this run has no fine-tuned model.")
            return
        # one line per evaluation wraps well at 80 columns, where a wide table would not
        lines = ["[b]evaluations on the test split[/]"]
        for ev in evaluations:
            r = ev["report"]
            part = f" [yellow](partial: first {r['n']:,} examples)[/]" if ev.get("partial") else ""
            lines.append(f"{escape(ev['model'])}{part}: accuracy [b]{fmt_pct(r['accuracy'])}[/] · macro-F1 {fmt_float(r['macro_f1'])}"
                         f" · MAE {fmt_float(r['mae'], 2)} · within one star {fmt_pct(r['within_one'])}"
                         f" · unparseable {r['unparseable']:,} of {r['n']:,}")
        if evaluations[0].get("partial"):
            lines.append("[yellow]matrix and table below: the partial evaluation (no full one yet)[/]")
        per_label = evaluations[0]["report"].get("per_label")
        text = Text.from_markup("\n".join(lines), emoji=False)   # a model named ":ok:" is not 🆗
        self.query_one("#evaluation", Static).update(Group(text, per_label_table(per_label)) if per_label else text)
        self.query_one("#confusion", Static).update(confusion_heatmap(evaluations[0]["report"]["confusion"]))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "evaluate":  # offered only where there is a model to score
            run = self.app.session.registry.get_run(self.run_id) or {}
            return bool(run.get("fine_tuned_model")) or None
        return True

    def action_evaluate(self) -> None:
        run = self.app.session.registry.get_run(self.run_id)
        model = run.get("fine_tuned_model")
        test = Path(run.get("build_dir") or "") / "test.jsonl"
        if not model or not test.is_file():
            self.app.notify("Needs a succeeded run whose build folder has test.jsonl.", severity="warning")
            return
        bar = self.query_one("#eval-progress", ProgressBar)
        bar.display = True
        self._evaluate(model, test)

    @work(exclusive=True, group="evaluate", exit_on_error=False)
    async def _evaluate(self, model: str, test: Path) -> None:
        from core.evaluate.runner import evaluate

        bar = self.query_one("#eval-progress", ProgressBar)

        def progress(stage: str, done: int, total: int | None = None) -> None:
            bar.update(total=total, progress=done)

        client = await self.app.session.client()
        await evaluate(client, model, test, registry=self.app.session.registry, progress=progress, run_id=self.run_id)
        bar.display = False
        self._show_evaluations()

    def action_monitor(self) -> None:
        self.app.open_monitor(self.run_id)

    def action_export(self) -> None:
        """Export...: then where it went, as a path to paste, and what could not be kept."""
        from tui.screens.export import ExportScreen

        def done(written) -> None:
            if not written:
                return
            missing = written.get("missing") or []
            self.app.notify(f"{len(written['files'])} files in {Path(written['out']).resolve()}"
                            + (f"; not exported: {'; '.join(missing)}" if missing else ""),
                            title="Exported", markup=False, timeout=12)

        self.app.push_screen(ExportScreen(self.app.session.registry.get_run(self.run_id) or {"id": self.run_id}),
                             done)

    def action_copy(self) -> None:
        """y: the run's ids, names and paths, to copy whole (core.jobs.handles)."""
        from core.jobs.handles import run_handles
        from tui.screens.copy import CopyScreen

        run = self.app.session.registry.get_run(self.run_id)
        if run is not None:
            self.app.push_screen(CopyScreen(run["name"] or run["id"], run_handles(run)))
