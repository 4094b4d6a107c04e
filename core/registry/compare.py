"""Putting runs side by side: what differs between their configurations."""

from __future__ import annotations


def _flatten(value, prefix: str = "") -> dict[str, object]:
    if isinstance(value, dict):
        out: dict[str, object] = {}
        for key, inner in value.items():
            out.update(_flatten(inner, f"{prefix}{key}." if prefix or key else key))
        return out
    return {prefix.rstrip("."): value}


def run_settings(run: dict) -> dict[str, object]:
    """The settings that make a run what it is, flattened: model, hyperparameters as trained, data options."""
    job = run.get("job") or {}
    config = run.get("config") or {}
    settings = {"backend": run.get("backend"), "model": run.get("model")}
    hyper = job.get("hyperparameters") or config.get("hyperparameters") or {}
    settings.update({f"hyperparameters.{k}": v for k, v in hyper.items()})
    settings["seed"] = job.get("seed", config.get("seed"))
    settings["suffix"] = job.get("suffix") or config.get("suffix")
    settings.update({f"data.{k}": v for k, v in _flatten(config.get("prepare") or {}).items()
                     if k in ("order", "format", "seed", "balance", "samples", "dedup", "conflict_policy",
                              "system_prompt", "stratify", "fractions")})
    settings.update({f"examples.{k}": v for k, v in (config.get("examples") or {}).items()})
    return settings


def config_diff(runs: list[dict]) -> list[tuple[str, list[object]]]:
    """(setting, value per run) for every setting whose values are not all equal."""
    settings = [run_settings(r) for r in runs]
    keys = sorted({k for s in settings for k in s})
    out = []
    for key in keys:
        values = [s.get(key) for s in settings]
        if any(v != values[0] for v in values[1:]):
            out.append((key, values))
    return out
