"""Transformer fine-tuning jobs through the real openai client on the local backend: minilm-l6 on real
reviews, a restart that resumes from a checkpoint, hf:<folder> with a tiny BERT, and clear failures."""

from __future__ import annotations

import asyncio
import base64
import csv
import math
from pathlib import Path

import openai
import orjson
import pytest

from core.backend.embedded import EmbeddedBackend
from tests.core.backend.helpers import all_events, wait_for
from tests.core.backend.test_transformer import one_torch_thread, toy_examples, write_tiny_bert  # noqa: F401

STARS = ["1", "2", "3", "4", "5"]


def real_reviews(csv_path: Path, n: int, skip: int = 0) -> list[tuple[str, str]]:
    """The first n short, distinct reviews of the real file (short keeps a CPU step cheap)."""
    out, seen = [], set()
    with csv_path.open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            text, star = row["review_description"].strip(), row["rating"].strip()
            if 10 <= len(text) <= 100 and star in STARS and text not in seen:
                seen.add(text)
                out.append((text, star))
            if len(out) == skip + n:
                return out[skip:]
    raise AssertionError(f"{csv_path} has fewer than {skip + n} short reviews")


def write_chat(path: Path, pairs) -> Path:
    path.write_bytes(b"".join(orjson.dumps({"messages": [{"role": "user", "content": text},
                                                         {"role": "assistant", "content": label}]}) + b"\n"
                              for text, label in pairs))
    return path


async def _job(client, train: Path, model: str, hp: dict, valid: Path | None = None, **kw):
    uploaded = await client.files.create(file=train, purpose="fine-tune")
    extra = {}
    if valid is not None:
        extra["validation_file"] = (await client.files.create(file=valid, purpose="fine-tune")).id
    return await client.fine_tuning.jobs.create(
        model=model, training_file=uploaded.id, seed=7,
        method={"type": "supervised", "supervised": {"hyperparameters": hp}}, **extra, **kw)


async def test_minilm_fine_tunes_on_real_reviews_and_answers_with_logprobs(tmp_path, threads_csv):
    from core.backend.model_files import load_model

    train = write_chat(tmp_path / "train.jsonl", real_reviews(threads_csv, 192))
    valid = write_chat(tmp_path / "valid.jsonl", real_reviews(threads_csv, 48, skip=192))
    async with EmbeddedBackend(tmp_path / "b", lease=5.0) as backend:
        client = backend.client()
        listed = {m.id for m in (await client.models.list()).data}
        assert {"minilm-l6", "startune-local"} <= listed
        job = await _job(client, train, "minilm-l6", {"n_epochs": 1, "batch_size": 16,
                                                       "learning_rate_multiplier": 4}, valid)
        done = await wait_for(client, job.id, timeout=150)
        assert done.status == "succeeded", done.error
        assert done.hyperparameters.batch_size == 16 and done.hyperparameters.n_epochs == 1

        events = await all_events(client, job.id)
        assert any(e.message.startswith("Training on ") for e in events)
        steps = [e.data for e in events if e.type == "metrics" and "full_valid_loss" not in e.data]
        assert [s["step"] for s in steps] == list(range(1, 13))
        first, last = steps[0]["train_loss"], sum(s["train_loss"] for s in steps[-4:]) / 4
        assert last < first - 0.2, (first, last)                           # the loss falls
        full = next(e.data for e in events if "full_valid_loss" in (e.data or {}))
        assert full["full_valid_loss"] < first and full["full_valid_mean_token_accuracy"] > 0.4

        checkpoints = backend.app.state.backend.store.list_checkpoints(job.id)
        assert len(checkpoints) == 1
        ckpt = load_model(Path(checkpoints[0][1]))                         # a checkpoint is a model folder
        assert ckpt.classes == STARS and ckpt.predict_proba(["Great app"]).shape == (1, 5)

        answer = await client.chat.completions.create(
            model=done.fine_tuned_model, messages=[{"role": "user", "content": "Worst app ever, keeps crashing"}],
            logprobs=True, top_logprobs=5)
        choice = answer.choices[0]
        assert choice.message.content in STARS
        tops = choice.logprobs.content[0].top_logprobs
        assert sorted(t.token for t in tops) == STARS
        assert math.isclose(sum(math.exp(t.logprob) for t in tops), 1.0, rel_tol=1e-4)

        batch = await client.completions.create(model=done.fine_tuned_model, prompt=["Love it", "Hate it"],
                                                logprobs=2)
        assert len(batch.choices) == 2 and all(c.text.strip() in STARS for c in batch.choices)

        result = (await client.files.content(done.result_files[0])).read()
        lines = base64.b64decode(result).decode().splitlines()
        assert lines[0].startswith("step,train_loss") and len(lines) == 13


