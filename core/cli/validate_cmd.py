"""`startune validate`."""

from __future__ import annotations

from pathlib import Path

import click

from core.cli.console import option_json, print_json, progress_bar, stdout_console


@click.command("validate")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--model", default=None, help="Target model (its encoding, limits, price). Default gpt-4o-mini.")
@click.option("--epochs", type=int, default=None, help="Epochs for the cost estimate (default: OpenAI's heuristic).")
@option_json()
def validate_cmd(file: Path, model, epochs, as_json) -> None:
    """Check FILE as OpenAI would: format errors, token counts, limits, cost. Exit 1 when it has errors."""
    from core.validation.validate import validate_file

    with progress_bar(not as_json) as progress:
        report = validate_file(file, model, progress=progress, n_epochs=epochs)
    if as_json:
        print_json(report.to_dict())
    else:
        from core.cli.reports import render_validation

        render_validation(stdout_console(), report)
    if not report.ok:
        raise SystemExit(1)
