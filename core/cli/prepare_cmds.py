"""`startune inspect` and `startune prepare`."""

from __future__ import annotations

from pathlib import Path

import click

from core.records.manifest import BuildManifest

from core.choices import (
    CONFLICT_POLICIES,
    DEFAULT_CONFLICT_POLICY,
    DEFAULT_ENGINE,
    DEFAULT_FORMAT,
    DEFAULT_FRACTIONS,
    DEFAULT_LABELS,
    DEFAULT_ORDER,
    DEFAULT_SEED,
    DEFAULT_SEPARATOR,
    ENGINES,
    FORMATS,
    ORDERS,
    escaped,
)
from core.cli.console import option_json, plain, print_json, progress_bar, stderr_console, stdout_console


def dataset_options(f):
    for opt in reversed([
        click.option("--text-column", help="Column holding the review text (detected when omitted)."),
        click.option("--label-column", help="Column holding the label (detected when omitted)."),
        click.option("--labels", "labels_spec", default=DEFAULT_LABELS, show_default=True,
                     help="Allowed labels: a range '1-5' or a list 'neg,neu,pos'."),
    ]):
        f = opt(f)
    return f


def prepare_options(f):
    for opt in reversed([
        click.option("--split-column", help="Use this column's train/val/test values instead of splitting."),
        click.option("--dedup/--no-dedup", default=True, show_default=True, help="Drop duplicate texts."),
        click.option("--conflicts", type=click.Choice(CONFLICT_POLICIES), default=DEFAULT_CONFLICT_POLICY,
                     show_default=True, help="Texts seen with different labels."),
        click.option("--split", "fractions", default=DEFAULT_FRACTIONS, show_default=True,
                     help="Train,val,test fractions."),
        click.option("--seed", default=str(DEFAULT_SEED), show_default=True,
                     help="Split and sampling seed: a whole number from 0 to 2147483647."),
        click.option("--stratify/--no-stratify", default=False, show_default=True,
                     help="Keep label proportions in every split."),
        click.option("--samples", "samples_spec", default=None,
                     help="Examples per split: N for all, or train=N,val=N,test=N."),
        click.option("--balance", default=None, help="'equal' per label, or a per-label cap N."),
        click.option("--order", type=click.Choice(ORDERS), default=DEFAULT_ORDER, show_default=True),
        click.option("--format", "fmt", type=click.Choice(FORMATS), default=DEFAULT_FORMAT,
                     show_default=True, help="completion is a legacy export (babbage/davinci no longer train)."),
        click.option("--system-prompt", default=None, help="System message for chat records (none by default)."),
        click.option("--separator", default=escaped(DEFAULT_SEPARATOR), show_default=True,
                     help="End of each prompt (completion format); backslash escapes allowed."),
        click.option("--stop", default=None, help="Appended to each completion (completion format)."),
    ]):
        f = opt(f)
    return f


def warn_about_build(console, manifest: BuildManifest) -> None:
    from core.data.notices import build_warnings

    warnings = manifest["warnings"] if "warnings" in manifest else build_warnings(manifest)
    for warning in warnings:
        console.print(f"[bold yellow]warning:[/] {plain(warning)}", soft_wrap=True)


def build_options(**kw):
    """PrepareOptions from the click options shared by prepare and run."""
    from core.data.options import options_from_strings

    return options_from_strings(**kw)


@click.command("inspect")
@click.argument("dataset")
@dataset_options
@click.option("--page", type=int, default=1, show_default=True, help="Preview page (1-based).")
@click.option("--page-size", type=int, default=10, show_default=True)
@option_json()
def inspect_cmd(dataset: str, text_column, label_column, labels_spec, page, page_size, as_json) -> None:
    """Rows, columns, label histogram, text lengths and a page of DATASET."""
    from core.data.inspect import PreviewPager, summarise
    from core.data.labels import LabelSet
    from core.data.load import load_dataset

    with progress_bar(not as_json) as progress:
        ds = load_dataset(dataset, text_column=text_column, label_column=label_column, progress=progress)
    from core.errors import ConfigError

    if page_size < 1:
        raise ConfigError(f"--page-size {page_size}: give at least 1")
    summary = summarise(ds, LabelSet.parse(labels_spec))
    pager = PreviewPager(ds, page_size=page_size)
    if not 1 <= page <= pager.n_pages:
        raise ConfigError(f"--page {page}: {dataset} has pages 1 to {pager.n_pages:,} "
                          f"({page_size:,} rows each)")
    rows = pager.page(page - 1)
    if as_json:
        print_json(summary.to_dict() | {"page": page, "pages": pager.n_pages, "preview": rows})
        return
    from core.cli.reports import render_summary

    render_summary(stdout_console(), summary, rows, page, pager.n_pages)


