"""Rich renderings of core results for the terminal."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from core.cli.console import plain


def _histogram(counts: dict[str, int], width: int = 30) -> Table:
    table = Table(show_header=False, box=None, padding=(0, 1))
    top = max(counts.values(), default=0) or 1
    total = sum(counts.values()) or 1
    for label, n in counts.items():
        bar = "█" * max(0, round(width * n / top))
        table.add_row(str(label), f"{n:>9,}", f"{100 * n / total:5.1f}%", f"[cyan]{bar}[/]")
    return table


def render_summary(console: Console, summary, rows: list[dict], page: int, pages: int) -> None:
    console.print(f"[bold]{plain(summary.source)}[/] ({plain(summary.format)}): {summary.rows:,} rows; "
                  f"columns: {', '.join(summary.columns)}")
    console.print(f"text column [bold]{plain(summary.text_column)}[/], label column [bold]{plain(summary.label_column)}[/]")
    console.print(_histogram(summary.label_histogram))
    problems = dict(summary.invalid_labels)
    if summary.empty_texts:
        problems["empty_text"] = summary.empty_texts
    if problems:
        console.print("problems: " + ", ".join(f"{k} {v:,}" for k, v in problems.items()))
    if summary.text_length:
        s = summary.text_length
        console.print(f"text length (chars): min {s['min']:,}, median {s['median']:,.0f}, mean {s['mean']:,.0f}, "
                      f"p90 {s['p90']:,.0f}, p99 {s['p99']:,.0f}, max {s['max']:,}")
    if summary.long_texts:
        from core.data.sizes import too_long

        listed = "; ".join(f"row {row:,}: {too_long(chars)}" for row, chars in summary.long_texts)
        console.print(f"[yellow]warning:[/] {plain(listed)} (prepare refuses such rows)")
    table = Table(title=f"page {page} of {pages:,}", title_justify="left")
    for col in rows[0].keys() if rows else []:
        table.add_column(str(col), overflow="fold", max_width=80 if col == summary.text_column else None)
    for row in rows:
        table.add_row(*(str(v).replace("\n", "⏎") for v in row.values()))
    console.print(table)


def render_build(console: Console, result) -> None:
    m = result.manifest
    c = m["cleaning"]
    console.print(f"[bold]{plain(m['input']['source'])}[/]: {c['rows_in']:,} rows read, {c['rows_out']:,} kept")
    dropped = {k: v for k, v in {
        "empty text": c["empty_text"], **{k.replace("_", " "): v for k, v in c["invalid_labels"].items()},
        "exact duplicates": c["exact_duplicates"], "duplicate texts": c["duplicate_texts"],
        "conflicting-label rows": c["conflict_rows_dropped"],
        "texts moved out of train/val (in a later split)": c["cross_split_duplicates_removed"],
    }.items() if v}
    if dropped:
        console.print("dropped: " + ", ".join(f"{k} {v:,}" for k, v in dropped.items())
                      + (f"; {c['conflicting_texts']:,} texts had conflicting labels" if c["conflicting_texts"] else ""))
    fixed = m.get("corrections")
    if fixed:
        console.print(f"corrections: {len(fixed['relabelled']):,} rows relabelled, {len(fixed['dropped']):,} dropped, "
                      f"{len(fixed['kept']):,} kept as labelled ({fixed['file']})")
    labels = m["options"]["labels"]
    table = Table(title=f"{result.out_dir} ({m['format']}, {m['options']['order']}, seed {m['seed']})",
                  title_justify="left")
    table.add_column("split")
    table.add_column("examples", justify="right")
    for label in labels:
        table.add_column(str(label), justify="right")
    for s in m["splits"].values():
        table.add_row(s["file"], f"{s['examples']:,}", *(f"{s['labels'][lab]:,}" for lab in labels))
    console.print(table)


def render_validation(console: Console, report, title: str | None = None, show_cost: bool = True) -> None:
    head = title or report.path
    status = "[green]ok[/]" if report.ok else f"[red]{sum(report.error_counts.values()):,} errors[/]"
    console.print(f"[bold]{plain(head)}[/]: {plain(report.format)}, {report.n_examples:,} examples for {plain(report.model)}: {status}")
    for code, n in report.error_counts.items():
        first = next((e for e in report.errors if e.code == code), None)
        console.print(f"  [red]{plain(code)}[/] x{n:,}" + (f"  first: {plain(first)}" if first else ""))
    for warning in report.warnings:
        console.print(f"  [yellow]warning:[/] {plain(warning)}")
    if report.token_stats:
        t = report.token_stats
        console.print(f"  tokens per example: min {t['min']:,}, median {t['median']:,.0f}, p90 {t['p90']:,.0f}, "
                      f"max {t['max']:,} (limit {report.max_example_tokens:,})")
        if show_cost and report.cost is not None:
            console.print(f"  default epochs {plain(report.default_epochs)}; est. cost {plain(report.cost.describe())}")


def fits(console: Console, renderable) -> bool:
    """Whether a table with unwrappable cells fits the console's width."""
    from rich.measure import Measurement

    unbounded = console.options.update(max_width=10_000)  # measured against the width, it would shrink to it
    return Measurement.get(console, unbounded, renderable).maximum <= console.width


