"""Audit: the reviews whose label most likely disagrees with their text (core.data.audit), a page at a
time, and a decision for each: take the suggested label, keep the given one, or drop the row. Every
decision is saved at once beside the dataset (core.data.corrections; the dataset itself is never
edited) and the Build screen applies them."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.coordinate import Coordinate
from textual.widgets import DataTable, Header, ProgressBar, Static

from tui.messages import AuditFinished, AuditProgress
from tui.screens.base import AppScreen
from tui.widgets.footer import AppFooter
from tui.widgets.page_table import PageTable, one_line, shown

# what a decision is called in the table
SHOWN = {"relabel": "→ {label}", "keep": "keep", "drop": "drop"}


class AuditScreen(AppScreen):
    SUB_TITLE = "Audit"  # the header says which screen this is
    BINDINGS = [
        Binding("a", "decide('relabel')", "Accept"),
        Binding("k", "decide('keep')", "Keep"),
        Binding("d", "decide('drop')", "Drop"),
        Binding("u", "decide(None)", "Undo"),
        Binding("t", "switch_view", "Same text"),
        Binding("pageup", "page(-1)", "Prev", key_display="PgUp", priority=True),
        Binding("pagedown", "page(1)", "Next", key_display="PgDn", priority=True),
        Binding("ctrl+b", "build", "Build"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.report: Any = None        # core.data.audit.AuditReport once the worker is done
        self.corrections: Any = None   # core.data.corrections.Corrections
        self.where: Any = None         # the Path they are saved to
        self.first = 0           # index of the first flagged row on the page
        self.showing = "issues"  # or "conflicts": texts seen with several labels

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("Auditing ...", id="audit-summary", classes="status-line")
        yield ProgressBar(id="audit-progress", show_eta=False)
        yield PageTable(id="audit-table", zebra_stripes=True, cursor_type="row")
        with VerticalScroll(id="audit-review"):
            yield Static("", id="audit-text")
        with Horizontal(id="audit-page-line"):
            yield Static("", id="audit-page", classes="hint")
        yield AppFooter()

    def on_mount(self) -> None:
        from core.data.labels import LabelSet

        ds = self.app.dataset  # type: ignore[attr-defined]
        if ds is None:
            self.query_one("#audit-summary", Static).update("Load a dataset first (Dataset screen).")
            self.query_one("#audit-progress").display = False
            return
        self._audit(ds, LabelSet.parse(self.app.labels_spec))  # type: ignore[attr-defined]

    @work(thread=True, exclusive=True, group="audit", exit_on_error=False)
    def _audit(self, ds, labels) -> None:
        from core.data.audit import audit
        from core.data.corrections import load_for
        from tui.errors import post_outcome

        def progress(stage: str, done: int, total: int | None = None) -> None:
            self.post_message(AuditProgress(stage, done, total))

        def work():
            decisions, where = load_for(ds.source)
            return audit(ds, labels=labels, progress=progress), decisions, where

        post_outcome(self, AuditFinished, work)

    @on(AuditProgress)
    def _progress(self, message: AuditProgress) -> None:
        self.query_one("#audit-summary", Static).update(f"Auditing: {message.stage} ...")
        self.query_one("#audit-progress", ProgressBar).update(total=message.total, progress=message.done)

    @on(AuditFinished)
    def _finished(self, message: AuditFinished) -> None:
        self.query_one("#audit-progress").display = False
        if message.error is not None:
            self.query_one("#audit-summary", Static).update(Text(message.error, style="red"))
            return
        self.report, self.corrections, self.where = message.report, message.corrections, message.where
        self.corrections.source = self.report.source
        self.corrections.fingerprint = self.report.fingerprint
        self._columns()
        self._show_page()
        self.query_one("#audit-table").focus()
        if not self.query_one("#audit-table", DataTable).size.height:
            self.call_after_refresh(self._refit)

    # -- what is shown ---------------------------------------------------------------------
    def _summary(self) -> None:
        r, decided = self.report, self.corrections.decisions
        counts = {a: sum(d.action == a for d in decided.values()) for a in ("relabel", "keep", "drop")}
        self.query_one("#audit-summary", Static).update(
            f"[b]{r.flagged:,}[/] of {r.rows_audited:,} flagged · ~{r.noisy_share:.0%} wrong labels · "
            f"{len(r.conflicts):,} same texts, other stars (t)\n"
            f"decided {counts['relabel']:,} relabel · {counts['keep']:,} keep · {counts['drop']:,} drop · "
            f"{self._where_text()}")

    def _where_text(self) -> str:
        from core.data.corrections import beside

        if not self.report.source.startswith("hf:") and self.where == beside(self.report.source):
            return f"in {self.where.name}"
        if self.report.source.startswith("hf:"):
            return f"saved in {self.where}"
        return f"saved in {self.where} (the dataset's folder is not writable)"

    @property
    def items(self) -> list:
        return self.report.issues if self.showing == "issues" else self.report.conflicts

    def _fits(self) -> int:
        return self.query_one("#audit-table", PageTable).fits()

    def _columns(self) -> None:
        table = self.query_one("#audit-table", DataTable)
        table.clear(columns=True)
        width = table.size.width or 80
        fixed: tuple[tuple[str, int], ...]
        if self.showing == "issues":
            fixed = (("row", 7), ("star", 4), ("sugg.", 5), ("conf.", 5), ("decision", 8))
        else:
            fixed = (("labels (rows)", 22), ("first rows", 18))
        for name, w in fixed:
            table.add_column(name, key=name, width=w)
        table.add_column("text", key="text", width=max(10, width - sum(w + 2 for _, w in fixed) - 3))

    @on(PageTable.Resized)
    def _refit(self) -> None:
        if self.report is None:
            return
        table = self.query_one("#audit-table", DataTable)
        selected = self.first + table.cursor_row
        fits = self._fits()
        self.first = selected - selected % fits
        self._columns()
        self._show_page(cursor=selected % fits)

    def _show_page(self, cursor: int = 0) -> None:
        table = self.query_one("#audit-table", DataTable)
        table.clear()
        page = self.items[self.first:self.first + self._fits()]
        width = table.ordered_columns[-1].width if table.ordered_columns else 40
        for item in page:
            if self.showing == "issues":
                table.add_row(Text(f"{item.row:,}", justify="right"), item.given, item.suggested,
                              f"{item.confidence:.2f}", self._decision(item.row), one_line(item.text)[:width])
            else:
                table.add_row(" ".join(f"{k}:{v:,}" for k, v in item.labels.items()),
                              ",".join(map(str, item.rows)), one_line(item.text)[:width])
        if page:
            table.move_cursor(row=min(cursor, len(page) - 1))
        n_pages = max(1, -(-len(self.items) // self._fits()))
        what = "flagged rows, most likely wrong first" if self.showing == "issues" \
            else "texts seen with several stars (t: back to the flagged rows)"
        self.query_one("#audit-page", Static).update(
            f"page {self.first // self._fits() + 1:,} of {n_pages:,} · {what}")
        self._summary()
        self._show_text()

    def _decision(self, row: int) -> str:
        d = self.corrections.decisions.get(row)
        return "" if d is None else SHOWN[d.action].format(label=d.label)

    @on(DataTable.RowHighlighted, "#audit-table")
    def _show_text(self) -> None:
        item = self._current()
        if item is None:
            self.query_one("#audit-text", Static).update("")
            return
        if self.showing == "issues":
            head = (f"row {item.row:,} · star {item.given} · suggested {item.suggested} "
                    f"(p {item.p_suggested:.2f}) · ")
        else:
            head = " · ".join(f"{k}★ {v:,} rows" for k, v in item.labels.items()) + " · "
        text = Text(head, style="bold")
        text.append(shown(item.text), style="not bold")
        self.query_one("#audit-text", Static).update(text)

    def _current(self):
        if self.report is None:
            return None
        table = self.query_one("#audit-table", DataTable)
        at = self.first + table.cursor_row
        return self.items[at] if self.items and table.row_count and at < len(self.items) else None

    # -- actions ---------------------------------------------------------------------------
    def action_page(self, delta: int) -> None:
        if self.report is None:
            return
        fits = self._fits()
        last = max(0, (len(self.items) - 1) // fits)
        self.first = min(max(0, self.first // fits + delta), last) * fits
        self._show_page()

    def action_switch_view(self) -> None:
        if self.report is None:
            return
        self.showing = "conflicts" if self.showing == "issues" else "issues"
        self.first = 0
        self._columns()
        self._show_page()

    def action_decide(self, action: str | None) -> None:
        item = self._current()
        if item is None or self.showing != "issues":
            return
        if action is None:
            self.corrections.undo(item.row)
        else:
            self.corrections.decide(item.row, item.text, item.given, action, item.suggested)
        self._save()
        table = self.query_one("#audit-table", DataTable)
        row = table.cursor_row
        table.update_cell_at(Coordinate(row, 4), self._decision(item.row))
        self._summary()
        if action is not None and row + 1 < table.row_count:
            table.move_cursor(row=row + 1)   # on to the next review
        elif action is not None and self.first + row + 1 < len(self.items):
            self.action_page(1)

    def _save(self) -> None:
        """Each decision on disk at once (atomic), so closing the app loses none; beside the dataset,
        or in startune's data folder when that cannot be written."""
        from core.data.corrections import fallback

        try:
            self.corrections.save(self.where)
        except OSError:
            self.where = fallback(self.report.source)
            try:
                self.corrections.save(self.where)
            except OSError as exc:
                self.app.notify(f"decisions not saved: {exc.strerror} ({self.where})", severity="error")
                return
            self.app.notify(f"the dataset's folder is not writable: decisions saved in {self.where}")

    def action_build(self) -> None:
        self.app.action_open_build()  # type: ignore[attr-defined]
