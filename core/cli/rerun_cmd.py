"""`startune rerun RUN --backend B`: the same build and settings, trained on another backend."""

from __future__ import annotations

import functools

import click

from core.cli.console import option_json, plain, print_json, progress_bar, stderr_console, stdout_console
from core.cli.job_common import backend_options, launch_flags, print_estimate, run_async


@click.command("rerun")
@click.argument("run")
@backend_options
@launch_flags("model", "suffix", "name", "training_type", "cleanup", help={
    "model": "Base model on the target (default: the target's).", "suffix": "Model name suffix (default: the run's).",
    "name": "Name of the new run (default: '<run> on <backend>').",
    "training_type": "Azure OpenAI only: the job's trainingType.",
    "cleanup": "If the target refuses to train, delete the files uploaded for it."})
@click.option("--follow/--no-follow", "then_follow", default=None,
              help="Follow the new job until it ends (default: yes on the local backend).")
@option_json()
@run_async
async def rerun_cmd(run: str, backend_kind, base_url, model, suffix, name, training_type, cleanup, then_follow,
                    as_json) -> None:
    """Re-launch RUN (run id, job id or run name) on another backend: the same build files, the same
    requested hyperparameters where the target takes them, linked to RUN in the registry.

    Then `startune evaluate RUN NEW_RUN` scores both on the same test split, side by side.
    --json prints one JSON document: {"run_id", "rerun_of", "job", "notes", "events"}."""
    from core.cli.job_cmds import (
        _follow_or_explain,
        _print_outcome,
        launch_offering_cleanup,
    )
    from core.jobs.backends import open_client, resolve_backend
    from core.jobs.rerun import plan_rerun, rerun
    from core.registry.db import Registry

    if backend_kind is None and base_url is None:
        from core.errors import ConfigError

        raise ConfigError("rerun needs the target: --backend local|azure|openai, or --base-url URL")
    from core.launch_options import BY_NAME, check_for_backend

    choice = resolve_backend(backend_kind, base_url)
    # typed values by the rules launch and the app use, before the run is looked up
    suffix, training_type = BY_NAME["suffix"].parse(suffix), BY_NAME["training_type"].parse(training_type)
    registry = Registry()
    plan = plan_rerun(registry, run, choice, model=model, training_type=training_type, suffix=suffix, name=name,
                      cleanup=cleanup)
    check_for_backend(plan.options, choice)
    err = stderr_console()
    for note in plan.notes:
        err.print(f"[dim]{plain(note)}[/]", soft_wrap=True)
    follow = then_follow if then_follow is not None else choice.backend.follows_by_default
    events: list[dict] = []
    async with open_client(choice, train=follow) as client:
        with progress_bar(not as_json) as progress:
            run_id, job = await rerun(client, registry, plan, choice=choice, progress=progress,
                                      launcher=functools.partial(launch_offering_cleanup, as_json=as_json),
                                      on_estimate=lambda estimate: print_estimate(err, estimate))
        (err if as_json else stdout_console()).print(
            f"launched [bold]{job['id']}[/] (run {run_id}, re-run of {plan.source['id']}) on {choice.describe()}: "
            f"{job['model']}", soft_wrap=True)
        if follow:
            job, events = await _follow_or_explain(client, registry, choice, job["id"], run_id,
                                                   output="collect" if as_json else "human")
    test = _test_split(plan)
    compare = f"startune evaluate {plan.source['id']} {run_id}" + (f" --data {test}" if test else "")
    if as_json:
        print_json({"run_id": run_id, "rerun_of": plan.source["id"], "job": job, "notes": plan.notes,
                    "events": events, "compare": compare})
        return
    if follow:
        _print_outcome(job)
    stdout_console().print(f"compare: {plain(compare)}", soft_wrap=True)


def _test_split(plan):
    path = plan.train_source / "test.jsonl" if plan.train_source.is_dir() else None
    return path if path is not None and path.is_file() else None