def render_jobs(console: Console, title: str, rows: list[dict[str, str]]) -> None:
    """A table when it fits; otherwise one block per job, each id whole on its own line (ids are
    what the other commands take, so they are never cut or folded)."""
    table = Table(title=title, title_justify="left")
    for col in ("job", "run", "model", "status", "fine-tuned model", "created"):
        table.add_column(col, no_wrap=True)
    for row in rows:
        table.add_row(*row.values())
    if fits(console, table):
        console.print(table)
        return
    console.print(title, soft_wrap=True)
    for row in rows:
        console.print(f"[bold]{plain(row['job'])}[/]  {plain(row['status'])}  {plain(row['created'])}", soft_wrap=True)
        console.print(f"  run         {plain(row['run'])}", soft_wrap=True)
        console.print(f"  model       {plain(row['model'])}", soft_wrap=True)
        console.print(f"  fine-tuned  {plain(row['fine-tuned model'])}", soft_wrap=True)


def _metric(name: str, value: float) -> str:
    return _pct(value) if "accuracy" in name else f"{value:.4f}"


def render_results(console: Console, job: dict, table, checkpoints) -> None:
    console.print(f"[bold]{plain(job['id'])}[/] {plain(job.get('status'))}: {plain(job.get('fine_tuned_model') or '-')}", soft_wrap=True)
    if table.path:
        console.print(f"result CSV saved to {plain(table.path)} ({table.steps:,} steps, "
                      f"{len(table.rows):,} of them reported)", soft_wrap=True)
    summary = Table(show_header=True, caption=f"end: train metrics are the median of the last {table.end_window} "
                                               "reported steps (one batch is noisy)" if table.end_window > 1 else None)
    summary.add_column("metric")
    summary.add_column("first", justify="right")
    summary.add_column("end", justify="right")
    summary.add_column("best", justify="right")
    for name, values in table.summary().items():
        summary.add_row(name, *(_metric(name, values[k]) for k in ("first", "end", "best")))
    console.print(summary)
    for c in checkpoints or []:
        console.print(f"checkpoint step {c.step_number:,}: {plain(c.fine_tuned_model_checkpoint)}", soft_wrap=True)


