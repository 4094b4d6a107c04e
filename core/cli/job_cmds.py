"""`startune launch | follow | results | jobs | cancel | pause | resume`."""

from __future__ import annotations

from pathlib import Path

import click

from core.cli.console import option_json, plain, print_json, progress_bar, stderr_console, stdout_console
from core.cli.job_common import (
    backend_options,
    follow_job,
    launch_flags,
    launch_options_from_flags,
    print_estimate,
    run_async,
)
from core.jobs.records import as_record

launch_options = launch_flags()  # every declared launch option's flag (core/launch_options.py)


def build_launch_options(**kw):
    """The launch flags as LaunchOptions, by the rules the app's Launch screen and the backend use too."""
    return launch_options_from_flags(kw)


def interactive() -> bool:
    """A person at a terminal who can answer a question (never a script reading --json)."""
    import sys

    return sys.stdin.isatty() and sys.stderr.isatty()


async def launch_offering_cleanup(client, source, options, *, choice, registry, as_json: bool, **kw):
    """launch(); when the backend refuses to train and left this launch's files behind, ask (on a
    terminal) whether to delete them. --cleanup deletes them without asking."""
    from core.jobs.errors import TrainingNotAvailable
    from core.jobs.launch import delete_uploads, launch

    try:
        return await launch(client, source, options, choice=choice, registry=registry, **kw)
    except TrainingNotAvailable as exc:
        if not exc.uploaded or as_json or not interactive():
            raise
        stderr_console().print(f"[red]{plain(exc.message)}[/]", soft_wrap=True)
        if not click.confirm(f"delete the {len(exc.uploaded)} file(s) this launch uploaded?", default=True,
                             err=True):
            raise
        deleted = await delete_uploads(client, exc.uploaded, registry=registry, backend=choice.key)
        raise TrainingNotAvailable(f"fine-tuning is not available here; deleted {', '.join(deleted)}",
                                   status=exc.status, code=exc.code) from None


def _registry():
    from core.registry.db import Registry

    return Registry()


def _resolve(ref: str, backend_kind, base_url):
    """(choice, job id) for a run id, job id or run name; a job unknown to the registry is
    looked up on the chosen backend. A run's job lives on the run's backend."""
    from core.errors import ConfigError
    from core.jobs.backends import BackendChoice, resolve_backend

    run = _registry().find_run(ref)
    if run is None:
        return resolve_backend(backend_kind, base_url), ref
    choice = BackendChoice.from_key(run["backend"])
    if backend_kind is not None or base_url is not None:
        asked = resolve_backend(backend_kind, base_url)
        if asked.key != choice.key:
            raise ConfigError(f"run {ref!r} ran on the {run['backend']} backend, not {asked.key}",
                              hint=f"drop --backend/--base-url, or give the job id {run['job_id']}")
        choice = asked
    return choice, run["job_id"]


