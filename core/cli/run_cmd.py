"""`startune run`: prepare -> validate -> upload -> launch -> follow -> results, in one command."""

from __future__ import annotations

import time
from pathlib import Path

import click

from core.cli.console import option_json, print_json, progress_bar, stderr_console, stdout_console
from core.cli.job_cmds import build_launch_options, launch_options
from core.cli.job_common import backend_options, follow_job, run_async
from core.cli.prepare_cmds import build_options, dataset_options, prepare_options


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
    from core.data.pipeline import prepare
    from core.jobs.backends import open_client, resolve_backend
    from core.jobs.launch import launch
    from core.jobs.results import download_results
    from core.paths import runs_dir
    from core.registry.db import Registry

    prepare_kw = {k: kw.pop(k) for k in list(kw) if k in {
        "text_column", "label_column", "labels_spec", "split_column", "dedup", "conflicts", "fractions", "seed",
        "stratify", "samples_spec", "balance", "order", "fmt", "system_prompt", "separator", "stop"}}
    options = build_options(**prepare_kw)
    launch_opts = build_launch_options(**kw)
    choice = resolve_backend(backend_kind, base_url)
    registry = Registry()
    err = stderr_console()
    if out_dir is None:
        out_dir = runs_dir() / "builds" / f"{Path(dataset).stem}-{time.strftime('%Y%m%d-%H%M%S')}"

    with progress_bar(not as_json) as progress:
        build = prepare(dataset, out_dir, options, progress=progress)
    counts = {k: v["examples"] for k, v in build.manifest["splits"].items()}
    err.print(f"built {out_dir}: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))
    async with open_client(choice, pace=pace) as client:
        with progress_bar(not as_json) as progress:
            run_id, job = await launch(client, out_dir, launch_opts, choice=choice, registry=registry,
                                       progress=progress,
                                       on_estimate=lambda cost: err.print(f"estimated cost: {cost.describe()}"))
        err.print(f"launched {job['id']} on {choice.describe()} ({job['model']})")
        final = await follow_job(client, registry, choice, job["id"], as_json=False) if not as_json else \
            await _follow_quietly(client, registry, choice, job["id"])
        table = None
        if final.get("status") == "succeeded" and final.get("result_files"):
            target = runs_dir() / run_id / "results.csv"
            table = await download_results(client, final, save_to=target)
            registry.update_run(run_id, final, results_csv=str(target))
    if as_json:
        print_json({"run_id": run_id, "build_dir": str(out_dir), "job": final,
                    "results": table.to_dict() if table else None})
        return
    console = stdout_console()
    if final.get("status") != "succeeded":
        error = final.get("error") or {}
        console.print(f"[red]{final.get('status')}[/]: {error.get('message', '')}")
        raise SystemExit(1)
    from core.cli.reports import render_results

    render_results(console, final, table, [])
    console.print(f"next: startune evaluate {final['fine_tuned_model']} --data {out_dir / 'test.jsonl'}", soft_wrap=True)


async def _follow_quietly(client, registry, choice, job_id: str) -> dict:
    from core.jobs.retry import PollIntervals
    from core.jobs.track import track

    state = {}
    intervals = PollIntervals.fast() if choice.kind == "local" else PollIntervals()
    async for _ in track(client, registry, backend=choice.key, job_id=job_id, intervals=intervals,
                         on_job=lambda job: state.update(job=job)):
        pass
    return state["job"]
