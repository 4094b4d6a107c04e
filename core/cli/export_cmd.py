"""`startune export RUN --out DIR`: a run's evidence as plain files."""

from __future__ import annotations

from pathlib import Path

import click

from core.cli.console import option_json, plain, print_json, stdout_console


@click.command("export")
@click.argument("run")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder to write into (created if needed).")
@option_json()
def export_cmd(run: str, out_dir: Path, as_json: bool) -> None:
    """Write RUN's build manifest, run and job, events, result CSV, evaluations and every evaluation
    answer into --out, so the run can still be compared once its model is retired. Needs no backend."""
    from core.jobs.export import export_run
    from core.registry.db import Registry

    written = export_run(Registry(), run, out_dir)
    if as_json:
        print_json(written)
        return
    console = stdout_console()
    console.print(f"exported run {plain(written['run_id'])} to {plain(written['out'])}: {plain(', '.join(written['files']))}",
                  soft_wrap=True)
    for missing in written.get("missing", []):
        console.print(f"[yellow]not exported: {plain(missing)}[/]", soft_wrap=True)
