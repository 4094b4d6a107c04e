"""`startune models`: the backend's fine-tuned models, their base model, and when they stop answering."""

from __future__ import annotations

import click

from core.cli.console import option_json, plain, print_json, stdout_console
from core.cli.job_common import backend_options, run_async


def _as_of(ctx, param, value):
    import datetime as dt

    if value is None:
        return dt.date.today()
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter("use YYYY-MM-DD") from None


@click.command("models")
@backend_options
@click.option("--as-of", "today", default=None, callback=_as_of, metavar="YYYY-MM-DD",
              help="Count days left from this date (default: today).")
@option_json()
@run_async
async def models_cmd(backend_kind, base_url, today, as_json) -> None:
    """List the backend's fine-tuned models: base model, the date each stops answering and days left.

    Dates come from the backend when it gives them (shutdown_date), else, for OpenAI's fine-tunes only
    (Azure retires on its own schedule), from startune's dated table, which
    <config dir>/shutdowns.json overrides ({"serving": {"BASE_MODEL": "YYYY-MM-DD"}})."""
    from core.jobs.backends import open_client, resolve_backend
    from core.jobs.lifecycle import SHUTDOWNS_AS_OF, fine_tuned_models, training_ends

    choice = resolve_backend(backend_kind, base_url)
    async with open_client(choice, train=False) as client:
        models = await fine_tuned_models(client, today=today, backend_kind=choice.kind)
    ends = training_ends(choice.kind)
    from core.registry.db import Registry

    registry = Registry()
    runs = {r["fine_tuned_model"]: r for r in registry.list_runs() if r.get("fine_tuned_model")}
    if as_json:
        print_json({"backend": choice.key, "as_of": today.isoformat(), "table_as_of": SHUTDOWNS_AS_OF,
                    "training_ends": ends.isoformat() if ends else None,
                    "models": [m.to_dict() | {"run_id": (runs.get(m.id) or {}).get("id")} for m in models]})
        return
    from rich.table import Table

    console = stdout_console()
    if ends:
        left = (ends - today).days
        console.print(f"{plain(choice.describe())}: new fine-tuning jobs end {plain(ends.isoformat())} "
                      f"({_days(left)})", soft_wrap=True)
    if not models:
        console.print("no fine-tuned models on this backend")
        return
    table = Table()
    for col in ("model", "run", "base"):
        table.add_column(col, overflow="fold")
    for col in ("stops answering", "days left"):  # the point of the listing: never folded
        table.add_column(col, no_wrap=True)
    for m in models:
        style = "" if m.days_left is None else "red" if m.days_left <= 30 else "yellow" if m.days_left <= 90 else ""
        table.add_row(m.id, (runs.get(m.id) or {}).get("id", "-"), m.base or "-", m.shutdown_date or "not announced",
                      f"[{style}]{_days(m.days_left)}[/]" if style else _days(m.days_left))
    console.print(table)
    ending = [runs[m.id]["id"] for m in models if m.id in runs and m.days_left is not None and 0 <= m.days_left <= 90]
    if ending:
        console.print(f"[yellow]ending within 90 days: keep the evidence while they answer, e.g. "
                      f"`startune evaluate {ending[0]}` then `startune export {ending[0]} --out DIR`; "
                      f"`startune rerun {ending[0]} --backend local` trains the same build elsewhere[/]",
                      soft_wrap=True)
    console.print(f"[dim]dates: the backend's own, else startune's table as of {plain(SHUTDOWNS_AS_OF)} "
                  f"(override in shutdowns.json in the config folder)[/]", soft_wrap=True)


def _days(n: int | None) -> str:
    if n is None:
        return "-"
    if n < 0:
        return f"ended {-n} day{'s' if n != -1 else ''} ago"
    return f"{n} day{'s' if n != 1 else ''}"
