"""`startune launch | follow | results | jobs | cancel | pause | resume`."""

from __future__ import annotations

from pathlib import Path

import click

from core.cli.console import option_json, print_json, progress_bar, stderr_console, stdout_console
from core.cli.job_common import backend_options, follow_job, run_async


def launch_options(f):
    for opt in reversed([
        click.option("--model", default=None, help="Base model (default: the backend's; local: startune-local)."),
        click.option("--epochs", "n_epochs", default="auto", show_default=True, help="n_epochs: 1-50 or auto."),
        click.option("--batch-size", default="auto", show_default=True, help="1-256 or auto."),
        click.option("--lr-multiplier", "learning_rate_multiplier", default="auto", show_default=True,
                     help="Learning-rate multiplier (> 0) or auto."),
        click.option("--suffix", default=None, help="Up to 64 characters in the fine-tuned model's name."),
        click.option("--job-seed", "job_seed", type=int, default=None, help="Training seed (same seed, same run)."),
        click.option("--no-validation", is_flag=True, help="Do not upload val.jsonl."),
        click.option("--max-cost", type=float, default=None, help="Refuse to launch above this estimate (USD)."),
        click.option("--name", default=None, help="Run name in the registry."),
        click.option("--wandb-project", default=None, help="Pass a Weights & Biases integration to the job."),
    ]):
        f = opt(f)
    return f


def build_launch_options(**kw):
    from core.cli_values import auto_or
    from core.jobs.launch import LaunchOptions

    integrations = None
    if kw.get("wandb_project"):
        integrations = [{"type": "wandb", "wandb": {"project": kw["wandb_project"]}}]
    return LaunchOptions(
        model=kw.get("model"), n_epochs=auto_or(kw.get("n_epochs"), int), batch_size=auto_or(kw.get("batch_size"), int),
        learning_rate_multiplier=auto_or(kw.get("learning_rate_multiplier"), float), suffix=kw.get("suffix"),
        seed=kw.get("job_seed"), validation=not kw.get("no_validation"), max_cost=kw.get("max_cost"),
        name=kw.get("name"), integrations=integrations)


def _registry():
    from core.registry.db import Registry

    return Registry()


def _resolve(ref: str, backend_kind, base_url):
    """(choice, job id) for a run id, job id or run name; a job unknown to the registry is
    looked up on the chosen backend."""
    from core.jobs.backends import BackendChoice, resolve_backend

    run = _registry().find_run(ref)
    if run is not None and backend_kind is None and base_url is None:
        kind, _, url = run["backend"].partition(":")
        return BackendChoice(kind, url or None), run["job_id"]
    return resolve_backend(backend_kind, base_url), ref


