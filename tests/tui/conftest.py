"""Fixed data for the app's tests: a registry with two finished runs, a fixed clock."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from core.jobs.backends import BackendChoice
from core.registry.db import Registry

CLOCK = 1_795_000_000.0
DATA = Path(__file__).parent / "data"
RESULTS = "tests/tui/data/results.csv"  # relative, so paths on screen are the same on every machine


def _events(job_id: str, epochs: int, start: int) -> list[dict]:
    events = [{"id": f"{job_id}-e0", "object": "fine_tuning.job.event", "created_at": start, "level": "info",
               "message": f"Created fine-tuning job: {job_id}", "type": "message", "data": {}},
              {"id": f"{job_id}-e1", "object": "fine_tuning.job.event", "created_at": start + 1, "level": "info",
               "message": "Fine-tuning job started", "type": "message", "data": {}}]
    total = 20 * epochs
    for step in range(1, total + 1):
        data = {"step": step, "total_steps": total, "train_loss": 1.6 * math.exp(-step / 10) + 0.2,
                "train_mean_token_accuracy": min(1.0, 0.2 + step / total), "valid_loss": 1.5 * math.exp(-step / 12) + 0.35,
                "valid_mean_token_accuracy": min(0.9, 0.25 + 0.6 * step / total)}
        events.append({"id": f"{job_id}-m{step}", "object": "fine_tuning.job.event", "created_at": start + 1 + step,
                       "level": "info", "message": f"Step {step}/{total}: training loss={data['train_loss']:.4f}",
                       "type": "metrics", "data": data})
    events.append({"id": f"{job_id}-warn", "object": "fine_tuning.job.event", "created_at": start + total + 2,
                   "level": "warn", "message": "Validation file has 3 examples with unknown labels", "type": "message",
                   "data": {}})
    events.append({"id": f"{job_id}-end", "object": "fine_tuning.job.event", "created_at": start + total + 3,
                   "level": "info", "message": "The job has successfully completed", "type": "message", "data": {}})
    return events


def make_registry(path: Path) -> Registry:
    registry = Registry(path)
    for i, (epochs, order) in enumerate(((1, "shuffled"), (3, "sorted"))):
        job_id = f"ftjob-demo{i}"
        start = 1_794_990_000 + 1000 * i
        job = {"id": job_id, "object": "fine_tuning.job", "model": "startune-local", "status": "succeeded",
               "created_at": start, "finished_at": start + 90, "fine_tuned_model": f"ft:startune-local:local:e{epochs}:{i}",
               "hyperparameters": {"n_epochs": epochs, "batch_size": 4, "learning_rate_multiplier": 0.1},
               "seed": 7, "suffix": f"e{epochs}", "trained_tokens": 12_345 * epochs, "result_files": ["file-r"]}
        run_id = registry.add_run(backend="demo", job=job, name=f"{epochs}-epoch {order}",
                                  dataset="assets/sample_reviews.csv", build_dir="out/build",
                                  config={"prepare": {"order": order, "format": "chat", "seed": 42},
                                          "examples": {"train": 1431, "val": 477, "test": 477}}, cost_usd=0.0)
        registry.add_events("demo", job_id, _events(job_id, epochs, start))
        registry.update_run(run_id, results_csv=RESULTS)
        registry.add_evaluation(model=job["fine_tuned_model"], data="out/build/test.jsonl", data_sha="x", options={},
                                run_id=run_id, report={
                                    "n": 477, "accuracy": 0.8 + 0.05 * i, "macro_f1": 0.7 + 0.05 * i, "mae": 0.3, "within_one": 0.9,
                                    "unparseable": 0,
                                    "per_label": {lab: {"precision": 0.9 - 0.1 * k, "recall": 0.85 - 0.05 * k,
                                                        "f1": 0.87 - 0.07 * k, "support": 100 - 10 * k}
                                                  for k, lab in enumerate("12345")},
                                    "confusion": {"labels": list("12345"), "columns": [*"12345", "unparseable"],
                                                                    "matrix": [[90, 5, 2, 1, 2, 0], [6, 30, 5, 1, 1, 0],
                                                                               [2, 4, 40, 6, 3, 0], [1, 1, 5, 80, 9, 0],
                                                                               [1, 0, 2, 10, 160, 0]]}})
    return registry


@pytest.fixture
def demo_registry(tmp_path) -> Registry:
    return make_registry(tmp_path / "registry.sqlite3")


@pytest.fixture
def local_choice() -> BackendChoice:
    return BackendChoice("local")
