"""Dataset: pick a file, check the detected columns, page through rows, see the star histogram."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from tui.screens.base import AppScreen
from textual.widgets import DataTable, DirectoryTree, Footer, Header, Label, Select, Static

from tui.widgets.charts import BarChart
from tui.widgets.path_input import PathInput

PAGE_SIZE = 50
TEXT_WIDTH = 200  # characters of each review shown; the rest is cut


class DatasetScreen(AppScreen):
    BINDINGS = [
        Binding("ctrl+o", "load", "Load"),
        Binding("ctrl+t", "tree", "File tree"),
        Binding("pageup", "page(-1)", "Prev page"),
        Binding("pagedown", "page(1)", "Next page"),
        Binding("ctrl+b", "build", "Build"),
    ]

    def __init__(self, path: Path | None = None) -> None:
        super().__init__()
        self.initial = path
        self.pager = None
        self.page_no = 0

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="dataset-top"):
            yield PathInput(str(self.initial or ""), id="path")
        with Horizontal(id="dataset-columns"):
            yield Label("text")
            yield Select([], id="text-column", prompt="text column", allow_blank=True)
            yield Label("label")
            yield Select([], id="label-column", prompt="label column", allow_blank=True)
        with Horizontal(id="dataset-body"):
            yield DirectoryTree(Path.cwd(), id="tree")
            with Vertical(id="dataset-main"):
                yield Static("Type a path and press enter (ctrl+t: file tree).", id="dataset-summary", classes="status-line")
                yield DataTable(id="preview", zebra_stripes=True)
                yield Static("", id="page-info", classes="hint")
            yield BarChart("Labels", id="histogram")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#tree").display = False
        if self.initial is not None:
            self.action_load()
        elif self.app.dataset is not None:
            self.query_one(PathInput).value = self.app.dataset.source
            self._loaded(self.app.dataset, None)

    @on(PathInput.Submitted)
    def action_load(self, text_column: str | None = None, label_column: str | None = None) -> None:
        path = self.query_one(PathInput).value.strip()
        if path:
            self.query_one("#dataset-summary", Static).update(f"Loading {path} ...")
            self._load(path, text_column, label_column)

    @work(thread=True, exclusive=True, group="dataset", exit_on_error=False)
    def _load(self, path: str, text_column: str | None, label_column: str | None) -> None:
        from core.data.clean import clean
        from core.data.inspect import summarise
        from core.data.labels import LabelSet
        from core.data.load import load_dataset
        from core.errors import StartuneError

        try:
            ds = load_dataset(path, text_column=text_column, label_column=label_column)
            summary = summarise(ds)
            _, report = clean(ds.frame, ds.text_column, ds.label_column, LabelSet())
        except StartuneError as exc:
            self.app.call_from_thread(self.query_one("#dataset-summary", Static).update, f"[red]{exc}[/]")
            raise
        self.app.call_from_thread(self._loaded, ds, (summary, report))

    def _loaded(self, ds, details) -> None:
        from core.data.inspect import PreviewPager

        self.app.dataset = ds
        columns = [(c, c) for c in ds.frame.columns]
        for select_id, value in (("#text-column", ds.text_column), ("#label-column", ds.label_column)):
            select = self.query_one(select_id, Select)
            with select.prevent(Select.Changed):
                select.set_options(columns)
                select.value = value
        self.pager = PreviewPager(ds, page_size=PAGE_SIZE)
        self.page_no = 0
        table = self.query_one("#preview", DataTable)
        table.clear(columns=True)
        # fixed widths: columns do not jump while paging, and no page has to be measured first
        table.add_column("#", key="#", width=len(f"{len(ds.frame):,}"))
        table.add_column(ds.label_column, key="label", width=max(5, len(ds.label_column)))
        table.add_column(ds.text_column, key="text", width=TEXT_WIDTH)
        self._show_page()
        if details is not None:
            summary, report = details
            problems = [f"{summary.empty_texts:,} empty"] + [f"{n:,} {k.replace('_', ' ')}" for k, n in summary.invalid_labels.items()]
            self.query_one("#dataset-summary", Static).update(
                f"[b]{Path(ds.source).name}[/] {summary.rows:,} rows · text [b]{ds.text_column}[/] · label "
                f"[b]{ds.label_column}[/] · {', '.join(problems)} · {report.exact_duplicates:,} exact duplicates · "
                f"{report.duplicate_texts:,} repeated texts · {report.conflicting_texts:,} texts with conflicting labels "
                f"· {report.rows_out:,} usable")
            self.query_one(BarChart).show({"all": summary.label_histogram})

    def _show_page(self) -> None:
        table = self.query_one("#preview", DataTable)
        table.clear()
        ds = self.app.dataset
        for row in self.pager.page(self.page_no):
            text = str(row[ds.text_column]).replace("\n", " ⏎ ")
            table.add_row(Text(f"{row['#']:,}", justify="right"), row[ds.label_column], text[:TEXT_WIDTH])
        self.query_one("#page-info", Static).update(
            f"page {self.page_no + 1:,} of {self.pager.n_pages:,} (page up / page down)")

    def action_page(self, delta: int) -> None:
        if self.pager is not None:
            self.page_no = min(max(0, self.page_no + delta), self.pager.n_pages - 1)
            self._show_page()

    @on(Select.Changed)
    def columns_changed(self, event: Select.Changed) -> None:
        text = self.query_one("#text-column", Select).value
        label = self.query_one("#label-column", Select).value
        if isinstance(text, str) and isinstance(label, str) and self.app.dataset is not None:
            if (text, label) != (self.app.dataset.text_column, self.app.dataset.label_column):
                self.action_load(text, label)

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
        self.app.action_open_build()
