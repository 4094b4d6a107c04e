"""`startune serve`: the local backend over HTTP."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import click

from core.errors import ConfigError


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=8765, show_default=True)
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where files, jobs and models live (default: startune's data folder).")
@click.option("--api-key", envvar="STARTUNE_SERVE_API_KEY", default=None,
              help="Require this bearer key (needed to listen beyond loopback). Env: STARTUNE_SERVE_API_KEY.")
@click.option("--pace", type=float, default=0.0, show_default=True, help="Seconds per training step, to watch curves grow.")
@click.option("--faults", default=None, help="Inject faults, e.g. '429=0.1,500=0.05,drop=0.02,latency=0.05'.")
@click.option("--deny-training", is_flag=True, help="Answer job creation with 403 training_not_available (rehearsal).")
@click.option("--azure", is_flag=True, help="Also answer in Azure OpenAI's shapes under /openai/ (api-version, "
                                            "deployments, trainingType, Azure's job statuses).")
def serve_cmd(host, port, data_dir, api_key, pace, faults, deny_training, azure) -> None:
    """Serve OpenAI's fine-tuning API on this machine; training runs locally."""
    import uvicorn

    from core.backend.app import create_app
    from core.backend.faults import FaultConfig
    from core.paths import local_backend_dir

    if not _is_loopback(host) and not api_key:
        raise ConfigError(f"refusing to listen on {host} without --api-key: anyone on the network could use it")
    directory = data_dir or local_backend_dir()
    app = create_app(directory, api_key=api_key, pace=pace, faults=FaultConfig.parse(faults),
                     deny_training=deny_training, azure=azure)
    click.echo(f"startune local backend on http://{host}:{port}/v1 (data: {directory})"
               + (f"; Azure endpoint http://{host}:{port}" if azure else "")
               + (" — bearer key required" if api_key else ""), err=True)
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning")
    finally:
        app.state.backend.runner.stop()
