"""Fine-tuning jobs on the in-process local backend through the real openai client, as a user's script
would run them: what the benchmarks of each trainer time and score."""

from __future__ import annotations

import asyncio
import time


async def upload_build(client, build) -> tuple:
    """The build's train and val files, uploaded for fine-tuning."""
    train = await client.files.create(file=build.files["train"], purpose="fine-tune")
    val = await client.files.create(file=build.files["val"], purpose="fine-tune")
    return train, val


async def train_job(client, model: str, train_file, val_file, hp: dict, poll: float) -> tuple:
    """(the job once it succeeded, its seconds from creation to the end); a job that did not succeed ends
    the benchmark. ``poll``: seconds between looks at the job."""
    start = time.perf_counter()
    job = await client.fine_tuning.jobs.create(
        model=model, training_file=train_file.id, validation_file=val_file.id, seed=1,
        method={"type": "supervised", "supervised": {"hyperparameters": hp}})
    while job.status not in ("succeeded", "failed", "cancelled"):
        await asyncio.sleep(poll)
        job = await client.fine_tuning.jobs.retrieve(job.id)
    seconds = time.perf_counter() - start
    if job.status != "succeeded":
        raise SystemExit(f"{model}: job {job.status}: {job.error.message if job.error else ''}")
    return job, seconds
