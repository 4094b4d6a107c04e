"""The installed ``startune`` command: core's headless commands plus the terminal app (`startune tui
[DATASET]`, and bare `startune`). The app depends on core, never the other way round."""

from __future__ import annotations

import click

from core.choices import BACKEND_KINDS
from core.cli import APP_COMMAND, cli


@click.command(APP_COMMAND)
@click.argument("dataset", required=False)
@click.option("--backend", "backend_kind", type=click.Choice(BACKEND_KINDS), default=None)
@click.option("--base-url", default=None)
def tui_cmd(dataset: str | None = None, backend_kind=None, base_url=None) -> None:
    """Open the terminal app (on DATASET when given)."""
    from core.jobs.backends import resolve_backend
    from tui.app import create_app

    create_app(dataset=dataset, backend=resolve_backend(backend_kind, base_url)).run()


cli.add_command(tui_cmd)


def main(argv: list[str] | None = None) -> None:
    cli.main(args=argv, prog_name="startune")
