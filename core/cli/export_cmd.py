"""`startune export RUN --out DIR`: a run's evidence as plain files."""

from __future__ import annotations

from pathlib import Path

import click

from core.cli.console import option_json, plain, print_json, stdout_console


@click.command("export")
@click.argument("run")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder to write into (created if needed).")
@click.option("--to", "tracker", type=(click.Choice(["mlflow", "tensorboard"]), str), default=None,
              metavar="mlflow|tensorboard DEST",
              help="Send the run to an experiment tracker instead: `--to mlflow DIR_OR_TRACKING_URI` "
                   "or `--to tensorboard LOGDIR` (params, every step's metrics, the latest evaluation, "
                   "result CSV and manifest as artifacts).")
@click.option("--onnx", is_flag=True, default=False,
              help="Also write the model as ONNX under onnx/ (model.onnx, labels.json, a transformer's tokenizer) "
                   "for onnxruntime; needs pip install 'startune[onnx]'.")
@option_json()
def export_cmd(run: str, out_dir: Path | None, tracker: tuple[str, str] | None, onnx: bool, as_json: bool) -> None:
    """Write RUN's build manifest, run and job, events, result CSV, evaluations and every evaluation
    answer into --out, so the run can still be compared once its model is retired. Needs no backend.

    With --to, the run goes to MLflow (a local folder becomes a file store; an http(s) URI is your
    tracking server) or to TensorBoard event files (open with `tensorboard --logdir LOGDIR`)."""
    from core.registry.db import Registry

    if (out_dir is None) == (tracker is None):
        raise click.UsageError("give --out DIR, or --to mlflow|tensorboard DEST")
    if onnx and out_dir is None:
        raise click.UsageError("--onnx writes into --out DIR")
    if tracker is not None:
        from core.export.trackers import export_to

        sent = export_to(Registry(), run, *tracker)
        if as_json:
            print_json(sent)
            return
        where = sent.get("uri") or sent.get("logdir")
        if sent.get("already"):
            stdout_console().print(f"run {sent['run_id']} is already in MLflow at {where} "
                                   f"(MLflow run {sent['mlflow_run_id']})", soft_wrap=True)
            return
        stdout_console().print(f"exported run {sent['run_id']} to {tracker[0]} at {where}: "
                               f"{len(sent['metrics'])} metrics, artifacts {', '.join(sent['artifacts'])}",
                               soft_wrap=True)
        return
    from core.export.bundle import export_bundle

    assert out_dir is not None   # exactly one of --out and --to, checked above
    written = export_bundle(Registry(), run, out_dir, onnx=onnx)
    if as_json:
        print_json(written)
        return
    console = stdout_console()
    console.print(f"exported run {plain(written['run_id'])} to {plain(written['out'])}: {plain(', '.join(written['files']))}",
                  soft_wrap=True)
    for missing in written.get("missing", []):
        console.print(f"[yellow]not exported: {plain(missing)}[/]", soft_wrap=True)