@click.command("prepare")
@click.argument("dataset")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for train/val/test.jsonl and manifest.json.")
@dataset_options
@prepare_options
@click.option("--model", default=None, help="Model to validate and price for (default gpt-4o-mini).")
@click.option("--engine", type=click.Choice(ENGINES), default=DEFAULT_ENGINE, show_default=True,
              help="memory: in RAM (up to a few million rows); duckdb: out of core, for files larger than "
                   "memory (other split and order for the same seed); auto: duckdb for a file over 1/8 of RAM.")
@click.option("--tokens/--no-tokens", "count_tokens", default=None,
              help="Count every example's tokens (for the example limit and the price). Default: only for a build "
                   "meant for a backend that bills by token (OpenAI, Azure, a compatible server); a build for the "
                   "local backend skips them, and its manifest says so.")
@click.option("--corrections", "corrections", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Decisions about flagged rows (the app's audit saves them beside the dataset as "
                   "NAME.startune-corrections.json): relabel or drop those rows; recorded in the manifest.")
@option_json()
def prepare_cmd(dataset: str, out_dir: Path, model, engine, count_tokens, corrections, as_json, **kw) -> None:
    """Clean, split, sample, order and write DATASET as fine-tuning JSONL, then validate it."""
    from core.memory import return_freed_memory

    return_freed_memory()
    from core.jobs.build import build
    from core.registry.db import Registry

    options = build_options(**kw)
    if count_tokens is None:
        from core.errors import ConfigError
        from core.jobs.backends import resolve_backend, tokens_matter

        try:
            count_tokens = tokens_matter(resolve_backend(), model)
        except ConfigError:  # a broken backend setting is the launch's to report; count, to be safe
            count_tokens = True
    with progress_bar(not as_json) as progress:
        # validated as written (exact token counts from memory), not by reading the files back
        built = build(dataset, out_dir, options, engine=engine, model=model, count_tokens=count_tokens,
                      corrections=corrections, registry=Registry(), progress=progress)
        result, reports = built.result, built.validation
    assert result is not None   # build() builds afresh; only reuse_or_build may find an earlier one
    warn_about_build(stderr_console(), result.manifest)
    if corrections is None:
        from core.data.corrections import load_for

        try:
            decided, where = load_for(result.manifest["input"]["source"])
        except Exception:  # noqa: BLE001 - a broken decisions file is the audit's to report, not this build's
            decided, where = None, None
        if decided is not None and decided.decisions:
            stderr_console().print(f"[yellow]note:[/] {len(decided.decisions):,} audit decisions saved in {plain(where)} "
                                   f"were not applied (--corrections {where} applies them)", soft_wrap=True)
    if not count_tokens:
        stderr_console().print("[dim]tokens not counted: a build for the local backend, which does not bill by "
                               "token (--tokens counts them; a launch to OpenAI or Azure counts them itself)[/]")
    if as_json:
        print_json({"out_dir": str(result.out_dir), "manifest": result.manifest,
                    "validation": {k: r.to_dict() for k, r in reports.items()}})
        return
    from core.cli.reports import render_build, render_validation

    console = stdout_console()
    render_build(console, result)
    for name, report in reports.items():
        # validation files are not billed, so only train gets a price
        render_validation(console, report, title=f"{name}.jsonl", show_cost=name == "train")
    if options.format == "completion":
        from core.records.formats import COMPLETION_FORMAT_NOTE

        stderr_console().print(f"[yellow]note:[/] {plain(COMPLETION_FORMAT_NOTE)}")