async def test_a_restart_resumes_minilm_from_its_last_checkpoint(tmp_path, threads_csv):
    data = tmp_path / "b"
    train = write_chat(tmp_path / "train.jsonl", real_reviews(threads_csv, 48))
    first = EmbeddedBackend(data, pace=0.4, lease=1.0)
    client = first.client()
    job = await _job(client, train, "minilm-l6", {"n_epochs": 2, "batch_size": 16})
    for _ in range(600):
        if (await client.fine_tuning.jobs.checkpoints.list(job.id)).data:
            break
        await asyncio.sleep(0.1)
    await first.aclose()                                     # the process holding the backend goes away
    assert first.app.state.backend.store.status(job.id) == "running"

    async with EmbeddedBackend(data, lease=1.0) as second:
        client = second.client()
        done = await wait_for(client, job.id, timeout=150)
        assert done.status == "succeeded", done.error
        events = await all_events(client, job.id)
        assert any(e.message == "Job resumed from checkpoint at step 3 after a restart" for e in events)
        steps = [e.data["step"] for e in events if e.type == "metrics" and "full_valid_loss" not in e.data]
        assert steps == list(range(1, 7))                    # every step reported once, none repeated
        answer = await client.chat.completions.create(model=done.fine_tuned_model,
                                                      messages=[{"role": "user", "content": "Nice"}])
        assert answer.choices[0].message.content in STARS


async def test_hf_folder_with_a_tiny_bert(tmp_path):
    folder = write_tiny_bert(tmp_path / "tiny-bert")
    pairs = [(e.text, e.label) for e in toy_examples(48)]
    async with EmbeddedBackend(tmp_path / "b", lease=5.0) as backend:
        client = backend.client()
        job = await _job(client, write_chat(tmp_path / "t.jsonl", pairs), f"hf:{folder}",
                         {"n_epochs": 4, "batch_size": 4, "learning_rate_multiplier": 100})
        done = await wait_for(client, job.id, timeout=60)
        assert done.status == "succeeded", done.error
        assert done.fine_tuned_model.startswith(f"ft:hf:{folder}")
        answers = [(await client.chat.completions.create(model=done.fine_tuned_model, messages=[
            {"role": "user", "content": text}])).choices[0].message.content for text in
            ("the app is great and good", "the app is crash and hate")]
        assert answers == ["pos", "neg"]


@pytest.mark.parametrize("model, expected", [
    ("hf:{tmp}/missing", "no such folder"),
    ("hf:{tmp}", "is not a Hugging Face model folder"),
    ("hf:someone/not-downloaded", "hub is offline"),
])
async def test_a_bad_base_model_fails_the_job_with_one_clear_line(tmp_path, model, expected):
    pairs = [(e.text, e.label) for e in toy_examples(12)]
    async with EmbeddedBackend(tmp_path / "b", lease=5.0) as backend:
        client = backend.client()
        job = await _job(client, write_chat(tmp_path / "t.jsonl", pairs), model.format(tmp=tmp_path), {})
        done = await wait_for(client, job.id, timeout=60)
        assert done.status == "failed" and expected in done.error.message
        assert done.error.param == "model" and done.error.code == "invalid_model"
        assert "\n" not in done.error.message and "Traceback" not in done.error.message


async def test_without_the_extra_job_creation_says_what_to_install(tmp_path, monkeypatch):
    from core.backend.transformer import weights

    monkeypatch.setattr(weights, "REQUIRED_MODULES", ("torch", "startune_no_such_module"))
    async with EmbeddedBackend(tmp_path / "b", start_runner=False) as backend:
        client = backend.client(max_retries=0)
        with pytest.raises(openai.BadRequestError) as info:
            await _job(client, write_chat(tmp_path / "t.jsonl", [("a", "1"), ("b", "2")]), "minilm-l6", {})
        assert "pip install 'startune[transformers]'" in info.value.message


def test_a_transformer_launch_is_estimated_in_time_before_it_starts(tmp_path, threads_csv):
    """The calibration runs the job's own steps here and scales them; the linear model gets no such line."""
    from core.jobs.estimate import estimate_launch
    from core.jobs.launch import LaunchOptions

    train = write_chat(tmp_path / "train.jsonl", real_reviews(threads_csv, 96))
    estimate = estimate_launch(train, LaunchOptions(model="minilm-l6"), "minilm-l6")
    line = estimate.describe_duration()
    assert line.startswith("training time: up to ") and " steps at " in line, line
    assert estimate.duration.total_steps == estimate.duration.total_steps > 0
    assert 0 < estimate.duration.step_seconds < estimate.duration.seconds
    assert estimate_launch(train, LaunchOptions(model="startune-local"), "startune-local").duration is None


async def test_estimated_finish_is_kept_while_a_transformer_job_runs(tmp_path):
    tiny = write_tiny_bert(tmp_path / "tiny")
    train = write_chat(tmp_path / "train.jsonl", [(e.text, e.label) for e in toy_examples(64)])
    async with EmbeddedBackend(tmp_path / "b", pace=0.05, lease=5.0) as backend:
        client = backend.client()
        job = await _job(client, train, f"hf:{tiny}", {"n_epochs": 2, "batch_size": 8})
        seen = []
        for _ in range(600):
            current = await client.fine_tuning.jobs.retrieve(job.id)
            if current.status == "running" and current.estimated_finish:
                seen.append(current.estimated_finish)
            if current.status in ("succeeded", "failed") or len(seen) >= 3:
                break
            await asyncio.sleep(0.05)
        assert seen and all(s >= current.created_at for s in seen)
        done = await wait_for(client, job.id, timeout=120)
        assert done.status == "succeeded" and done.estimated_finish is None
