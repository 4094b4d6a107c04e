"""The session's backend client: one at a time, the old one closed when the backend changes."""

from __future__ import annotations

from core.jobs.backends import BackendChoice
from tui.session import FollowedJob, Session

ELSEWHERE = BackendChoice("compatible", "http://127.0.0.1:9/v1")  # never contacted: no request is made


async def test_changing_backend_closes_the_old_client(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    session = Session(choice=BackendChoice("local"), local_dir=tmp_path)
    local = await session.client()
    assert await session.client() is local
    session.use_backend(ELSEWHERE)
    remote = await session.client()
    assert remote is not local and local.is_closed() and not remote.is_closed()
    await session.aclose()
    assert remote.is_closed()


async def test_a_client_still_following_a_job_is_closed_at_exit(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    session = Session(choice=BackendChoice("local"), local_dir=tmp_path)
    local = await session.client()
    session.jobs[("local", "ftjob-1")] = FollowedJob("local", "ftjob-1", following=True)
    session.use_backend(ELSEWHERE)
    await session.client()
    assert not local.is_closed()
    await session.aclose()
    assert local.is_closed()
