"""What `startune evaluate` scores: model names on one backend, or runs, each on the backend it trained on."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from core.errors import ConfigError
from core.jobs.backends import BackendChoice


@dataclass
class EvalTarget:
    label: str                   # as the user named it
    model: str                   # what is asked
    choice: BackendChoice
    run: dict | None = None

    @property
    def run_id(self) -> str | None:
        return self.run["id"] if self.run else None

    @property
    def training_cost_usd(self) -> float | None:
        return self.run.get("cost_usd") if self.run else None

    def to_dict(self, eval_cost: dict | None = None) -> dict:
        return {"run_id": self.run_id, "backend": self.choice.key,
                "rerun_of": (self.run or {}).get("rerun_of"),
                "training_cost_usd": self.training_cost_usd,
                "eval_cost_usd": (eval_cost or {}).get("usd")}


def resolve_targets(names, registry, default_choice) -> list[EvalTarget]:
    """A name the registry knows as a run means that run's fine-tuned model on its own backend;
    anything else is a model on ``default_choice``."""
    from core.jobs.backends import BackendChoice

    targets = []
    for name in names:
        run = registry.find_run(name)
        if run is None:
            targets.append(EvalTarget(name, name, default_choice))
            continue
        if not run.get("fine_tuned_model"):
            raise ConfigError(f"run {run['id']} has no fine-tuned model yet (job {run['job_id']}: {run['status']})",
                              hint=f"`startune follow {run['job_id']}` until it succeeds")
        targets.append(EvalTarget(name, run["fine_tuned_model"], BackendChoice.from_key(run["backend"]), run))
    return targets


def default_data(targets: list[EvalTarget]) -> Path:
    """The test split of the first run's build, when --data is not given."""
    for target in targets:
        build_dir = (target.run or {}).get("build_dir")
        if build_dir and (Path(build_dir) / "test.jsonl").is_file():
            return Path(build_dir) / "test.jsonl"
    raise ConfigError("--data is required: give the test split to score on (e.g. BUILD_DIR/test.jsonl)")
