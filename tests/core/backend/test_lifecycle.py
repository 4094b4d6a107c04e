"""Job control, failures, restarts and limits on the in-process local backend."""

from __future__ import annotations

import asyncio

import openai
import orjson
import pytest

from core.backend.embedded import EmbeddedBackend
from core.backend.faults import FaultConfig
from tests.core.backend.helpers import all_events, wait_for
from tests.fixtures.backend import write_chat_jsonl


async def _start(client, tmp_path, n=60, **kw):
    train = await client.files.create(file=write_chat_jsonl(tmp_path / "train.jsonl", n), purpose="fine-tune")
    hp = kw.pop("hp", {"n_epochs": 3, "batch_size": 2})
    return await client.fine_tuning.jobs.create(
        model="startune-local", training_file=train.id, seed=1,
        method={"type": "supervised", "supervised": {"hyperparameters": hp}}, **kw)


async def test_cancel_running_job(tmp_path):
    async with EmbeddedBackend(tmp_path / "b", pace=0.02, lease=2.0) as backend:
        client = backend.client()
        job = await _start(client, tmp_path)
        await wait_for(client, job.id, ("running",))
        cancelled = await client.fine_tuning.jobs.cancel(job.id)
        assert cancelled.status == "cancelled"
        await asyncio.sleep(0.2)
        job = await client.fine_tuning.jobs.retrieve(job.id)
        assert job.status == "cancelled" and job.fine_tuned_model is None
        with pytest.raises(openai.BadRequestError):
            await client.fine_tuning.jobs.cancel(job.id)


async def test_pause_and_resume(tmp_path):
    async with EmbeddedBackend(tmp_path / "b", pace=0.01, lease=2.0) as backend:
        client = backend.client()
        job = await _start(client, tmp_path)
        await wait_for(client, job.id, ("running",))
        assert (await client.fine_tuning.jobs.pause(job.id)).status == "paused"
        await asyncio.sleep(0.3)
        events_while_paused = len(await all_events(client, job.id))
        await asyncio.sleep(0.3)
        assert len(await all_events(client, job.id)) == events_while_paused  # nothing trains while paused
        with pytest.raises(openai.BadRequestError):
            await client.fine_tuning.jobs.pause(job.id)
        assert (await client.fine_tuning.jobs.resume(job.id)).status == "running"
        done = await wait_for(client, job.id)
        assert done.status == "succeeded"
        messages = [e.message for e in await all_events(client, job.id)]
        assert "Fine-tuning job paused" in messages and "Fine-tuning job resumed" in messages


async def test_restart_mid_job_resumes_from_checkpoint(tmp_path):
    data = tmp_path / "b"
    first = EmbeddedBackend(data, pace=0.01, lease=1.0)
    client = first.client()
    job = await _start(client, tmp_path, n=40, hp={"n_epochs": 4, "batch_size": 4})
    # wait until the first epoch's checkpoint exists, then stop the process's backend mid-job
    for _ in range(400):
        if (await client.fine_tuning.jobs.checkpoints.list(job.id)).data:
            break
        await asyncio.sleep(0.02)
    await first.aclose()
    assert (await asyncio.to_thread(lambda: first.app.state.backend.store.status(job.id))) == "running"

    async with EmbeddedBackend(data, lease=1.0) as second:
        client = second.client()
        done = await wait_for(client, job.id, timeout=60)
        assert done.status == "succeeded"
        messages = [e.message for e in await all_events(client, job.id)]
        assert any(m.startswith("Job resumed from checkpoint at step") for m in messages)
        answer = await client.chat.completions.create(model=done.fine_tuned_model,
                                                      messages=[{"role": "user", "content": "Useless"}])
        assert answer.choices[0].message.content in set("12345")


async def _final_metrics(client, job_id) -> tuple[dict, list[str]]:
    events = await all_events(client, job_id)
    full = [e.data for e in events if e.type == "metrics" and "full_valid_loss" in (e.data or {})]
    job = await client.fine_tuning.jobs.retrieve(job_id)
    content = (await client.files.content(job.result_files[0])).read()
    import base64

    return full[-1], base64.b64decode(content).decode().splitlines()