def _pct(value) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def render_evaluations(console: Console, reports) -> None:
    def table_of(names: list[str]) -> Table:
        table = Table()
        table.add_column("model", no_wrap=True)
        for col in ("accuracy", "95% CI", "macro-F1", "MAE", "within 1", "unparseable"):
            table.add_column(col, justify="right", no_wrap=True)
        for name, report in zip(names, reports):
            m = report.metrics
            ci = m.get("ci95", {}).get("accuracy")
            table.add_row(name, _pct(m["accuracy"]), f"{_pct(ci[0])}-{_pct(ci[1])}" if ci else "-",
                          f"{m['macro_f1']:.3f}" if m["macro_f1"] is not None else "-",
                          f"{m['mae']:.2f}" if m["mae"] is not None else "-", _pct(m["within_one"]),
                          f"{m['unparseable']:,}")
        return table

    console.print(f"{plain(reports[0].data)}: {reports[0].metrics['n']:,} examples", soft_wrap=True)
    table = table_of([r.model for r in reports])
    if not fits(console, table):
        # long model ids do not fit beside the scores: number them, and list each id whole
        keys = [f"#{i}" for i in range(1, len(reports) + 1)]
        table = table_of(keys)
        for key, report in zip(keys, reports):
            console.print(f"{plain(key)} {plain(report.model)}", soft_wrap=True)
    console.print(table)
    for report in reports:
        if report.metrics.get("too_long"):
            console.print(f"{plain(report.model)}: {report.metrics['too_long']:,} examples longer than the model "
                          f"reads were refused (context_length_exceeded) and count as unparseable", soft_wrap=True)
    console.print("confusion matrices (rows: true label, columns: answer)")
    for report in reports:
        conf = report.metrics["confusion"]
        console.print(report.model, soft_wrap=True)
        matrix = Table()
        matrix.add_column("")
        for col in conf["columns"]:
            matrix.add_column(col if col != "unparseable" else "?", justify="right")
        for label, row in zip(conf["labels"], conf["matrix"]):
            top = max(row) or 1
            matrix.add_row(label, *(f"[{'bold green' if i == conf['labels'].index(label) else 'dim' if v < top else 'yellow'}]{v:,}[/]"
                                    for i, v in enumerate(row)))
        console.print(matrix)


def render_audit(console: Console, report, top: int) -> None:
    """The audit: the estimate, counts per label, the most likely mislabelled rows, the conflicting texts."""
    from rich.markup import escape

    console.print(f"[bold]{escape(report.source)}[/]: {report.rows_audited:,} cleaned rows audited "
                  f"({report.folds}-fold, out-of-sample accuracy {report.oof_accuracy:.1%})")
    console.print(f"estimated share of wrong labels [bold]{report.noisy_share:.1%}[/] · "
                  f"{report.flagged:,} rows flagged · {len(report.conflicts):,} texts seen with several labels")
    per = Table(box=None, pad_edge=False)
    for name in ("label", "rows", "flagged", "share", "suggested instead"):
        per.add_column(name, justify="left" if name in ("label", "suggested instead") else "right")
    for label, c in report.per_label.items():
        per.add_row(label, f"{c['rows']:,}", f"{c['flagged']:,}", f"{c['flagged_share']:.1%}",
                    " ".join(f"{k}:{v:,}" for k, v in c["suggested"].items()))
    console.print(per)
    if report.issues and top:
        table = Table(title=f"most likely mislabelled (top {min(top, report.flagged):,} of {report.flagged:,})",
                      title_justify="left", expand=True)
        table.add_column("row", justify="right", no_wrap=True)
        table.add_column("given", justify="center", no_wrap=True)
        table.add_column("sugg.", justify="center", no_wrap=True)
        table.add_column("conf.", justify="right", no_wrap=True)
        table.add_column("text", ratio=1, overflow="ellipsis", no_wrap=True)
        for issue in report.issues[:top]:
            table.add_row(f"{issue.row:,}", issue.given, issue.suggested, f"{issue.confidence:.2f}",
                          escape(issue.text.replace("\n", " ")))
        console.print(table)
    if report.conflicts and top:
        table = Table(title=f"texts seen with several labels (top {min(top, len(report.conflicts)):,} of "
                            f"{len(report.conflicts):,})", title_justify="left", expand=True)
        table.add_column("labels (rows)", no_wrap=True)
        table.add_column("first rows", no_wrap=True)
        table.add_column("text", ratio=1, overflow="ellipsis", no_wrap=True)
        for c in report.conflicts[:top]:
            table.add_row(" ".join(f"{k}:{v:,}" for k, v in c.labels.items()), ",".join(map(str, c.rows)),
                          escape(c.text.replace("\n", " ")))
        console.print(table)
    if report.issues:
        console.print("[dim]decide row by row in the app (startune tui DATASET, then ctrl+r); "
                      "prepare --corrections FILE applies the decisions[/]", soft_wrap=True)