@click.command("launch")
@click.argument("source", type=click.Path(exists=True, path_type=Path))
@click.option("--validation", "validation_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="Validation JSONL (default: val.jsonl beside train.jsonl in a folder).")
@launch_options
@backend_options
@click.option("--follow/--no-follow", "then_follow", default=None,
              help="Follow the job until it ends (default: yes on the local backend, which trains only "
                   "while a startune process waits for it).")
@option_json()
@run_async
async def launch_cmd(source: Path, validation_file, backend_kind, base_url, then_follow, as_json, **kw) -> None:
    """Validate and upload SOURCE and create the fine-tuning job.

    SOURCE is a build folder from `startune prepare` (its files are checked against manifest.json),
    a folder holding train.jsonl [and val.jsonl], or your own training JSONL file.

    --json prints exactly one JSON document on stdout, {"run_id", "job", "events"}: when following,
    after the job ends (job is its final state, events every event of the job); messages go to stderr.
    """
    from core.jobs.backends import open_client, resolve_backend
    from core.launch_options import check_for_backend

    choice = resolve_backend(backend_kind, base_url)
    options = build_launch_options(**kw)
    check_for_backend(options, choice)  # before the client opens: the local backend starts in process
    follow = then_follow if then_follow is not None else choice.backend.follows_by_default
    registry = _registry()
    err = stderr_console()
    async with open_client(choice, train=follow) as client:
        with progress_bar(not as_json) as progress:
            run_id, job = await launch_offering_cleanup(
                                       client, source, options, choice=choice, registry=registry, progress=progress,
                                       validation_file=validation_file, as_json=as_json,
                                       on_estimate=lambda estimate: print_estimate(err, estimate))
        from core.status import describe

        launched = (f"launched [bold]{job['id']}[/] (run {run_id}) on {choice.describe()}: "
                    f"{job['model']}, status {describe(job['status'])}")
        (err if as_json else stdout_console()).print(launched, soft_wrap=True)
        events: list[dict] = []
        if follow:
            job, events = await _follow_or_explain(client, registry, choice, job["id"], run_id,
                                                   output="collect" if as_json else "human")
        elif choice.backend.trains_here:
            err.print(f"job {plain(job['id'])} waits: the local backend trains only while a startune process follows it; "
                      f"`startune follow {job['id']}` trains it, `startune cancel {job['id']}` cancels it",
                      soft_wrap=True)
    if as_json:
        print_json({"run_id": run_id, "job": job, "events": events})
    elif follow:
        _print_outcome(job)


async def _follow_or_explain(client, registry, choice, job_id: str, run_id: str, *, output: str,
                             since: str | None = None):
    """follow_job; an interruption says what was left running and how to continue or cancel it."""
    import asyncio

    try:
        return await follow_job(client, registry, choice, job_id, output=output, since=since)
    except (KeyboardInterrupt, asyncio.CancelledError):
        left_behind(job_id, run_id, choice)
        raise


def left_behind(job_id: str, run_id: str, choice) -> None:
    where = "the local backend trains it only while followed" if choice.backend.trains_here else "it keeps training"
    stderr_console().print(
        f"[yellow]interrupted: job {job_id} (run {run_id}) was left unfinished; {where}. "
        f"Continue: startune follow {job_id}  Cancel: startune cancel {job_id}[/]", soft_wrap=True)


@click.command("follow")
@click.argument("job")
@backend_options
@click.option("--since", "since", metavar="EVENT_ID", default=None,
              help="Start after this event (the last id you saw); default: the job's first event.")
@option_json()
@run_async
async def follow_cmd(job: str, backend_kind, base_url, since, as_json) -> None:
    """Show JOB's events (job id, run id or run name) from its first (or after --since), then follow
    it until it ends.

    A finished job shows its stored history. --json prints JSON Lines: one event per line on stdout,
    each once, oldest first; nothing else goes to stdout. A rerun with --since (the last id you got)
    continues the stream without a gap."""
    from core.cli.job_common import check_reachable
    from core.jobs.backends import open_client
    from core.status import TERMINAL

    choice, job_id = _resolve(job, backend_kind, base_url)
    registry = _registry()
    async with open_client(choice, train=False) as client:
        current = await check_reachable(client, job_id)
    # train in process only for a job that still needs it, never as a side effect of a look
    async with open_client(choice, train=current.get("status") not in TERMINAL) as client:
        run = registry.run_for_job(choice.key, job_id)
        final, _ = await _follow_or_explain(client, registry, choice, job_id, run["id"] if run else "-",
                                            output="lines" if as_json else "human", since=since)
    if not as_json:
        _print_outcome(final)


def _print_outcome(job: dict) -> None:
    console = stdout_console()
    status = job.get("status")
    if status == "succeeded":
        console.print(f"[green]succeeded[/]: [bold]{plain(job.get('fine_tuned_model'))}[/] "
                      f"({job.get('trained_tokens') or 0:,} trained tokens)")
    elif status == "failed":
        error = job.get("error") or {}
        console.print(f"[red]failed[/]: {plain(error.get('message'))} ({plain(error.get('code'))})")
    else:
        from core.status import describe

        console.print(describe(status))


@click.command("results")
@click.argument("job")
@backend_options
@click.option("--out", "out_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Where to save the result CSV (default: beside the run).")
@option_json()
@run_async
async def results_cmd(job: str, backend_kind, base_url, out_file, as_json) -> None:
    """Download JOB's result CSV (base64 or plain), save it and summarise it."""
    from core.jobs.backends import open_client
    from core.jobs.controls import attach
    from core.jobs.results import download_and_record

    choice, job_id = _resolve(job, backend_kind, base_url)
    registry = _registry()
    async with open_client(choice, train=False) as client:
        job_obj = as_record(await client.fine_tuning.jobs.retrieve(job_id))
        run_id = attach(registry, backend=choice.key, job=job_obj)
        table = await download_and_record(client, registry, run_id, job_obj, save_to=out_file)
        checkpoints = (await client.fine_tuning.jobs.checkpoints.list(job_id)).data
    if as_json:
        print_json(table.to_dict() | {"checkpoints": [c.model_dump(mode="json") for c in checkpoints]})
        return
    from core.cli.reports import render_results

    render_results(stdout_console(), job_obj, table, checkpoints)


@click.command("jobs")
@backend_options
@click.option("--limit", type=int, default=20, show_default=True)
@option_json()
@run_async
async def jobs_cmd(backend_kind, base_url, limit, as_json) -> None:
    """List the backend's fine-tuning jobs (also ones launched elsewhere)."""
    from core.jobs.backends import open_client, resolve_backend

    choice = resolve_backend(backend_kind, base_url)
    async with open_client(choice, train=False) as client:
        page = await client.fine_tuning.jobs.list(limit=limit)
    jobs = [as_record(j) for j in page.data]
    if as_json:
        print_json(jobs)
        return
    import time as _time

    from core.cli.reports import render_jobs
    from core.status import describe

    registry = _registry()
    rows = []
    for job in jobs:
        run = registry.run_for_job(choice.key, job["id"])
        rows.append({"job": job["id"], "run": (run["name"] or run["id"]) if run else "-", "model": job.get("model", ""),
                     "status": describe(job.get("status")), "fine-tuned model": job.get("fine_tuned_model") or "-",
                     "created": _time.strftime("%Y-%m-%d %H:%M", _time.localtime(job["created_at"]))})
    render_jobs(stdout_console(), choice.describe(), rows)


def _control(action: str):
    @click.command(action)
    @click.argument("job")
    @backend_options
    @option_json()
    @run_async
    async def command(job: str, backend_kind, base_url, as_json) -> None:
        from core.jobs.backends import open_client
        from core.jobs.controls import control

        choice, job_id = _resolve(job, backend_kind, base_url)
        async with open_client(choice, train=False) as client:
            job_obj = await control(client, _registry(), backend=choice.key, job_id=job_id, action=action)
        if as_json:
            print_json(job_obj)
        else:
            stdout_console().print(f"{plain(job_id)}: {plain(job_obj['status'])}")

    command.__doc__ = f"{action.capitalize()} JOB (job id, run id or run name)."
    return command


cancel_cmd = _control("cancel")
pause_cmd = _control("pause")
resume_cmd = _control("resume")
