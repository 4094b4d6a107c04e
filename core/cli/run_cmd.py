"""`startune run`: prepare -> validate -> upload -> launch -> follow -> results, in one command."""

from __future__ import annotations

import time
from pathlib import Path

import click

from core.cli.console import option_json, plain, print_json, progress_bar, stderr_console, stdout_console
from core.cli.job_cmds import (
    _follow_or_explain,
    build_launch_options,
    launch_offering_cleanup,
    launch_options,
)
from core.cli.job_common import backend_options, print_estimate, run_async
from core.cli.prepare_cmds import build_options, dataset_options, prepare_options
from core.jobs.records import as_record


@click.command("run")
@click.argument("dataset")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Build folder (default: a new folder under startune's runs).")
@dataset_options
@prepare_options
@launch_options
@backend_options
@click.option("--pace", type=float, default=0.0, help="Local backend: seconds per step, to watch the curves grow.")
@option_json()
@run_async
async def run_cmd(dataset: str, out_dir: Path | None, backend_kind, base_url, pace, as_json, **kw) -> None:
    """The whole job on DATASET: build the JSONL, launch a fine-tune, follow it, fetch its results."""
    from core.jobs.backends import check_model, open_client, resolve_backend
    from core.jobs.build import reuse_or_build
    from core.jobs.results import download_and_record
    from core.launch_options import check_for_backend
    from core.paths import runs_dir
    from core.registry.db import Registry

    prepare_kw = {k: kw.pop(k) for k in list(kw) if k in {
        "text_column", "label_column", "labels_spec", "split_column", "dedup", "conflicts", "fractions", "seed",
        "stratify", "samples_spec", "balance", "order", "fmt", "system_prompt", "separator", "stop"}}
    options = build_options(**prepare_kw)
    launch_opts = build_launch_options(**kw)
    choice = resolve_backend(backend_kind, base_url)
    check_for_backend(launch_opts, choice)
    if launch_opts.model:  # before the build too: minutes of preparing for a model that cannot train here
        check_model(choice, launch_opts.model)
    registry = Registry()
    err = stderr_console()
    default_dir = runs_dir() / "builds" / f"{Path(dataset).stem}-{time.strftime('%Y%m%d-%H%M%S')}"
    with progress_bar(not as_json) as progress:
        # tokens counted as the files are written: the launch, which follows at once, prices and checks
        # the build from its manifest instead of reading train.jsonl again
        built = reuse_or_build(dataset, out_dir, options, default_dir=default_dir, registry=registry,
                               progress=progress)
    out_dir, manifest, reused = built.out_dir, built.manifest, built.reused
    if reused:
        err.print(f"reusing the identical build {plain(out_dir)}", soft_wrap=True)
    counts = {k: v["examples"] for k, v in manifest["splits"].items()}
    err.print(f"built {plain(out_dir)}: " + ", ".join(f"{plain(k)} {v:,}" for k, v in counts.items()), soft_wrap=True)
    if not reused:
        from core.cli.prepare_cmds import warn_about_build

        warn_about_build(err, manifest)
    async with open_client(choice, train=True, pace=pace) as client:
        left = await unfinished_run(client, registry, choice, out_dir, launch_opts) if reused else None
        if left is not None:
            run_id, job = left
            err.print(f"continuing job {plain(job['id'])} (run {plain(run_id)}), left unfinished on this build; "
                      f"`startune cancel {job['id']}` first to start a new one", soft_wrap=True)
        else:
            with progress_bar(not as_json) as progress:
                run_id, job = await launch_offering_cleanup(
                    client, out_dir, launch_opts, choice=choice, registry=registry, progress=progress, as_json=as_json,
                    on_estimate=lambda estimate: print_estimate(err, estimate))
            err.print(f"launched {job['id']} on {choice.describe()} ({job['model']})", soft_wrap=True)
        final, _ = await _follow_or_explain(client, registry, choice, job["id"], run_id,
                                            output="collect" if as_json else "human")
        table = None
        if final.get("status") == "succeeded" and final.get("result_files"):
            table = await download_and_record(client, registry, run_id, final)
    if as_json:
        print_json({"run_id": run_id, "build_dir": str(out_dir), "job": final,
                    "results": table.to_dict() if table else None})
        return
    console = stdout_console()
    if final.get("status") != "succeeded":
        error = final.get("error") or {}
        console.print(f"[red]{plain(final.get('status'))}[/]: {plain(error.get('message', ''))}")
        raise SystemExit(1)
    from core.cli.reports import render_results

    render_results(console, final, table, [])
    console.print(f"next: startune evaluate {plain(final['fine_tuned_model'])} --data {plain(out_dir / 'test.jsonl')}", soft_wrap=True)


async def unfinished_run(client, registry, choice, build_dir: Path, options) -> tuple[str, dict] | None:
    """(run id, job) of a job launched from this build with these settings that has not finished
    (an interrupted run): a rerun follows it instead of launching a second one."""
    from core.status import TERMINAL

    for run in reversed(registry.unfinished_runs()):  # newest first
        config = run.get("config") or {}
        if (run.get("build_dir") != str(build_dir) or run.get("backend") != choice.key
                or config.get("hyperparameters") != options.hyperparameters()
                or (options.model and config.get("model") != options.model)
                or config.get("suffix") != options.suffix or config.get("seed") != options.seed):
            continue
        job = as_record(await client.fine_tuning.jobs.retrieve(run["job_id"]))
        registry.update_run(run["id"], job)
        if job.get("status") not in TERMINAL:
            return run["id"], job
    return None
