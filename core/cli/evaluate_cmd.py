"""`startune evaluate`: score models on a test split, side by side."""

from __future__ import annotations

from pathlib import Path

import click

from core.cli.console import option_json, print_json, progress_bar, stderr_console, stdout_console
from core.cli.job_common import backend_options, run_async


@click.command("evaluate")
@click.argument("models", nargs=-1, required=True)
@click.option("--data", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True,
              help="A chat or prompt/completion JSONL, e.g. BUILD_DIR/test.jsonl.")
@backend_options
@click.option("--system-prompt", default=None, help="Replace the data's system prompt (e.g. for a base model).")
@click.option("--few-shot", type=int, default=0, show_default=True, help="K train examples in each prompt.")
@click.option("--train", "train_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Where few-shot examples come from (default: train.jsonl beside --data).")
@click.option("--limit", type=int, default=None, help="Only the first N examples.")
@click.option("--concurrency", type=int, default=8, show_default=True)
@click.option("--rpm", type=float, default=None, help="Client-side limit: requests per minute.")
@click.option("--tpm", type=float, default=None, help="Client-side limit: tokens per minute.")
@option_json()
@run_async
async def evaluate_cmd(models, data: Path, backend_kind, base_url, system_prompt, few_shot, train_file, limit,
                       concurrency, rpm, tpm, as_json) -> None:
    """Ask each of MODELS for the label of every example in --data and report the scores.

    Answers are stored as they arrive: rerunning after an interruption continues where it stopped."""
    from core.cli.job_common import check_backend_reachable as check_reachable
    from core.evaluate.runner import EvalOptions, estimate_cost, evaluate
    from core.jobs.backends import open_client, resolve_backend
    from core.registry.db import Registry

    if few_shot and train_file is None:
        train_file = data.parent / "train.jsonl"
    options = EvalOptions(system_prompt=system_prompt, few_shot=few_shot, train=train_file, limit=limit)
    choice = resolve_backend(backend_kind, base_url)
    registry = Registry()
    err = stderr_console()
    if choice.kind == "local" and (few_shot or system_prompt):
        # the local backend's models read the review alone: shots and system prompts would only
        # inflate the token estimate and split the stored answers from plain runs
        err.print("warning: local models answer from the review text alone; --few-shot and --system-prompt "
                  "change nothing for them and are left out")
        options = EvalOptions(limit=limit)
    reports = []
    async with open_client(choice, train=False) as client:
        await check_reachable(client)
        for model in models:
            cost = estimate_cost(model, data, options)
            price = "free" if cost["usd"] == 0 else ("price unknown" if cost["usd"] is None else f"~${cost['usd']:,.4f}")
            err.print(f"{model}: {cost['examples']:,} examples, ~{cost['input_tokens']:,} input tokens ({price})")
            with progress_bar(not as_json) as progress:
                reports.append(await evaluate(client, model, data, options, concurrency=concurrency, rpm=rpm,
                                              tpm=tpm, registry=registry, progress=progress))
    if as_json:
        print_json(reports[0].to_dict() if len(reports) == 1 else [r.to_dict() for r in reports])
        return
    from core.cli.reports import render_evaluations

    render_evaluations(stdout_console(), reports)