async def test_restart_at_defaults_ends_with_the_same_model(tmp_path):
    """Auto settings, early stopping and the optimiser's state all survive a restart: the resumed
    job ends with exactly the metrics of a run that was never interrupted."""
    train = write_chat_jsonl(tmp_path / "train.jsonl", 120)
    val = write_chat_jsonl(tmp_path / "val.jsonl", 40, 1000)

    async def start(client):
        t = await client.files.create(file=train, purpose="fine-tune")
        v = await client.files.create(file=val, purpose="fine-tune")
        return await client.fine_tuning.jobs.create(model="startune-local", training_file=t.id,
                                                    validation_file=v.id, seed=5)

    async with EmbeddedBackend(tmp_path / "whole", lease=1.0) as backend:
        client = backend.client()
        job = await wait_for(client, (await start(client)).id, timeout=60)
        assert job.status == "succeeded"
        expected = await _final_metrics(client, job.id)

    data = tmp_path / "interrupted"
    first = EmbeddedBackend(data, pace=0.02, lease=1.0)
    client = first.client()
    job = await start(client)
    for _ in range(1000):
        if (await client.fine_tuning.jobs.checkpoints.list(job.id)).data:
            break
        await asyncio.sleep(0.02)
    await first.aclose()
    async with EmbeddedBackend(data, lease=1.0) as second:
        client = second.client()
        done = await wait_for(client, job.id, timeout=60)
        assert done.status == "succeeded"
        messages = [e.message for e in await all_events(client, job.id)]
        assert any(m.startswith("Job resumed from checkpoint at step") for m in messages)
        assert sum(m.startswith("Auto search:") for m in messages) == 4   # not searched again
        assert await _final_metrics(client, job.id) == expected


async def test_bad_training_file_fails_the_job_naming_the_line(local_client, tmp_path):
    path = write_chat_jsonl(tmp_path / "bad.jsonl", 12)
    lines = path.read_bytes().splitlines()
    lines[6] = orjson.dumps({"messages": [{"role": "user", "content": "no answer"}]})
    path.write_bytes(b"\n".join(lines) + b"\n")
    train = await local_client.files.create(file=path, purpose="fine-tune")
    job = await local_client.fine_tuning.jobs.create(model="startune-local", training_file=train.id)
    job = await wait_for(local_client, job.id)
    assert job.status == "failed"
    assert job.error.code == "invalid_training_file" and job.error.param == "training_file"
    assert "line 7" in job.error.message


async def test_free_form_answers_cannot_be_learned(local_client, tmp_path):
    path = tmp_path / "free.jsonl"
    path.write_bytes(b"\n".join(orjson.dumps({"messages": [
        {"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": f"answer number {i}"}]})
        for i in range(80)) + b"\n")
    train = await local_client.files.create(file=path, purpose="fine-tune")
    job = await wait_for(local_client, (await local_client.fine_tuning.jobs.create(
        model="startune-local", training_file=train.id)).id)
    assert job.status == "failed" and "distinct" in job.error.message


async def test_training_not_available(tmp_path):
    async with EmbeddedBackend(tmp_path / "b", deny_training=True) as backend:
        client = backend.client()
        train = await client.files.create(file=write_chat_jsonl(tmp_path / "t.jsonl", 12), purpose="fine-tune")
        with pytest.raises(openai.PermissionDeniedError) as info:
            await client.fine_tuning.jobs.create(model="startune-local", training_file=train.id)
        assert info.value.code == "training_not_available"


