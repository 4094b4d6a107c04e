"""The installed ``startune`` command: core's headless commands plus the terminal app (`startune tui
[DATASET]`, and bare `startune`). The app depends on core, never the other way round."""

from __future__ import annotations

import click

from core.choices import BACKEND_KINDS
from core.cli import APP_COMMAND, cli, run_and_leave


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


WEB_HELP = """Open the app in a browser: each browser tab gets its own app, all on the same registry.

\b
It listens on 127.0.0.1 by default. From a laptop, tunnel to the remote box and open the page locally:
  ssh -N -L 8766:127.0.0.1:8766 user@box      (then, on the box: startune web)
  open http://127.0.0.1:8766/ on the laptop
To listen beyond loopback (--host 0.0.0.0), the page needs a key in its URL: set STARTUNE_WEB_KEY
(or --key), or one is made and printed; traffic is plain HTTP, so prefer the tunnel."""


@click.command("web", help=WEB_HELP)
@click.argument("dataset", required=False)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(0, 65535), default=8766, show_default=True)
@click.option("--key", envvar="STARTUNE_WEB_KEY", default=None, show_envvar=True,
              help="Require ?key=KEY in the page's URL (always, beyond loopback).")
@click.option("--backend", "backend_kind", type=click.Choice(BACKEND_KINDS), default=None)
@click.option("--base-url", default=None)
def web_cmd(dataset, host, port, key, backend_kind, base_url) -> None:
    from core.cli.serve_cmd import _is_loopback, _listen, url_host
    from core.jobs.backends import resolve_backend

    resolve_backend(backend_kind, base_url)  # a wrong choice is one line now, not in every browser tab
    try:
        from tui.web import WebServer, app_command, new_key
    except ImportError as exc:
        raise click.ClickException(f"startune web needs textual-serve ({exc.name} is missing): "
                                   "pip install 'startune[web]'") from None
    if key is None and not _is_loopback(host):
        key = new_key()
    args = ([dataset] if dataset else []) + (["--backend", backend_kind] if backend_kind else []) + (
        ["--base-url", base_url] if base_url else [])
    sock = _listen(host, port)
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    url = f"http://{url_host(shown)}:{sock.getsockname()[1]}/" + (f"?key={key}" if key else "")
    click.echo(f"startune web on {url} (Ctrl+C stops it)", err=True)
    WebServer(app_command(args), key=key).run(sock)


cli.add_command(web_cmd)


def main(argv: list[str] | None = None) -> None:
    run_and_leave(cli, argv)
