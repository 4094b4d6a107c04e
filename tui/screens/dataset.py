"""Dataset: pick a file, check the detected columns and the label set, page through rows (as many
per page as the table shows), read the selected review in full, see the label histogram."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.validation import Integer
from textual.widgets import DataTable, DirectoryTree, Header, Input, Label, Select, Static

from core.choices import DEFAULT_LABELS
from tui.messages import DatasetRead
from tui.screens.base import AppModal, AppScreen
from tui.widgets.charts import BarChart
from tui.widgets.form import Checks
from tui.widgets.page_table import PageTable, one_line, shown
from tui.widgets.path_input import PathInput
from tui.widgets.footer import AppFooter


class PreviewTable(PageTable):
    """The preview table."""

    # DataTable's own home/end scroll sideways within one page; a user means the dataset's first/last row
    BINDINGS = [Binding("home", "screen.edge(0)", "First", show=False),
                Binding("end", "screen.edge(1)", "Last", show=False)]


def labels_check(spec: str) -> None:
    from core.data.labels import LabelSet

    LabelSet.parse(spec)


class ReviewScreen(AppModal):
    """One review, whole, however long."""

    BINDINGS = [Binding("escape,enter,q", "dismiss", "Close")]

    def __init__(self, title: str, text: str) -> None:
        super().__init__()
        self.title_text, self.text = title, text

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="review-dialog"):
            yield Static(self.title_text, classes="title")
            yield Static(Text(self.text))

    def action_dismiss(self) -> None:
        self.dismiss()


class DatasetScreen(AppScreen):
    BINDINGS = [
        Binding("ctrl+o", "load", "Load", show=False),  # enter in the path field does the same
        Binding("ctrl+t", "tree", "File tree", show=False),  # said in the summary line
        # priority: the table's own page keys would scroll inside a page that already fits
        Binding("pageup", "page(-1)", "Prev", key_display="PgUp", priority=True),
        Binding("pagedown", "page(1)", "Next", key_display="PgDn", priority=True),
        Binding("ctrl+g", "goto", "Go to"),
        Binding("ctrl+b", "build", "Build"),
        Binding("ctrl+r", "audit", "Audit"),
        # the screen's escape comes before the app's "back", so an open tree closes first
        Binding("escape", "escape", "Back", show=False),
    ]
    SUB_TITLE = "Dataset"  # the header says which screen this is

    def __init__(self, path: Path | None = None) -> None:
        super().__init__()
        self.initial = path
        self.pager = None
        self.first_row = 0  # 0-based row at the top of the page; kept when the page size changes

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="dataset-top"):
            yield Label("file", classes="field-label")
            yield PathInput(str(self.initial or ""), id="path", compact=True)
        with Horizontal(id="dataset-columns"):
            yield Label("text", classes="field-label")
            yield Select([], id="text-column", prompt="text column", allow_blank=True, compact=True)
            yield Label("label")
            yield Select([], id="label-column", prompt="label column", allow_blank=True, compact=True)
            yield Label("labels")
            yield Input(self.app.labels_spec, id="labels", compact=True, validate_on=["changed", "submitted"],
                        validators=[Checks(labels_check)], tooltip="1-5, or names like neg,neu,pos")
        yield Static("", id="labels-note", classes="field-note -error")
        with Horizontal(id="dataset-body"):
            yield DirectoryTree(Path.cwd(), id="tree")
            with Vertical(id="dataset-main"):
                yield Static("Type a path and press enter (ctrl+t: file tree).", id="dataset-summary",
                             classes="status-line")
                yield PreviewTable(id="preview", zebra_stripes=True, cursor_type="row")
                with VerticalScroll(id="review"):
                    yield Static("", id="review-text")
                with Horizontal(id="page-line"):
                    yield Static("", id="page-info", classes="hint")
                    yield Label("go to row", classes="hint")
                    yield Input("", id="goto", compact=True, type="integer", placeholder="#", valid_empty=True)
            yield BarChart("Labels", id="histogram")
        yield AppFooter()

    def on_mount(self) -> None:
        self.query_one("#tree").display = False
        self.query_one("#labels-note").display = False
        if self.initial is not None:
            self.action_load()
        elif self.app.dataset is not None:
            # reopened (palette, Runs): show what was loaded, summary and histogram included
            self.query_one(PathInput).value = self.app.dataset.source
            self._loaded(self.app.dataset, self.app.dataset_details)

    # -- loading ---------------------------------------------------------------------------
    @on(Input.Submitted, "#path")
    def path_submitted(self) -> None:
        self.action_load()

    def action_load(self) -> None:
        self._start_load(None, None)

    def _start_load(self, text_column: str | None, label_column: str | None) -> None:
        path = self.query_one(PathInput).value.strip()
        labels = self.query_one("#labels", Input)
        if not labels.is_valid:
            labels.focus()
            return
        if path:
            self.query_one("#dataset-summary", Static).update(f"Loading {path} ...")
            self._load(path, text_column, label_column, labels.value.strip() or DEFAULT_LABELS)
        else:
            self.query_one("#dataset-summary", Static).update("Type a path first (ctrl+t: file tree).")

    @work(thread=True, exclusive=True, group="dataset", exit_on_error=False)
    def _load(self, path: str, text_column: str | None, label_column: str | None, labels_spec: str) -> None:
        from core.data.clean import clean_keys
        from core.data.inspect import summarise
        from core.data.labels import LabelSet
        from core.data.load import load_dataset
        from tui.errors import post_outcome

        def work():
            labels = LabelSet.parse(labels_spec)
            ds = load_dataset(path, text_column=text_column, label_column=label_column)
            *_, report = clean_keys(ds.frame, ds.text_column, ds.label_column, labels)
            return ds, (summarise(ds, labels), report), labels_spec

        # any failure ends "Loading ..." with one line where the user looks; the screen stays usable
        post_outcome(self, DatasetRead, work, failures=(Exception,))

    @on(DatasetRead)
    def _read(self, message: DatasetRead) -> None:
        if message.error is not None:
            self.query_one("#dataset-summary", Static).update(Text(message.error, style="red"))
            if self.app.dataset is not None:   # a refused pick: the selects show the columns the data still has
                self._show_columns(self.app.dataset)
        else:
            self._loaded(message.dataset, message.details, message.labels_spec)

    def _loaded(self, ds, details, labels_spec: str | None = None) -> None:
        from core.data.inspect import PreviewPager

        self.app.dataset = ds
        self.app.dataset_details = details
        if labels_spec is not None:
            self.app.labels_spec = labels_spec
        self._show_columns(ds, [(c, c) for c in ds.frame.columns])
        self.pager = PreviewPager(ds, page_size=self._fits())
        self.first_row = 0
        self._columns()
        self._show_page()
        if details is not None:
            self._summary(ds, *details)
        if not self.query_one("#preview", DataTable).size.height:  # not laid out yet: fit once it is
            self.call_after_refresh(self._refit)

    def _show_columns(self, ds, options: list[tuple[str, str]] | None = None) -> None:
        """The column selects on ``ds``'s text and label columns (offering ``options`` when given)."""
        for select_id, value in (("#text-column", ds.text_column), ("#label-column", ds.label_column)):
            select = self.query_one(select_id, Select)
            with select.prevent(Select.Changed):
                if options is not None:
                    select.set_options(options)
                select.value = value

    def _summary(self, ds, summary, report) -> None:
        invalid = sum(summary.invalid_labels.values())
        problems = [f"{summary.empty_texts:,} empty", f"{invalid:,} bad labels",
                    f"{report.exact_duplicates:,} exact duplicates", f"{report.duplicate_texts:,} repeated",
                    f"{report.conflicting_texts:,} conflicting"]
        if summary.long_texts:  # prepare refuses them: say where the first is
            from core.data.sizes import MAX_TEXT_CHARS

            problems.append(f"[b]row {summary.long_texts[0][0]:,}: text over {MAX_TEXT_CHARS:,} characters[/]")
        self.query_one("#dataset-summary", Static).update(
            f"[b]{Path(ds.source).name}[/] {summary.rows:,} rows · [b]{report.rows_out:,} usable[/]\n"
            + " · ".join(problems))
        self.query_one(BarChart).show({"all": summary.label_histogram})

    # -- paging ----------------------------------------------------------------------------
    def _fits(self) -> int:
        return self.query_one("#preview", PageTable).fits()

    def _columns(self) -> None:
        ds = self.app.dataset
        table = self.query_one("#preview", DataTable)
        table.clear(columns=True)
        number, label = self._fixed_widths()
        table.add_column("#", key="#", width=number)
        table.add_column(ds.label_column, key="label", width=label)
        table.add_column(ds.text_column, key="text", width=self._text_width())

    def _fixed_widths(self) -> tuple[int, int]:
        ds = self.app.dataset
        return len(f"{len(ds.frame):,}"), max(5, len(ds.label_column))

    def _text_width(self) -> int:
        """The text takes what is left, so nothing scrolls sideways; the full review is shown below."""
        number, label = self._fixed_widths()
        return max(10, self.query_one("#preview", DataTable).size.width - number - label - 7)

    @on(PageTable.Resized)
    def _refit(self) -> None:
        """A page holds what the table shows; the selected row stays selected."""
        if self.pager is None:
            return
        from core.data.inspect import PreviewPager

        table = self.query_one("#preview", DataTable)
        fits = self._fits()
        text_width = table.ordered_columns[-1].width if table.ordered_columns else 0
        if fits == self.pager.page_size and text_width == self._text_width():
            return
        selected = self.first_row + (table.cursor_row if getattr(self, "rows", None) else 0)
        self.pager = PreviewPager(self.app.dataset, page_size=fits)
        self.first_row = selected - selected % fits
        self._columns()
        self._show_page(cursor=selected % fits)

    @property
    def page_no(self) -> int:
        return self.first_row // self.pager.page_size

    def _show_page(self, cursor: int = 0) -> None:
        table = self.query_one("#preview", DataTable)
        table.clear()
        ds = self.app.dataset
        width = table.ordered_columns[-1].width if table.ordered_columns else 40
        self.rows = self.pager.page(self.page_no)
        for row in self.rows:
            text = one_line(row[ds.text_column])
            table.add_row(Text(f"{row['#']:,}", justify="right"), shown(row[ds.label_column]), text[:width])
        if self.rows:
            table.move_cursor(row=min(cursor, len(self.rows) - 1))
        self.query_one("#page-info", Static).update(f"page {self.page_no + 1:,} of {self.pager.n_pages:,}")
        goto = self.query_one("#goto", Input)
        if not goto.validators or goto.validators[0].maximum != max(1, self.pager.rows):
            goto.validators = [Integer(1, max(1, self.pager.rows), f"a row from 1 to {self.pager.rows:,}")]
        self._show_review()

    def action_page(self, delta: int) -> None:
        if self.pager is not None:
            page = min(max(0, self.page_no + delta), self.pager.n_pages - 1)
            self.first_row = page * self.pager.page_size
            self._show_page()

    @on(DataTable.RowHighlighted, "#preview")
    def _show_review(self) -> None:
        table = self.query_one("#preview", DataTable)
        rows = getattr(self, "rows", [])
        if not rows or table.cursor_row >= len(rows):
            self.query_one("#review-text", Static).update("")
            return
        ds = self.app.dataset
        row = rows[table.cursor_row]
        review = Text(f"row {row['#']:,} · {ds.label_column} {row[ds.label_column]} · ", style="bold")
        review.append(shown(row[ds.text_column]), style="not bold")
        self.query_one("#review-text", Static).update(review)
        review = self.query_one("#review", VerticalScroll)
        if review.scroll_y:
            review.scroll_home(animate=False)

    @on(DataTable.RowSelected, "#preview")
    def open_review(self) -> None:
        """Enter on a row: the whole review in a dialog (the pane below may be too short)."""
        table = self.query_one("#preview", DataTable)
        rows = getattr(self, "rows", [])
        if rows and table.cursor_row < len(rows):
            ds = self.app.dataset
            row = rows[table.cursor_row]
            self.app.push_screen(ReviewScreen(f"row {row['#']:,} · {ds.label_column} {row[ds.label_column]}",
                                              shown(row[ds.text_column])))

    def action_goto(self) -> None:
        self.query_one("#goto", Input).focus()

    def action_edge(self, last: int) -> None:
        if self.pager is None:
            return
        target = max(0, self.pager.rows - 1) if last else 0
        self.first_row = target - target % self.pager.page_size
        self._show_page(cursor=target % self.pager.page_size)

    def action_escape(self) -> None:
        tree = self.query_one("#tree")
        if tree.display:
            tree.display = False
            self.query_one(PathInput).focus()
        else:
            self.app.action_back()  # type: ignore[attr-defined]

    @on(Input.Submitted, "#goto")
    def goto_submitted(self, event: Input.Submitted) -> None:
        if self.pager is None:
            return
        if event.validation_result is not None and not event.validation_result.is_valid:
            self.app.notify("; ".join(event.validation_result.failure_descriptions), severity="warning")
            return
        if not event.value.strip().lstrip("-").isdigit():
            self.app.notify(f"go to row: type a row from 1 to {self.pager.rows:,}", severity="warning")
            return
        target = min(max(int(event.value), 1), max(1, self.pager.rows)) - 1
        self.first_row = target - target % self.pager.page_size
        self._show_page(cursor=target % self.pager.page_size)
        event.input.value = ""
        self.query_one("#preview", DataTable).focus()

    # -- columns and labels ----------------------------------------------------------------
    @on(Select.Changed)
    def columns_changed(self, event: Select.Changed) -> None:
        ds = self.app.dataset
        if ds is not None and event.value is Select.NULL:
            # a loaded dataset always has both columns: the blank entry would show none while the data
            # (and a build) keep the previous one, so the select goes back to it and says why
            kept = ds.text_column if event.select.id == "text-column" else ds.label_column
            self._show_columns(ds)
            self.app.notify(f"A {event.select.id.replace('-', ' ')} is needed: it stays {kept}.", severity="warning")
            return
        text = self.query_one("#text-column", Select).value
        label = self.query_one("#label-column", Select).value
        if isinstance(text, str) and isinstance(label, str) and ds is not None:
            if (text, label) != (ds.text_column, ds.label_column):
                self._start_load(text, label)

    @on(Input.Changed, "#labels")
    def labels_changed(self, event: Input.Changed) -> None:
        note = self.query_one("#labels-note", Static)
        result = event.validation_result
        bad = result is not None and not result.is_valid
        note.update(f"labels: {'; '.join(result.failure_descriptions)}" if bad else "")
        note.display = bad

    @on(Input.Submitted, "#labels")
    def labels_submitted(self) -> None:
        ds = self.app.dataset
        if ds is not None:
            self._start_load(ds.text_column, ds.label_column)

    # -- file tree -------------------------------------------------------------------------
    def action_tree(self) -> None:
        tree = self.query_one("#tree")
        tree.display = not tree.display
        if tree.display:
            tree.focus()

    @on(DirectoryTree.FileSelected)
    def file_chosen(self, event: DirectoryTree.FileSelected) -> None:
        self.query_one(PathInput).value = str(event.path)
        self.query_one("#tree").display = False
        self.action_load()

    def action_build(self) -> None:
        labels = self.query_one("#labels", Input)
        if not labels.is_valid:
            self.app.notify("Fix the labels field first (e.g. 1-5 or neg,neu,pos).", severity="warning")
            return
        if self.app.dataset is not None and labels.value.strip() != self.app.labels_spec:
            # the label set changed but was not applied yet: apply it before building
            self.labels_submitted()
            self.app.notify("Labels applied; press ctrl+b again once the summary is updated.")
            return
        self.app.action_open_build()

    def action_audit(self) -> None:
        """The reviews whose labels disagree with their text (the Audit screen)."""
        if self.app.dataset is None:
            self.app.notify("Load a dataset first.", severity="warning")
            return
        self.app.action_open_audit()
