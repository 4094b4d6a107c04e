"""The local backend inside the calling process: no port, the ASGI app behind httpx2.ASGITransport."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from core.backend.faults import FaultConfig

if TYPE_CHECKING:
    import openai

BASE_URL = "http://startune.local/v1"
DUMMY_KEY = "startune-local"  # the embedded backend needs no key; the client insists on one


class EmbeddedBackend:
    """A job trains while some process holding a backend with a runner on its data directory is
    alive; the next one to open it with a runner resumes unfinished jobs.

    ``start_runner=False`` serves the API without ever claiming a job: what commands that only read
    or change a job's state (jobs, results, cancel, a launch that does not wait) must use."""

    def __init__(self, data_dir: Path | None = None, *, pace: float = 0.0, faults: FaultConfig | None = None,
                 deny_training: bool = False, lease: float = 15.0, start_runner: bool = True,
                 azure: bool = False, start_batches: bool | None = None, devices: str | int | None = None) -> None:
        from core.backend.app import create_app
        from core.paths import local_backend_dir

        self.data_dir = Path(data_dir) if data_dir is not None else local_backend_dir()
        self.app = create_app(self.data_dir, pace=pace, faults=faults, deny_training=deny_training, lease=lease,
                              start_runner=start_runner, azure=azure, start_batches=start_batches, devices=devices)
        self._clients: list = []

    @property
    def runner(self):
        return self.app.state.backend.runner

    def client(self, **kw) -> openai.AsyncOpenAI:
        import httpx2
        import openai

        from core.retry import DEFAULT_POLICY

        transport = httpx2.ASGITransport(app=self.app)
        http_client = openai.DefaultAsyncHttpxClient(transport=transport)
        kw = DEFAULT_POLICY.client_options() | kw
        client = openai.AsyncOpenAI(api_key=DUMMY_KEY, base_url=BASE_URL, http_client=http_client, **kw)
        self._clients.append(client)
        return client

    def azure_client(self, api_version: str = "2024-10-21", **kw) -> openai.AsyncAzureOpenAI:
        """The real AsyncAzureOpenAI client, for a backend made with ``azure=True``."""
        import httpx2
        import openai

        http_client = openai.DefaultAsyncHttpxClient(transport=httpx2.ASGITransport(app=self.app))
        kw.setdefault("max_retries", 4)
        client = openai.AsyncAzureOpenAI(azure_endpoint=BASE_URL.removesuffix("/v1"), api_key=DUMMY_KEY,
                                         api_version=api_version, http_client=http_client, **kw)
        self._clients.append(client)
        return client

    async def aclose(self) -> None:
        import asyncio

        for client in self._clients:
            await client.close()
        self._clients.clear()
        await asyncio.to_thread(self.runner.stop)

    def close(self) -> None:
        self.runner.stop()

    async def __aenter__(self) -> EmbeddedBackend:
        return self

    async def __aexit__(self, *exc) -> None:
        await self.aclose()
