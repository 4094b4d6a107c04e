from __future__ import annotations

import pytest

from tests.core.backend.openapi_check import Conformance


@pytest.fixture
def conformance():
    from tests.conftest import shared_data_file
    from tests.core.backend.openapi_check import SPEC

    shared_data_file(SPEC)  # OpenAI's spec lives in ../shared: skipped on a fresh clone, required in CI
    check = Conformance()
    yield check
    check.assert_ok()


@pytest.fixture(params=["asgi", "http"])
async def api(request, tmp_path, conformance):
    """The real openai client on the local backend, in process and over real HTTP; every
    response checked against the spec."""
    import httpx2
    import openai

    from tests.fixtures.backend import ServerThread

    hooks = {"response": [conformance.hook]}
    if request.param == "asgi":
        from core.backend.app import create_app

        app = create_app(tmp_path / "backend", lease=2.0)
        http = openai.DefaultAsyncHttpxClient(transport=httpx2.ASGITransport(app=app), event_hooks=hooks)
        client = openai.AsyncOpenAI(api_key="x", base_url="http://startune.local/v1", http_client=http)
        yield client
        await client.close()
        app.state.backend.runner.stop()
    else:
        server = ServerThread(tmp_path / "served").start()
        http = openai.DefaultAsyncHttpxClient(event_hooks=hooks)
        client = openai.AsyncOpenAI(api_key="x", base_url=server.base_url, http_client=http)
        yield client
        await client.close()
        server.stop()
