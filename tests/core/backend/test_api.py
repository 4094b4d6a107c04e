"""The real openai client against the local backend, in process and over HTTP (the `api` fixture)."""

from __future__ import annotations

import base64
import csv
import io

import openai
import pytest

from tests.core.backend.helpers import all_events, wait_for
from tests.fixtures.backend import write_chat_jsonl


async def test_full_job_flow(api, tmp_path):
    train = await api.files.create(file=write_chat_jsonl(tmp_path / "train.jsonl", 60), purpose="fine-tune")
    valid = await api.files.create(file=write_chat_jsonl(tmp_path / "val.jsonl", 20, 500), purpose="fine-tune")
    assert train.purpose == "fine-tune" and train.filename == "train.jsonl"
    assert (await api.files.retrieve(train.id)).bytes == (tmp_path / "train.jsonl").stat().st_size
    assert {f.id for f in (await api.files.list()).data} >= {train.id, valid.id}

    job = await api.fine_tuning.jobs.create(
        model="startune-local", training_file=train.id, validation_file=valid.id, suffix="reviews", seed=7,
        method={"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 2, "batch_size": 4}}},
        metadata={"build": "abc"})
    assert job.status == "validating_files"
    job = await wait_for(api, job.id)
    assert job.status == "succeeded", job.error
    assert job.fine_tuned_model == f"ft:startune-local:local:reviews:{job.id.removeprefix('ftjob-')[:8]}"
    assert job.hyperparameters.n_epochs == 2 and job.hyperparameters.batch_size == 4
    assert job.trained_tokens > 0 and job.finished_at >= job.created_at

    events = await all_events(api, job.id)
    messages = [e.message for e in events]
    assert messages[0].startswith("Created fine-tuning job")
    assert "Files validated, moving job to queued state" in messages
    assert "Fine-tuning job started" in messages
    assert messages[-1] == "The job has successfully completed"
    assert any(m.startswith("New fine-tuned model created: ft:startune-local") for m in messages)
    metrics = [e.data for e in events if e.type == "metrics"]
    assert [m["step"] for m in metrics[:-1]] == list(range(1, 31))  # 60 / 4 x 2 epochs
    assert {"train_loss", "train_mean_token_accuracy", "valid_loss", "valid_mean_token_accuracy"} <= set(metrics[0])
    assert "full_valid_loss" in metrics[-1]
    assert len({e.id for e in events}) == len(events)

    page = await api.fine_tuning.jobs.list_events(job.id)
    assert len(page.data) == 20 and page.has_more  # default limit, newest first
    assert page.data[0].message == "The job has successfully completed"

    checkpoints = (await api.fine_tuning.jobs.checkpoints.list(job.id)).data
    assert [c.step_number for c in checkpoints] == [30, 15]
    assert checkpoints[0].fine_tuned_model_checkpoint.endswith(":ckpt-step-30")

    raw = (await api.files.content(job.result_files[0])).content
    table = list(csv.DictReader(io.StringIO(base64.b64decode(raw).decode())))
    assert list(table[0]) == ["step", "train_loss", "train_accuracy", "valid_loss", "valid_mean_token_accuracy"]
    assert len(table) == 30

    answer = await api.chat.completions.create(
        model=job.fine_tuned_model, messages=[{"role": "user", "content": "Crashes on start"}],
        temperature=0, max_tokens=1, logprobs=True, top_logprobs=5)
    choice = answer.choices[0]
    assert choice.message.content in {"1", "2", "3", "4", "5"}
    tops = choice.logprobs.content[0].top_logprobs
    assert sorted(t.token for t in tops) == ["1", "2", "3", "4", "5"]
    assert tops[0].token == choice.message.content

    text = await api.completions.create(model=job.fine_tuned_model, prompt="Useless\n\n###\n\n", max_tokens=1,
                                        temperature=0, logprobs=5)
    assert text.choices[0].text.strip() in {"1", "2", "3", "4", "5"} and text.choices[0].text.startswith(" ")
    assert len(text.choices[0].logprobs.top_logprobs[0]) == 5

    models = {m.id for m in (await api.models.list()).data}
    assert {"startune-local", job.fine_tuned_model} <= models
    assert (await api.models.retrieve(job.fine_tuned_model)).owned_by == "local"
    listed = await api.fine_tuning.jobs.list(metadata={"build": "abc"})
    assert [j.id for j in listed.data] == [job.id]
    assert (await api.models.delete(job.fine_tuned_model)).deleted
    with pytest.raises(openai.NotFoundError):
        await api.models.retrieve(job.fine_tuned_model)
    assert (await api.files.delete(train.id)).deleted


async def test_bad_requests_get_openai_errors(api, tmp_path):
    train = await api.files.create(file=write_chat_jsonl(tmp_path / "t.jsonl", 12), purpose="fine-tune")
    cases = [
        (dict(model="gpt-9", training_file=train.id), "model", 400),
        (dict(model="startune-local", training_file="file-nope"), "training_file", 400),
        (dict(model="startune-local", training_file=train.id, suffix="x" * 65), "suffix", 400),
        (dict(model="startune-local", training_file=train.id,
              method={"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 51}}}),
         "method.supervised.hyperparameters.n_epochs", 400),
        (dict(model="startune-local", training_file=train.id, hyperparameters={"batch_size": 0}),
         "hyperparameters.batch_size", 400),
        (dict(model="startune-local", training_file=train.id, hyperparameters={"learning_rate_multiplier": -1}),
         "hyperparameters.learning_rate_multiplier", 400),
    ]
    for kwargs, param, status in cases:
        with pytest.raises(openai.APIStatusError) as info:
            await api.fine_tuning.jobs.create(**kwargs)
        assert info.value.status_code == status
        assert info.value.body["param"] == param, kwargs
    for call in (api.fine_tuning.jobs.retrieve("ftjob-missing"), api.files.retrieve("file-missing"),
                 api.fine_tuning.jobs.cancel("ftjob-missing")):
        with pytest.raises(openai.NotFoundError):
            await call
    with pytest.raises(openai.BadRequestError) as info:
        await api.files.create(file=("x.jsonl", b"{}"), purpose="fine_tune")
    assert info.value.body["param"] == "purpose"
    with pytest.raises(openai.BadRequestError) as info:
        await api.post("/fine_tuning/jobs", cast_to=object, content=b"{not json",
                       options={"headers": {"content-type": "application/json"}})
    assert "parse the JSON body" in info.value.message


async def test_control_responses_match_the_spec(conformance, tmp_path):
    """cancel, pause and resume need a job slow enough to catch running."""
    import httpx2

    from core.backend.app import create_app
    from tests.core.backend.helpers import wait_for

    app = create_app(tmp_path / "b", pace=0.01, lease=2.0)
    http = openai.DefaultAsyncHttpxClient(transport=httpx2.ASGITransport(app=app),
                                          event_hooks={"response": [conformance.hook]})
    client = openai.AsyncOpenAI(api_key="x", base_url="http://startune.local/v1", http_client=http)
    try:
        train = await client.files.create(file=write_chat_jsonl(tmp_path / "t.jsonl", 40), purpose="fine-tune")
        job = await client.fine_tuning.jobs.create(model="startune-local", training_file=train.id,
                                                   hyperparameters={"n_epochs": 5, "batch_size": 1})
        await wait_for(client, job.id, ("running",))
        assert (await client.fine_tuning.jobs.pause(job.id)).status == "paused"
        assert (await client.fine_tuning.jobs.resume(job.id)).status == "running"
        assert (await client.fine_tuning.jobs.cancel(job.id)).status == "cancelled"
        with pytest.raises(openai.BadRequestError):
            await client.fine_tuning.jobs.resume(job.id)
    finally:
        await client.close()
        app.state.backend.runner.stop()
    checked = {(method, template) for method, template, _ in conformance.checked}
    for action in ("pause", "resume", "cancel"):
        assert ("POST", f"/fine_tuning/jobs/{{fine_tuning_job_id}}/{action}") in checked