@click.command("launch")
@click.argument("build_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@launch_options
@backend_options
@click.option("--follow/--no-follow", "then_follow", default=None,
              help="Follow the job after creating it (default: yes on the local backend).")
@option_json()
@run_async
async def launch_cmd(build_dir: Path, backend_kind, base_url, then_follow, as_json, **kw) -> None:
    """Upload BUILD_DIR's files and create the fine-tuning job."""
    from core.jobs.backends import open_client, resolve_backend
    from core.jobs.launch import launch

    choice = resolve_backend(backend_kind, base_url)
    options = build_launch_options(**kw)
    registry = _registry()
    async with open_client(choice) as client:
        with progress_bar(not as_json) as progress:
            run_id, job = await launch(client, build_dir, options, choice=choice, registry=registry, progress=progress,
                                       on_estimate=lambda cost: stderr_console().print(f"estimated cost: {cost.describe()}"))
        if as_json:
            print_json(job)
        else:
            stdout_console().print(f"launched [bold]{job['id']}[/] (run {run_id}) on {choice.describe()}: "
                                   f"{job['model']}, status {job['status']}")
        # the embedded backend trains only while a process holds it: follow unless told not to
        if then_follow or (then_follow is None and choice.kind == "local" and not as_json):
            await follow_job(client, registry, choice, job["id"], as_json=False)
        elif choice.kind == "local" and not as_json:
            stderr_console().print("the local backend trains while a startune process holds it: "
                                   f"`startune follow {job['id']}` continues the job")


@click.command("follow")
@click.argument("job")
@backend_options
@click.option("--since", "since", metavar="EVENT_ID", default=None,
              help="Start after this event (the last id you saw); default: the job's first event.")
@option_json()
@run_async
async def follow_cmd(job: str, backend_kind, base_url, since, as_json) -> None:
    """Follow JOB (job id, run id or run name) until it ends, from its first event (or after --since).

    --json prints each event once, in order, as a JSON line: a rerun (with --since the last id you
    got) continues the stream without a gap."""
    from core.jobs.backends import open_client

    choice, job_id = _resolve(job, backend_kind, base_url)
    registry = _registry()
    async with open_client(choice) as client:
        final = await follow_job(client, registry, choice, job_id, as_json=as_json, since=since)
    if not as_json:
        _print_outcome(final)


def _print_outcome(job: dict) -> None:
    console = stdout_console()
    status = job.get("status")
    if status == "succeeded":
        console.print(f"[green]succeeded[/]: [bold]{job.get('fine_tuned_model')}[/] "
                      f"({job.get('trained_tokens') or 0:,} trained tokens)")
    elif status == "failed":
        error = job.get("error") or {}
        console.print(f"[red]failed[/]: {error.get('message')} ({error.get('code')})")
    else:
        console.print(f"{status}")


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
    from core.jobs.results import download_results
    from core.paths import runs_dir

    choice, job_id = _resolve(job, backend_kind, base_url)
    registry = _registry()
    async with open_client(choice) as client:
        job_obj = (await client.fine_tuning.jobs.retrieve(job_id)).model_dump(mode="json", exclude_unset=True)
        run = registry.run_for_job(choice.key, job_id)
        run_id = run["id"] if run else registry.add_run(backend=choice.key, job=job_obj)
        target = out_file or runs_dir() / run_id / "results.csv"
        table = await download_results(client, job_obj, save_to=target)
        checkpoints = (await client.fine_tuning.jobs.checkpoints.list(job_id)).data
    registry.update_run(run_id, job_obj, results_csv=str(target))
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
    async with open_client(choice) as client:
        page = await client.fine_tuning.jobs.list(limit=limit)
    jobs = [j.model_dump(mode="json", exclude_unset=True) for j in page.data]
    if as_json:
        print_json(jobs)
        return
    from rich.table import Table

    registry = _registry()
    table = Table(title=choice.describe(), title_justify="left")
    for col in ("job", "run", "model", "status", "fine-tuned model", "created"):
        table.add_column(col)
    import time as _time

    for job in jobs:
        run = registry.run_for_job(choice.key, job["id"])
        table.add_row(job["id"], run["name"] if run else "-", job.get("model", ""), job.get("status", ""),
                      job.get("fine_tuned_model") or "", _time.strftime("%Y-%m-%d %H:%M", _time.localtime(job["created_at"])))
    stdout_console().print(table)


def _control(action: str):
    @click.command(action)
    @click.argument("job")
    @backend_options
    @option_json()
    @run_async
    async def command(job: str, backend_kind, base_url, as_json) -> None:
        from core.jobs.backends import open_client

        choice, job_id = _resolve(job, backend_kind, base_url)
        async with open_client(choice) as client:
            result = await getattr(client.fine_tuning.jobs, action)(job_id)
        job_obj = result.model_dump(mode="json", exclude_unset=True)
        registry = _registry()
        run = registry.run_for_job(choice.key, job_id)
        if run:
            registry.update_run(run["id"], job_obj)
        if as_json:
            print_json(job_obj)
        else:
            stdout_console().print(f"{job_id}: {job_obj['status']}")

    command.__doc__ = f"{action.capitalize()} JOB (job id, run id or run name)."
    return command


cancel_cmd = _control("cancel")
pause_cmd = _control("pause")
resume_cmd = _control("resume")
