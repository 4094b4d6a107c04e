"""`startune serve`: the local backend over HTTP."""

from __future__ import annotations

import ipaddress
import math
from pathlib import Path

import click

from core.backend import devices
from core.errors import ConfigError

GRACE_SECONDS = 5  # on SIGTERM/Ctrl-C, requests in flight get this long to finish, then the server stops
SWITCH_INTERVAL = 0.0005


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def url_host(host: str) -> str:
    """The host as it goes in a URL: IPv6 addresses in brackets."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def _listen(host: str, port: int):
    """A listening socket, or one line saying why not (port taken, no such address, ...)."""
    import socket

    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        return socket.create_server((host, port), family=family, backlog=2048)
    except socket.gaierror as exc:
        raise ConfigError(f"cannot listen on {host}: {exc.strerror}", hint="check --host") from None
    except OSError as exc:
        hint = "another program uses it: pick another --port" if exc.errno == 98 else None
        raise ConfigError(f"cannot listen on {url_host(host)}:{port}: {exc.strerror}", hint=hint) from None


def _data_dir(path: Path) -> Path:
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".startune-write-test"
        probe.touch()
        probe.unlink()
    except OSError as exc:
        raise ConfigError(f"cannot use it as the data folder: {exc.strerror}", path=path,
                          hint="pass a folder you can write to with --data-dir") from None
    return path


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=8765, show_default=True)
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where files, jobs and models live (default: startune's data folder).")
@click.option("--api-key", envvar="STARTUNE_SERVE_API_KEY", default=None, show_envvar=True,
              help="Require this bearer key (needed to listen beyond loopback). Prefer the environment "
                   "variable: a flag shows in `ps`.")
@click.option("--pace", type=float, default=0.0, show_default=True, help="Seconds per training step, to watch curves grow.")
@click.option("--faults", default=None, help="Inject faults, e.g. '429=0.1,500=0.05,drop=0.02,latency=0.05'.")
@click.option("--deny-training", is_flag=True, help="Answer job creation with 403 training_not_available (rehearsal).")
@click.option(devices.FLAG, "devices_setting", envvar=devices.ENV, show_envvar=True, default=None, metavar="N|auto",
              help=devices.HELP)
@click.option("--azure", is_flag=True, help="Also answer in Azure OpenAI's shapes under /openai/ (api-version, "
                                            "deployments, trainingType, Azure's job statuses).")
def serve_cmd(host, port, data_dir, api_key, pace, faults, deny_training, devices_setting, azure) -> None:
    """Serve OpenAI's fine-tuning API on this machine; training runs locally."""
    import uvicorn

    from core.backend.app import create_app
    from core.backend.faults import FaultConfig
    from core.paths import local_backend_dir

    if not 0 < port < 65536:
        raise ConfigError(f"--port {port}: use a port from 1 to 65535")
    if not (math.isfinite(pace) and pace >= 0):
        raise ConfigError(f"--pace {pace}: use 0 or more seconds per step")
    if not _is_loopback(host) and not api_key:
        raise ConfigError(f"refusing to listen on {host} without --api-key: anyone on the network could use it",
                          hint="set STARTUNE_SERVE_API_KEY")
    fault_config = FaultConfig.parse(faults)
    device_setting = devices.parse(devices_setting, f"{devices.FLAG} (or {devices.ENV})")
    directory = _data_dir(Path(data_dir) if data_dir else local_backend_dir())
    sock = _listen(host, port)
    app = create_app(directory, api_key=api_key, pace=pace, faults=fault_config, deny_training=deny_training,
                     azure=azure, devices=device_setting)
    click.echo(f"startune local backend on http://{url_host(host)}:{port}/v1 (data: {directory})"
               + (f"; Azure endpoint http://{url_host(host)}:{port}" if azure else "")
               + (" — bearer key required" if api_key else ""), err=True)
    import sys

    from core.backend.slow_clients import config

    # long requests are scored on worker threads, in Python (the lexicon): at the default 5 ms switch
    # interval the event loop waits that long for the GIL at each step of a short request
    sys.setswitchinterval(SWITCH_INTERVAL)
    server = uvicorn.Server(config(app, log_level="warning", timeout_graceful_shutdown=GRACE_SECONDS))
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
        app.state.backend.runner.stop()
