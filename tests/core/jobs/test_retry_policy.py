"""One bounded retry policy: launches get through a flaky backend, nothing waits forever on a dead one."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.backend.faults import FaultConfig
from core.retry import RetryPolicy, call_with_backoff
from tests.fixtures.backend import ServerThread, write_chat_jsonl

REPO = Path(__file__).resolve().parents[3]
DEAD = "http://127.0.0.1:9/v1"  # the discard port: nothing listens there


def startune(*args, timeout: float = 90) -> tuple[subprocess.CompletedProcess, float]:
    env = os.environ | {"PYTHONPATH": str(REPO)}
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "core", *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=timeout, cwd=REPO)
    return proc, time.monotonic() - start


def _one_line_error(proc) -> str:
    lines = [line for line in proc.stderr.splitlines() if line.startswith("startune: error:")]
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    return lines[0]


def test_follow_against_a_dead_backend_stops_with_one_line():
    proc, took = startune("follow", "ftjob-abc", "--base-url", DEAD, "--json")
    assert proc.returncode != 0 and took < 60
    assert "cannot reach the backend" in _one_line_error(proc)
    assert proc.stdout == ""


def test_evaluate_against_a_dead_backend_stops_with_one_line(tmp_path):
    data = write_chat_jsonl(tmp_path / "test.jsonl", 20)
    proc, took = startune("evaluate", "gpt-4o-mini", "--data", data, "--base-url", DEAD, "--json")
    assert proc.returncode != 0 and took < 60
    assert "cannot reach the backend" in _one_line_error(proc)


async def test_policy_is_bounded_in_attempts_and_honours_retry_after():
    import httpx2
    import openai

    waits, calls = [], []

    async def fake_sleep(seconds):
        waits.append(seconds)

    async def rate_limited():
        calls.append(1)
        response = httpx2.Response(429, headers={"retry-after-ms": "1500"},
                                   request=httpx2.Request("GET", "http://x/v1/fine_tuning/jobs"))
        raise openai.RateLimitError("slow down", response=response, body=None)

    with pytest.raises(openai.RateLimitError):
        await call_with_backoff(rate_limited, sleep=fake_sleep, policy=RetryPolicy(attempts=5, deadline=60))
    assert len(calls) == 5 and waits == [1.5] * 4

    waits.clear()
    with pytest.raises(openai.RateLimitError):  # a deadline shorter than the asked wait: no pointless wait
        await call_with_backoff(rate_limited, sleep=fake_sleep, policy=RetryPolicy(attempts=5, deadline=1))
    assert waits == []


async def test_non_transient_errors_are_not_retried():
    import httpx2
    import openai

    calls = []

    async def not_found():
        calls.append(1)
        response = httpx2.Response(404, request=httpx2.Request("GET", "http://x/v1/fine_tuning/jobs/x"))
        raise openai.NotFoundError("no such job", response=response, body=None)

    with pytest.raises(openai.NotFoundError):
        await call_with_backoff(not_found)
    assert len(calls) == 1


@pytest.mark.slow
async def test_ten_concurrent_launches_under_faults_all_succeed(sample_csv, tmp_path):
    from core.data.pipeline import PrepareOptions, prepare
    from core.jobs.backends import BackendChoice, open_client
    from core.jobs.launch import LaunchOptions, launch
    from core.registry.db import Registry

    builds = []
    for i in range(10):  # ten different builds: ten uploads each way, no reuse hides a failure
        prepare(sample_csv, tmp_path / f"build{i}", PrepareOptions(samples={"train": 60 + i, "val": 20, "test": 20}))
        builds.append(tmp_path / f"build{i}")
    faults = FaultConfig(rate_429=0.15, rate_500=0.10, rate_drop=0.05, retry_after=0.05)
    server = ServerThread(tmp_path / "served", faults=faults, start_runner=False).start()
    registry = Registry(tmp_path / "registry.sqlite3")
    choice = BackendChoice("compatible", server.base_url)
    try:
        async with open_client(choice) as client:
            results = await asyncio.gather(
                *(launch(client, b, LaunchOptions(model="startune-local", n_epochs=1), choice=choice,
                         registry=registry) for b in builds), return_exceptions=True)
    finally:
        server.stop()
    failures = [r for r in results if isinstance(r, BaseException)]
    assert failures == []
    assert len({job["id"] for _, job in results}) == 10
    assert len(server.app.state.backend.store.list_jobs()) == 10  # no duplicate job from a retried creation
