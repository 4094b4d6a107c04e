"""What the job commands share: backend flags, a client for the chosen backend, live following."""

from __future__ import annotations

import asyncio
import functools
import time

import click

from core.choices import BACKEND_KINDS
from core.cli.console import plain, print_json_line, stderr_console, stdout_console
from core.jobs.records import as_record


def backend_options(f):
    f = click.option("--base-url", default=None, help="Any OpenAI-compatible server (implies --backend compatible).")(f)
    f = click.option("--backend", "backend_kind", type=click.Choice(BACKEND_KINDS),
                     default=None, help="Default: settings file, else OpenAI/Azure when a key is set, else local.")(f)
    return f


def option_flag(option, help: str | None = None):
    """The click flag of a declared launch option (core/launch_options.py): its values are read by the
    option's own rule (Option.parse), so a refusal is the line the app and the backend give too."""
    text = help or option.help
    if option.kind == "switch":
        return click.option(option.flag, option.param, is_flag=True, help=text)
    if option.kind == "choice":  # read by the option's rule, not click.Choice: one refusal, the app's too
        return click.option(option.flag, option.param, metavar="[" + "|".join(option.typed_words) + "]",
                            default=option.default if isinstance(option.default, str) else None,
                            show_default=isinstance(option.default, str), help=text)
    auto = option.kind in ("whole", "number")
    return click.option(option.flag, option.param, default="auto" if auto else None, show_default=auto, help=text)


def launch_flags(*names: str, help: dict[str, str] | None = None):
    """A decorator adding the flags of the launch options ``names`` (all with a flag when none is named)."""
    from core.launch_options import BY_NAME, OPTIONS

    chosen = [BY_NAME[n] for n in names] if names else [o for o in OPTIONS if o.flag]

    def decorate(f):
        for option in reversed(chosen):
            f = option_flag(option, (help or {}).get(option.name))(f)
        return f

    return decorate


def launch_options_from_flags(kw: dict):
    """LaunchOptions from the flags launch_flags() added (other parameters in ``kw`` are left alone)."""
    from core.launch_options import OPTIONS, options_from_strings

    return options_from_strings(**{o.param: kw[o.param] for o in OPTIONS if o.flag and o.param in kw})


def print_estimate(err, estimate) -> None:
    """The estimate before a launch: its cost and, for a local transformer job, the calibrated time."""
    err.print(f"estimated cost: {estimate.describe()}", soft_wrap=True, markup=False, emoji=False)
    duration = estimate.describe_duration()
    if duration:
        err.print(duration, soft_wrap=True, markup=False, emoji=False)
    for line in estimate.advice:
        err.print(f"warning: {line}", style="yellow", soft_wrap=True, markup=False, emoji=False)


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


def status_text(job: dict, series, elapsed: float, width: int = 80):
    """The live status line: one terminal line of ``width`` (cut at the end, never wrapped)."""
    from rich.text import Text

    parts = [f"{job.get('status', '...')}"]
    if series.total_steps:
        parts.append(f"step {series.last_step:,}/{series.total_steps:,}")
    for label, key, fmt in (("train loss", "train_loss", "{:.3f}"), ("valid loss", "valid_loss", "{:.3f}"),
                            ("valid acc", "valid_mean_token_accuracy", "{:.1%}")):
        value = series.last(key)
        if value is not None:
            parts.append(f"{label} {fmt.format(value)}")
    parts.append(f"{elapsed:.0f}s")
    text = Text(" · ".join(parts), style="bold cyan", no_wrap=True, overflow="ellipsis")
    text.truncate(max(10, width - 1), overflow="ellipsis")
    return text


async def check_reachable(client, job_id: str) -> dict:
    """The job, fetched once with the SDK's own bounded retries: an unreachable backend or an
    unknown job becomes one line now instead of an endless poll."""
    job = await client.with_options(max_retries=2, timeout=20.0).fine_tuning.jobs.retrieve(job_id)
    return as_record(job)


async def check_backend_reachable(client) -> None:
    """One bounded request before a long run of them: an unreachable backend is one line within
    seconds. Only connection failures count; a server without /models is fine."""
    import openai

    try:
        await client.with_options(max_retries=2, timeout=20.0).models.list()
    except (openai.APIConnectionError, openai.APITimeoutError):
        raise
    except openai.OpenAIError:
        pass


async def follow_job(client, registry, choice, job_id: str, *, output: str = "human", history: bool = True,
                     quiet_metrics: bool = True, since: str | None = None) -> tuple[dict, list[dict]]:
    """Follow to a terminal status; returns (final job, every event of the job shown or collected).

    history: the job's whole stream from its first event (or after event ``since``), so a finished job
    shows its story and a rerun after any interruption shows every event.
    output "human": messages on stdout, metrics summarised in a live line on stderr.
    output "lines": each event once as a JSON line on stdout (JSON Lines), nothing else there.
    output "collect": nothing on stdout (the caller prints one JSON document at the end)."""
    from rich.live import Live

    from core.jobs.series import MetricSeries
    from core.jobs.track import track

    intervals = choice.backend.poll_intervals()
    series = MetricSeries()
    out, err = stdout_console(), stderr_console()
    started = time.monotonic()
    state: dict[str, dict] = {"job": {}}
    shown: list[dict] = []
    shown_ids: set[str] = set()

    def show(event: dict) -> None:
        if event.get("id") in shown_ids:
            return
        shown_ids.add(str(event.get("id")))
        shown.append(event)
        series.add(event)
        if output == "lines":
            print_json_line(event)
        elif output == "human" and not (quiet_metrics and event.get("type") == "metrics"
                                        and series.last_step != series.total_steps):
            out.print(event_line(event), style=level_style(event.get("level", "info")))

    def on_job(job: dict) -> None:
        state["job"] = job

    def on_retry(exc, wait: float) -> None:
        import openai

        what = "backend unreachable" if isinstance(exc, openai.APIConnectionError) else "backend busy"
        err.print(f"[yellow]{plain(what)} ({plain(exc.__class__.__name__)}); retrying in {wait:.1f}s[/]")

    live = Live(status_text({}, series, 0, err.width), console=err, transient=True, refresh_per_second=4,
                auto_refresh=err.is_terminal) if err.is_terminal else None
    try:
        if live is not None:
            live.start()
        async for event in track(client, registry, backend=choice.key, job_id=job_id, intervals=intervals,
                                 on_job=on_job, on_retry=on_retry, replay=history, since=since):
            show(event)
            if live is not None:
                live.update(status_text(state["job"], series, time.monotonic() - started, err.width))
    finally:
        if live is not None:
            live.stop()
    return state["job"], shown