async def test_api_key_required_when_set(tmp_path):
    import httpx2

    from core.backend.app import create_app

    app = create_app(tmp_path / "b", api_key="sk-secret-key-123456", start_runner=False)
    http = openai.DefaultAsyncHttpxClient(transport=httpx2.ASGITransport(app=app))
    wrong = openai.AsyncOpenAI(api_key="sk-wrong-key-999999", base_url="http://x/v1", http_client=http)
    with pytest.raises(openai.AuthenticationError) as info:
        await wrong.models.list()
    assert "sk-secret" not in str(info.value) and "sk-wrong-key" not in str(info.value)
    right = openai.AsyncOpenAI(api_key="sk-secret-key-123456", base_url="http://x/v1", http_client=http)
    assert (await right.models.list()).data[0].id == "startune-local"


async def test_upload_limit(tmp_path):
    import httpx2

    from core.backend.app import create_app

    app = create_app(tmp_path / "b", max_upload=1000, start_runner=False)
    client = openai.AsyncOpenAI(api_key="x", base_url="http://x/v1", max_retries=0,
                                http_client=openai.DefaultAsyncHttpxClient(transport=httpx2.ASGITransport(app=app)))
    with pytest.raises(openai.APIStatusError) as info:
        await client.files.create(file=("big.jsonl", b"x" * 5000), purpose="fine-tune")
    assert info.value.status_code == 413
    assert not list((tmp_path / "b" / "files").iterdir())


async def test_filenames_are_never_paths(local_client, local_backend, tmp_path):
    uploaded = await local_client.files.create(file=("../../evil.jsonl", b'{"a": 1}\n'), purpose="fine-tune")
    assert uploaded.filename == "evil.jsonl"
    assert not (tmp_path / "evil.jsonl").exists()
    assert (local_backend.data_dir / "files" / uploaded.id).is_file()


async def test_job_completes_under_injected_faults(tmp_path):
    faults = FaultConfig(rate_429=0.15, rate_500=0.05, rate_drop=0.03, seed=5)
    async with EmbeddedBackend(tmp_path / "b", faults=faults) as backend:
        client = backend.client(max_retries=10)
        job = await _start(client, tmp_path, hp={"n_epochs": 1, "batch_size": 8})
        done = await wait_for(client, job.id)
        assert done.status == "succeeded"


def test_two_processes_never_train_one_job(tmp_path):
    from core.backend.store import Store

    store = Store(tmp_path)
    store.add_job({"id": "ftjob-1", "created_at": 1, "status": "queued"})
    assert store.job_leases.claim("a", 30, ("queued",))["id"] == "ftjob-1"
    assert store.job_leases.claim("b", 30, ("queued",)) is None
    store.job_leases.release("ftjob-1", "a")
    assert store.job_leases.claim("b", 30, ("queued",))["id"] == "ftjob-1"


def test_leases_only_on_tables_with_lease_columns(tmp_path):
    from core.backend.store import Leases, Store

    with pytest.raises(ValueError, match="no lease columns"):
        Leases(Store(tmp_path), "files; DROP TABLE jobs")


async def test_faults_over_real_http(tmp_path):
    from tests.fixtures.backend import ServerThread

    server = ServerThread(tmp_path / "s", faults=FaultConfig(rate_429=0.15, rate_500=0.05, rate_drop=0.05, seed=2))
    server.start()
    try:
        client = openai.AsyncOpenAI(api_key="x", base_url=server.base_url, max_retries=10)
        job = await _start(client, tmp_path, hp={"n_epochs": 1, "batch_size": 8})
        assert (await wait_for(client, job.id)).status == "succeeded"
        await client.close()
    finally:
        server.stop()


async def test_restart_during_validation_logs_it_once(tmp_path):
    """A job restarted while its files are validated is validated again, but says so once."""
    from core.backend.runner import JobRunner

    async with EmbeddedBackend(tmp_path / "b", lease=1.0, start_runner=False) as backend:
        client = backend.client()
        job = await _start(client, tmp_path)
        store = backend.app.state.backend.store
        runner = JobRunner(store)
        for _ in range(2):                       # the second pass is what a restarted process does
            assert runner._validate(store.get_job(job.id)) is not None
        messages = [e.message for e in await all_events(client, job.id)]
        assert sum(m.startswith("Validating training file") for m in messages) == 1
