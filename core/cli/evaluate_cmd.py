"""`startune evaluate`: score models on a test split, side by side."""

from __future__ import annotations

from pathlib import Path

import click

from core.cli.console import option_json, plain, print_json, progress_bar, stderr_console, stdout_console
from core.cli.job_common import backend_options, run_async


@click.command("evaluate")
@click.argument("models", nargs=-1, required=True)
@click.option("--data", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="A chat or prompt/completion JSONL, e.g. BUILD_DIR/test.jsonl (default: the first run's "
                   "test split, when MODELS name runs).")
@backend_options
@click.option("--system-prompt", default=None, help="Replace the data's system prompt (e.g. for a base model).")
@click.option("--few-shot", type=int, default=0, show_default=True, help="K train examples in each prompt.")
@click.option("--train", "train_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Where few-shot examples come from (default: train.jsonl beside --data).")
@click.option("--limit", type=int, default=None, help="Only the first N examples.")
@click.option("--concurrency", type=int, default=8, show_default=True)
@click.option("--rpm", type=float, default=None, help="Client-side limit: requests per minute.")
@click.option("--tpm", type=float, default=None, help="Client-side limit: tokens per minute.")
@click.option("--batch/--no-batch", default=None,
              help="Send the requests through the Batch API: half price on OpenAI (answers within 24 hours), "
                   "many texts per call on the local backend. Default: on for the local backend, off elsewhere. "
                   "The batch ids are kept: rerunning after an interruption collects them.")
@option_json()
@run_async
async def evaluate_cmd(models, data: Path, backend_kind, base_url, system_prompt, few_shot, train_file, limit,
                       concurrency, rpm, tpm, batch, as_json) -> None:
    """Ask each of MODELS for the label of every example in --data and report the scores.

    MODELS are model names on the chosen backend, or runs (run id, job id or name): each run's
    fine-tuned model is asked on the backend it trained on, so a run and its re-run elsewhere
    (`startune rerun`) are scored side by side on the same split, with what each cost.
    Answers are stored as they arrive: rerunning after an interruption continues where it stopped,
    and a model that is gone is still scored from its stored answers."""
    import contextlib

    from core.cli.job_common import check_backend_reachable as check_reachable
    from core.evaluate.batch import batch_price
    from core.evaluate.runner import EvalOptions, estimate_cost, evaluate
    from core.evaluate.targets import default_data, resolve_targets
    from core.jobs.backends import open_client, resolve_backend
    from core.registry.db import Registry

    registry = Registry()
    choice = resolve_backend(backend_kind, base_url)
    targets = resolve_targets(models, registry, choice)
    data = data or default_data(targets)
    if few_shot and train_file is None:
        train_file = data.parent / "train.jsonl"
    options = EvalOptions(system_prompt=system_prompt, few_shot=few_shot, train=train_file, limit=limit)
    err = stderr_console()
    if (few_shot or system_prompt) and all(t.choice.backend.serves_own_models for t in targets):
        # the local backend's models read the review alone: shots and system prompts would only
        # inflate the token estimate and split the stored answers from plain runs
        err.print("warning: local models answer from the review text alone; --few-shot and --system-prompt "
                  "change nothing for them and are left out")
        options = EvalOptions(limit=limit)
    reports, costs = [], []
    async with contextlib.AsyncExitStack() as stack:
        clients: dict[str, object] = {}
        for target in targets:
            if target.choice.key not in clients:
                # batches=True: an embedded local backend answers this evaluation's batches in this process
                clients[target.choice.key] = await stack.enter_async_context(
                    open_client(target.choice, train=False, batches=True))
                await check_reachable(clients[target.choice.key])
        for target in targets:
            model = target.model
            batched = target.choice.backend.batches_by_default if batch is None else batch
            cost = estimate_cost(model, data, options, count_tokens=target.choice.backend.bills_by_token)
            if batched:
                cost = cost | {"usd": batch_price(cost["usd"], target.choice.kind), "usd_by_requests": cost["usd"],
                               "batch": True}
            costs.append(cost)
            price = "free" if cost["usd"] == 0 else ("price unknown" if cost["usd"] is None else f"~${cost['usd']:,.4f}")
            if batched and cost["usd"] and cost["usd_by_requests"]:
                price += f" with the Batch API's {1 - target.choice.backend.batch_discount:.0%} discount; ~${cost['usd_by_requests']:,.4f} by requests"
            way = "through the Batch API" if batched else "by requests"
            tokens = (f"~{cost['input_tokens']:,} input tokens ({price})" if cost["input_tokens"] is not None
                      else "free (the local backend does not bill by token)")
            err.print(f"{plain(target.label)}: {cost['examples']:,} examples {plain(way)}, {plain(tokens)}", soft_wrap=True)
            with progress_bar(not as_json) as progress:
                reports.append(await evaluate(clients[target.choice.key], model, data, options,
                                              concurrency=concurrency, rpm=rpm, tpm=tpm, registry=registry,
                                              progress=progress, run_id=target.run_id, batch=batched,
                                              backend=target.choice.key,
                                              poll_max=target.choice.backend.eval_poll_max))
    with_runs = any(t.run_id for t in targets)
    if as_json:
        docs = [r.to_dict() | (t.to_dict(c) if with_runs else {}) for r, t, c in zip(reports, targets, costs)]
        print_json(docs[0] if len(docs) == 1 else docs)
        return
    from core.cli.reports import render_evaluations

    console = stdout_console()
    render_evaluations(console, reports)
    if with_runs:
        render_costs(console, targets, reports, costs)


def render_costs(console, targets, reports, costs) -> None:
    """What each model cost: its training (the launch's estimate) and this evaluation."""
    from rich.table import Table

    def usd(value) -> str:
        return "-" if value is None else "free" if value == 0 else f"${value:,.4f}"

    table = Table(title="runs and costs")
    for col in ("model", "run", "backend", "re-run of", "training (est.)", "this evaluation (est.)", "accuracy"):
        table.add_column(col, overflow="fold")
    for target, report, cost in zip(targets, reports, costs):
        run = target.run or {}
        table.add_row(target.model, target.run_id or "-", target.choice.kind, run.get("rerun_of") or "-",
                      usd(target.training_cost_usd), usd(cost.get("usd")), f"{report.metrics['accuracy']:.1%}")
    console.print(table)
