"""Re-launching a run on another backend: the same build's files, the same requested settings where the
target takes them, and a link between the two runs in the registry so they can be compared."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from core.errors import ConfigError, DataError
from core.progress import ProgressFn, null_progress


@dataclass
class RerunPlan:
    source: dict                     # the registry's run being repeated
    train_source: Path               # a build folder, or the user's own training file
    validation: Path | None          # the user's own validation file, when there was one
    options: object                  # LaunchOptions for the target
    notes: list[str] = field(default_factory=list)


def find_source_run(registry, ref: str) -> dict:
    run = registry.find_run(ref)
    if run is None:
        raise ConfigError(f"no run {ref!r} in the registry",
                          hint="give a run id, job id or run name of a job launched with startune")
    return run


def plan_rerun(registry, ref: str, target, *, model: str | None = None, training_type: str | None = None,
               suffix: str | None = None, name: str | None = None, cleanup: bool = False) -> RerunPlan:
    """What to launch on ``target`` (a BackendChoice) to repeat run ``ref``."""
    from core.launch_options import LaunchOptions, carried_to

    run = find_source_run(registry, ref)
    config = run.get("config") or {}
    if run["backend"] == target.key and not model:
        raise ConfigError(f"run {run['id']} already ran on {run['backend']}",
                          hint="choose another --backend, or a --model to train on the same one")
    build = registry.build(config["build_id"]) if config.get("build_id") else None
    manifest = (build or {}).get("manifest") or {}
    train_source, validation = _inputs(run, manifest)
    notes: list[str] = []
    requested = config.get("hyperparameters") or {}
    # the settings the target takes, by the options' declarations (core/launch_options.py); others are dropped
    hyper, dropped = carried_to(target.kind, requested)
    if dropped:
        notes.append(f"{target.kind} does not take {', '.join(dropped)}: left to the backend")
    auto = [k for k, v in hyper.items() if v == "auto"]
    if auto:
        notes.append(f"{', '.join(auto)}: 'auto' as before, so the target chooses for its own model")
    source_model = config.get("model") or run.get("model")
    if model is None:
        notes.append(f"model: {source_model} -> the target's default (--model to choose)")
    elif model != source_model:
        notes.append(f"model: {source_model} -> {model}")
    seed = config.get("seed")
    if seed is None and (run.get("job") or {}).get("seed") is not None:
        seed = run["job"]["seed"]  # the seed the source backend picked: the closest repeat there is
        notes.append(f"seed {seed}: the one the source job trained with")
    options = LaunchOptions(
        model=model, **hyper, suffix=suffix if suffix is not None else config.get("suffix"), seed=seed,
        validation=bool((config.get("examples") or {}).get("val")) or validation is not None,
        name=name or f"{run.get('name') or run['id']} on {target.kind}",
        metadata={"startune_rerun_of": run["id"]}, training_type=training_type, cleanup=cleanup)
    return RerunPlan(run, train_source, validation, options, notes)


def _inputs(run: dict, manifest: dict) -> tuple[Path, Path | None]:
    """The files the source run trained on: its build folder, or the user's own files."""
    hint = "rebuild it with `startune prepare` and the same options (`startune export` keeps the manifest)"
    if manifest.get("user_files"):
        splits = manifest.get("splits") or {}
        train = Path(splits["train"]["file"])
        valid = Path(splits["val"]["file"]) if "val" in splits else None
        for path in (train, valid):
            if path is not None and not path.is_file():
                raise DataError(f"run {run['id']} trained on this file, which is gone", path=path, hint=hint)
        return train, valid
    build_dir = run.get("build_dir")
    if not build_dir:
        raise DataError(f"run {run['id']} has no build recorded (a job attached from the backend's list)",
                        hint="launch the build it came from with `startune launch`")
    if not Path(build_dir).is_dir():
        raise DataError(f"the build of run {run['id']} is gone", path=build_dir, hint=hint)
    return Path(build_dir), None


async def rerun(client, registry, plan: RerunPlan, *, choice, progress: ProgressFn = null_progress,
                on_estimate=None, launcher=None) -> tuple[str, dict]:
    """Launch the plan on ``choice`` and link the new run to its source; returns (run id, job).
    The build folder is checked against its manifest as any launch is: changed files are refused."""
    from core.jobs.launch import launch

    launcher = launcher or launch
    run_id, job = await launcher(client, plan.train_source, plan.options, choice=choice, registry=registry,
                                 progress=progress, on_estimate=on_estimate, validation_file=plan.validation)
    registry.link_rerun(run_id, plan.source["id"])
    config = (registry.get_run(run_id) or {}).get("config") or {}
    source_sha = (plan.source.get("config") or {}).get("manifest_sha")
    if source_sha and config.get("manifest_sha") and source_sha != config["manifest_sha"]:
        # a build folder cannot differ (launch checks it against its manifest); the user's own files can
        plan.notes.append(f"the files differ from those run {plan.source['id']} trained on")
    registry.update_run(run_id, config=config | {"rerun_of": plan.source["id"], "rerun_notes": plan.notes})
    return run_id, job
