"""`follow --json` delivers every event exactly once from the user's cursor, even across a kill -9
between storing an event and printing it (issue 18)."""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import openai
import orjson
import pytest

from core.paths import registry_path
from core.registry.db import Registry
from tests.fixtures.backend import ServerThread, write_chat_jsonl

REPO = Path(__file__).resolve().parents[3]
F_SETPIPE_SZ = 1031  # Linux: shrink the pipe so a follower whose reader stalls blocks soon


def _follow(base_url: str, job_id: str, *extra: str, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "core", "follow", job_id, "--base-url", base_url, "--json", *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO,
                            env=os.environ | {"PYTHONPATH": str(REPO)}, **kw)


def _lines(blob: bytes) -> list[dict]:
    """Whole JSON lines only: a line cut by the kill was never delivered."""
    complete = blob[: blob.rfind(b"\n") + 1]
    return [orjson.loads(line) for line in complete.splitlines()]


def _server_ids(server, job_id: str) -> list[str]:
    events, _ = server.app.state.backend.store.list_events(job_id, None, 100_000)
    return [e["id"] for e in reversed(events)]


async def _launch(base_url: str, tmp_path: Path) -> str:
    async with openai.AsyncOpenAI(api_key="x", base_url=base_url) as client:
        train = await client.files.create(file=write_chat_jsonl(tmp_path / "t.jsonl", 40), purpose="fine-tune")
        job = await client.fine_tuning.jobs.create(
            model="startune-local", training_file=train.id, seed=3,
            method={"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 4, "batch_size": 2}}})
    return job.id


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="needs Linux pipes (F_SETPIPE_SZ) and /proc/PID/wchan")
async def test_follower_killed_between_store_and_print_loses_nothing_on_rerun(tmp_path):
    server = ServerThread(tmp_path / "served", pace=0.1).start()
    backend_key = f"compatible:{server.base_url}"
    try:
        job_id = await _launch(server.base_url, tmp_path)
        first = _follow(server.base_url, job_id)
        fcntl.fcntl(first.stdout.fileno(), F_SETPIPE_SZ, 4096)
        # nobody reads: the pipe fills, and the follower blocks writing an event it has already stored
        registry = Registry(registry_path())
        deadline = time.monotonic() + 60
        while "pipe" not in Path(f"/proc/{first.pid}/wchan").read_text():  # blocked writing a stored event
            assert time.monotonic() < deadline and first.poll() is None, "the follower never blocked on its output"
            time.sleep(0.05)
        time.sleep(0.5)  # still blocked: the pipe is really full, not a write in passing
        assert "pipe" in Path(f"/proc/{first.pid}/wchan").read_text()
        first.send_signal(signal.SIGKILL)
        printed = _lines(first.stdout.read())
        first.wait(10)
        assert server.app.state.backend.store.get_job(job_id)["status"] not in ("succeeded", "failed")
        stored = registry.events(backend_key, job_id)
        # the follower died blocked on its output, with every printed event stored (usually one more)
        assert len(stored) >= len(printed) > 0

        # the rerun continues after the last event the user got, and loses nothing
        rest = _follow(server.base_url, job_id, "--since", printed[-1]["id"])
        out, err = rest.communicate(timeout=120)
        assert rest.returncode == 0, err
        continued = _lines(out)
        assert [e["id"] for e in printed + continued] == _server_ids(server, job_id)

        # a second follower started afresh prints the whole stream, not only what the registry lacks
        again = _follow(server.base_url, job_id)
        out, err = again.communicate(timeout=120)
        assert again.returncode == 0, err
        assert [e["id"] for e in _lines(out)] == _server_ids(server, job_id)
    finally:
        server.stop()


def test_since_an_unknown_event_is_one_line(tmp_path):
    server = ServerThread(tmp_path / "served").start()
    try:
        import asyncio

        job_id = asyncio.run(_launch(server.base_url, tmp_path))
        proc = _follow(server.base_url, job_id, "--since", "ftevent-nope")
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 2 and out == b""
        assert err.decode().strip().splitlines()[-1].startswith("startune: error: event 'ftevent-nope' is not in")
        assert b"Traceback" not in err
    finally:
        server.stop()
