"""What the job commands share: backend flags, a client for the chosen backend, live following."""

from __future__ import annotations

import asyncio
import functools
import time

import click

from core.cli.console import print_json_line, stderr_console, stdout_console


def backend_options(f):
    f = click.option("--base-url", default=None, help="Any OpenAI-compatible server (implies --backend compatible).")(f)
    f = click.option("--backend", "backend_kind", type=click.Choice(["local", "openai", "azure", "compatible"]),
                     default=None, help="Default: settings file, else OpenAI/Azure when a key is set, else local.")(f)
    return f


def run_async(fn):
    """Run an async command body; API errors become one line (never a traceback, never a key)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        import openai

        from core.jobs.errors import explain

        try:
            return asyncio.run(fn(*args, **kwargs))
        except openai.OpenAIError as exc:
            raise explain(exc) from None

    return wrapper


def level_style(level: str) -> str:
    return {"error": "red", "warn": "yellow"}.get(level, "")


def event_line(event: dict) -> str:
    stamp = time.strftime("%H:%M:%S", time.localtime(event.get("created_at") or 0))
    return f"[dim]{stamp}[/] {event.get('message', '')}"


async def follow_job(client, registry, choice, job_id: str, *, as_json: bool, quiet_metrics: bool = True,
                     since: str | None = None) -> dict:
    """Follow to a terminal status, printing the job's whole stream from the start (or after event
    ``since``), so a rerun after any interruption shows every event. --json: each event once as a JSON
    line on stdout, nothing else there. Otherwise: messages on stdout (metrics summarised in a live
    status line on stderr)."""
    from rich.live import Live
    from rich.text import Text

    from core.jobs.retry import PollIntervals
    from core.jobs.series import MetricSeries
    from core.jobs.track import track

    intervals = PollIntervals.fast() if choice.kind == "local" else PollIntervals()
    series = MetricSeries.from_events(registry.events(choice.key, job_id))
    out, err = stdout_console(), stderr_console()
    started = time.monotonic()
    state = {"job": {}}

    def status_line() -> Text:
        job = state["job"]
        parts = [f"{job.get('status', '...')}"]
        if series.total_steps:
            parts.append(f"step {series.last_step}/{series.total_steps}")
        for label, key in (("train loss", "train_loss"), ("valid loss", "valid_loss"),
                           ("valid acc", "valid_mean_token_accuracy")):
            value = series.last(key)
            if value is not None:
                parts.append(f"{label} {value:.3f}")
        parts.append(f"{time.monotonic() - started:.0f}s")
        return Text(" · ".join(parts), style="bold cyan")

    def on_job(job: dict) -> None:
        state["job"] = job

    def on_retry(exc, wait: float) -> None:
        import openai

        what = "backend unreachable" if isinstance(exc, openai.APIConnectionError) else "backend busy"
        err.print(f"[yellow]{what} ({exc.__class__.__name__}); retrying in {wait:.1f}s[/]")

    live = Live(status_line(), console=err, transient=True, refresh_per_second=4,
                auto_refresh=err.is_terminal) if err.is_terminal else None
    try:
        if live is not None:
            live.start()
        async for event in track(client, registry, backend=choice.key, job_id=job_id, intervals=intervals,
                                 on_job=on_job, on_retry=on_retry, replay=True, since=since):
            series.add(event)
            if as_json:
                print_json_line(event)
            elif not (quiet_metrics and event.get("type") == "metrics" and series.last_step != series.total_steps):
                out.print(event_line(event), style=level_style(event.get("level", "info")))
            if live is not None:
                live.update(status_line())
    finally:
        if live is not None:
            live.stop()
    return state["job"]
