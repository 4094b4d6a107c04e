"""`startune audit`: the reviews whose labels disagree with their text, ranked."""

from __future__ import annotations

from pathlib import Path

import click

from core.choices import CONFLICT_POLICIES, DEFAULT_CONFLICT_POLICY, DEFAULT_SEED
from core.cli.console import option_json, plain, print_json, progress_bar, stderr_console, stdout_console
from core.cli.prepare_cmds import dataset_options

CSV_COLUMNS = ("rank", "row", "given", "suggested", "confidence", "p_suggested", "text_hash", "text")


@click.command("audit")
@click.argument("dataset")
@dataset_options
@click.option("--conflicts", type=click.Choice(CONFLICT_POLICIES), default=DEFAULT_CONFLICT_POLICY,
              show_default=True, help="Texts seen with different labels: which row is audited (as prepare keeps it).")
@click.option("--folds", type=click.IntRange(2, 20), default=5, show_default=True,
              help="Out-of-sample scores by k-fold: each row scored by a model that never saw its label.")
@click.option("--seed", type=int, default=DEFAULT_SEED, show_default=True)
@click.option("--top", type=click.IntRange(0), default=20, show_default=True,
              help="Flagged rows (and conflicting texts) shown; --out always writes every flagged row.")
@click.option("--out", "out_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write every flagged row as CSV (rank, row, given, suggested, confidence, ..., text).")
@option_json()
def audit_cmd(dataset: str, text_column, label_column, labels_spec, conflicts, folds, seed, top, out_file,
              as_json) -> None:
    """Find the rows of DATASET whose label most likely disagrees with their text (cleanlab, on
    out-of-sample scores of the default model's features), and the texts seen with several labels."""
    from core.data.audit import audit
    from core.data.labels import LabelSet

    with progress_bar(not as_json) as progress:
        report = audit(dataset, text_column=text_column, label_column=label_column,
                       labels=LabelSet.parse(labels_spec), conflict_policy=conflicts, folds=folds, seed=seed,
                       progress=progress)
    if out_file is not None:
        _write_csv(out_file, report)
    if as_json:
        print_json(report.to_dict(top=top) | ({"out": str(out_file)} if out_file else {}))
        return
    from core.cli.reports import render_audit

    render_audit(stdout_console(), report, top)
    if out_file is not None:
        stderr_console().print(f"{report.flagged:,} flagged rows written to {plain(out_file)}")


def _write_csv(path: Path, report) -> None:
    import csv
    import io

    from core.atomic import write_text

    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for rank, issue in enumerate(report.issues, 1):
        writer.writerow([rank, issue.row, issue.given, issue.suggested, f"{issue.confidence:.4f}",
                         f"{issue.p_suggested:.4f}", issue.text_hash, issue.text])
    try:
        write_text(path.expanduser(), buffer.getvalue(), private=False)  # the user's --out
    except OSError as exc:
        from core.errors import DataError

        raise DataError(f"cannot write: {exc.strerror}", path=path) from None
