"""The local backend answering as Azure OpenAI, over HTTP, with the environment the Azure backend reads."""

from __future__ import annotations

import pytest

from tests.fixtures.backend import ServerThread

AZURE_KEY = "azure-secret-key-1234"


@pytest.fixture
def azure_server(tmp_path, monkeypatch):
    server = ServerThread(tmp_path / "azure", azure=True, api_key=AZURE_KEY).start()
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", server.base_url.removesuffix("/v1"))
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", AZURE_KEY)
    yield server
    server.stop()


def deploy(server, model: str, name: str | None = None) -> None:
    """What Azure's portal or `az` does before a fine-tuned model answers: a deployment of it."""
    import httpx2

    response = httpx2.put(f"{server.base_url.removesuffix('/v1')}/openai/deployments/{name or model}",
                          params={"api-version": "2024-10-21"}, headers={"api-key": AZURE_KEY}, json={"model": model})
    assert response.status_code == 200, response.text
