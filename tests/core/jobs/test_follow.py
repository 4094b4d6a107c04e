"""Following a job loses nothing and repeats nothing: faults, a killed follower, a restarted server."""

from __future__ import annotations

import asyncio
import threading
import time

import openai
import pytest

from core.backend.faults import FaultConfig
from core.retry import PollIntervals
from core.jobs.series import MetricSeries
from core.jobs.track import track
from core.registry.db import Registry
from tests.fixtures.backend import ServerThread, write_chat_jsonl

FAST = PollIntervals(running=0.02, waiting=0.05, max_backoff=0.2)


def server_events(server, job_id: str) -> list[str]:
    store = server.app.state.backend.store
    events, _ = store.list_events(job_id, None, 100_000)
    return [e["id"] for e in reversed(events)]


async def _launch(client, tmp_path, epochs=3):
    train = await client.files.create(file=write_chat_jsonl(tmp_path / "t.jsonl", 40), purpose="fine-tune")
    valid = await client.files.create(file=write_chat_jsonl(tmp_path / "v.jsonl", 12, 900), purpose="fine-tune")
    return await client.fine_tuning.jobs.create(
        model="startune-local", training_file=train.id, validation_file=valid.id, seed=4,
        method={"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": epochs, "batch_size": 2}}})


async def test_follow_under_faults_records_exactly_the_servers_events(tmp_path):
    faults = FaultConfig(rate_429=0.12, rate_500=0.06, rate_drop=0.03, seed=11)
    server = ServerThread(tmp_path / "s", faults=faults, pace=0.003).start()
    registry = Registry(tmp_path / "registry.sqlite3")
    client = openai.AsyncOpenAI(api_key="x", base_url=server.base_url, max_retries=0)
    try:
        job = await _launch(openai.AsyncOpenAI(api_key="x", base_url=server.base_url, max_retries=10), tmp_path)
        retries = []
        delivered = [e["id"] async for e in track(client, registry, backend="s", job_id=job.id, intervals=FAST,
                                                  on_retry=lambda exc, wait: retries.append(exc))]
        assert retries, "the faults were not exercised"
        expected = server_events(server, job.id)
        assert delivered == expected
        assert [e["id"] for e in registry.events("s", job.id)] == expected
        assert registry.run_for_job("s", job.id)["status"] == "succeeded"
    finally:
        await client.close()
        server.stop()


async def test_killed_follower_resumes_without_loss_or_repeats(tmp_path):
    server = ServerThread(tmp_path / "s", pace=0.005).start()
    registry = Registry(tmp_path / "registry.sqlite3")
    client = openai.AsyncOpenAI(api_key="x", base_url=server.base_url)
    try:
        job = await _launch(client, tmp_path)
        first = []
        async for event in track(client, registry, backend="s", job_id=job.id, intervals=FAST):
            first.append(event["id"])
            if len(first) == 15:
                break  # the follower dies here
        second = [e["id"] async for e in track(client, registry, backend="s", job_id=job.id, intervals=FAST)]
        assert first + second == server_events(server, job.id)
    finally:
        await client.close()
        server.stop()


async def test_server_restart_mid_job(tmp_path):
    data = tmp_path / "s"
    server = ServerThread(data, pace=0.005).start()
    port = server.port
    registry = Registry(tmp_path / "registry.sqlite3")
    client = openai.AsyncOpenAI(api_key="x", base_url=server.base_url, max_retries=0)
    delivered: list[str] = []
    back = threading.Event()

    def wait_for_the_restart(exc, wait) -> None:
        # the follower's retries are short (FAST), a restart under load is not: a retry that meets the server
        # down waits until it is back (the server starts in another thread), so what is tested is that the
        # follower resumes exactly where it was, not how long its retries last
        back.wait(60)

    async def follow():
        async for event in track(client, registry, backend="s", job_id=job.id, intervals=FAST,
                                 on_retry=wait_for_the_restart):
            delivered.append(event["id"])

    try:
        job = await _launch(openai.AsyncOpenAI(api_key="x", base_url=server.base_url), tmp_path, epochs=4)
        task = asyncio.create_task(follow())
        while len(delivered) < 20:
            await asyncio.sleep(0.01)
        servers = [server]

        def restart() -> None:   # in its own thread: the follower may hold the event loop while it waits
            servers[0].stop()
            time.sleep(0.3)
            again = ServerThread(data)
            again.port = port
            again.server.config.port = port
            again.start()
            servers[0] = again
            back.set()

        threading.Thread(target=restart, daemon=True).start()
        await asyncio.to_thread(back.wait, 60)
        server = servers[0]
        await asyncio.wait_for(task, 60)
        assert delivered == server_events(server, job.id)
        assert registry.run_for_job("s", job.id)["status"] == "succeeded"
    finally:
        await client.close()
        server.stop()


def test_series_from_metrics_events():
    events = [
        {"type": "message", "message": "x"},
        {"type": "metrics", "data": {"step": 1, "total_steps": 3, "train_loss": 2.0, "train_mean_token_accuracy": 0.1}},
        {"type": "metrics", "data": {"step": 2, "total_steps": 3, "train_loss": 1.0, "valid_loss": 1.5}},
        {"type": "metrics", "data": {"step": 3, "total_steps": 3, "train_loss": 0.5, "valid_loss": 1.2,
                                     "full_valid_loss": 1.1}},
    ]
    s = MetricSeries.from_events(events)
    assert s.series("train_loss") == ([1, 2, 3], [2.0, 1.0, 0.5])
    assert s.series("valid_loss") == ([2, 3], [1.5, 1.2])
    assert s.best("valid_loss") == 1.2 and s.last_step == 3 and s.full_valid == {"full_valid_loss": 1.1}


@pytest.mark.parametrize("encoded", [True, False])
def test_result_csv_base64_or_plain(encoded):
    import base64

    from core.jobs.results import decode_result, parse_result_csv

    csv = b"step,train_loss,train_accuracy,valid_loss,valid_mean_token_accuracy\n1,2.0,0.5,,\n2,1.0,0.75,1.5,0.6\n"
    table = parse_result_csv(decode_result(base64.b64encode(csv) if encoded else csv))
    assert table.column("valid_loss") == ([2.0], [1.5])
    assert table.rows[0]["valid_loss"] is None


async def test_upload_streams_with_progress_and_survives_retries(tmp_path):
    import hashlib

    from core.backend.embedded import EmbeddedBackend
    from core.jobs.launch import upload

    path = write_chat_jsonl(tmp_path / "big.jsonl", 5_000)
    seen = []
    faults = FaultConfig(rate_500=0.3, seed=4)  # the first upload attempt fails (seed 4): it is retried
    async with EmbeddedBackend(tmp_path / "b", faults=faults) as backend:
        client = backend.client(max_retries=10)
        file_id = await upload(client, path, registry=Registry(tmp_path / "r.sqlite3"), backend="local",
                               progress=lambda stage, done, total: seen.append(done))
        stored = (backend.data_dir / "files" / file_id).read_bytes()
    assert hashlib.sha256(stored).digest() == hashlib.sha256(path.read_bytes()).digest()
    assert len(seen) > 5 and seen[-1] == path.stat().st_size
