"""Benchmark the local backend's trainer (run by hand, not in CI).

Builds 172,839 training examples (the train split of an app_reviews-sized table resampled from
../shared/data/threads_reviews.csv), then in this same run:
  direct: read the JSONL, featurise, train one epoch by calling the trainer;
  api:    upload the file and run a one-epoch job through the real openai client on the in-process
          backend (file validation, job bookkeeping, metrics events, checkpoint, result file).
Prints the time per epoch and the API's overhead over the direct call (target under 15%).

    python benchmarks/backend.py [--rows 288065]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))


def build(rows: int, tmp: Path) -> Path:
    """The 60% train split of a resampled app_reviews-sized table, written as chat JSONL."""
    import pandas as pd
    from prepare import make_table

    from core.data.split import split_sizes
    from core.data.write import write_jsonl

    csv = tmp / "reviews.csv"
    make_table(rows, csv)
    frame = pd.read_csv(csv, dtype=str, keep_default_na=False)
    n_train = split_sizes(rows, (0.6, 0.2, 0.2))[0]
    train = pd.DataFrame({"text": frame["review"], "label": frame["star"]}).head(n_train)
    path = tmp / "train.jsonl"
    write_jsonl(path, train, "chat")
    return path


def direct(train: Path, hp: dict) -> tuple[float, int]:
    from core.backend.linear import LinearTrainer
    from core.records.formats import read_examples

    start = time.perf_counter()
    examples = list(read_examples(train))
    trainer = LinearTrainer(examples, [], hp, seed=1)
    trainer.setup(lambda message: None, lambda: None)
    trainer.train(on_step=lambda m, reported: True)
    return time.perf_counter() - start, trainer.total_steps


async def api(train: Path, hp: dict, data_dir: Path) -> float:
    from core.backend.embedded import EmbeddedBackend

    async with EmbeddedBackend(data_dir) as backend:
        client = backend.client()
        uploaded = await client.files.create(file=train, purpose="fine-tune")
        start = time.perf_counter()
        job = await client.fine_tuning.jobs.create(
            model="startune-local", training_file=uploaded.id, seed=1,
            method={"type": "supervised", "supervised": {"hyperparameters": hp}})
        while job.status not in ("succeeded", "failed", "cancelled"):
            await asyncio.sleep(0.2)
            job = await client.fine_tuning.jobs.retrieve(job.id)
        elapsed = time.perf_counter() - start
        assert job.status == "succeeded", job.error
        return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=288_065)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        train = build(args.rows, tmp)
        n = sum(1 for _ in train.open("rb"))
        # fixed settings: this measures the API's overhead on one epoch, not the auto search
        hp = {"n_epochs": 1, "batch_size": 256, "learning_rate_multiplier": 1.0, "class_weight": "none"}
        print(f"train.jsonl: {n:,} examples, batch size {hp['batch_size']}, lr multiplier {hp['learning_rate_multiplier']}")
        seconds, steps = direct(train, hp)
        print(f"direct: one epoch in {seconds:.1f} s ({steps:,} steps, {1000 * seconds / steps:.1f} ms/step)")
        through_api = asyncio.run(api(train, hp, tmp / "backend"))
        print(f"api:    one epoch in {through_api:.1f} s (job created -> succeeded)")
        print(f"overhead of the API and event bookkeeping: {100 * (through_api / seconds - 1):+.1f}% (target < 15%)")


if __name__ == "__main__":
    main()
