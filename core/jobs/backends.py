"""Which backend to talk to, and an openai client for it. One code path for all of them:
the local backend (in process), OpenAI, Azure OpenAI, or any compatible base URL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from core.choices import BACKEND_KINDS, BackendKind
from core.errors import ConfigError
from core.settings import env

if TYPE_CHECKING:
    import openai

DEFAULT_AZURE_API_VERSION = "2024-10-21"


@dataclass(frozen=True)
class BackendChoice:
    kind: BackendKind
    base_url: str | None = None

    @classmethod
    def from_key(cls, key: str) -> BackendChoice:
        """The backend a registry key names (the inverse of ``key``): "local", "openai", "azure:https://..."."""
        kind, _, url = (key or "").partition(":")
        return cls(kind, url or None)  # type: ignore[arg-type] - a key is only ever made by .key

    @property
    def key(self) -> str:
        """Names the backend in the registry (file ids and job ids only mean something there)."""
        if self.kind == "local":
            return "local"
        return f"{self.kind}:{self.base_url}" if self.base_url else self.kind

    @property
    def default_model(self) -> str:
        if self.kind == "local":
            from core.backend import LOCAL_BASE_MODEL

            return LOCAL_BASE_MODEL
        from core.validation.models import DEFAULT_MODEL

        return DEFAULT_MODEL

    def describe(self) -> str:
        from core.keys import mask_key

        if self.kind == "local":
            return "local backend (in process, trains on this machine)"
        if self.kind == "azure":
            return f"Azure OpenAI at {self.base_url} (key {mask_key(env().azure_openai_api_key)})"
        key = mask_key(env().openai_api_key)
        if self.kind == "compatible":
            return f"compatible server at {self.base_url} (key {key})"
        return f"OpenAI{' at ' + self.base_url if self.base_url else ''} (key {key})"


def tokens_matter(choice: BackendChoice, model: str | None = None) -> bool:
    """Whether a build for this backend (and model) needs its tokens counted: only where training bills by
    token. The local backend trains on this machine for nothing, and so does a local model anywhere."""
    if model is not None:
        from core.backend import LOCAL_BASE_MODEL, base_models

        if model == LOCAL_BASE_MODEL or base_models.find(model) is not None:
            return False
    return choice.kind != "local"


async def default_model(client, choice: BackendChoice) -> str:
    """The backend's default base model; a compatible server is asked (a `startune serve` offers
    the local base model, other servers get OpenAI's default)."""
    if choice.kind != "compatible":
        return choice.default_model
    from core.backend import LOCAL_BASE_MODEL

    import openai

    try:
        listed = {m.id for m in (await client.models.list()).data}
    except openai.APIStatusError:  # a server without /models: fall back to OpenAI's default
        listed = set()  # (an unreachable server is not swallowed: retrying the launch against it would only wait)
    return LOCAL_BASE_MODEL if LOCAL_BASE_MODEL in listed else choice.default_model


def _settings() -> dict:
    import orjson

    from core.paths import config_dir

    path = config_dir() / "settings.json"
    if not path.is_file():
        return {}
    try:
        data = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise ConfigError(f"invalid JSON: {exc}", path=path) from None
    return data if isinstance(data, dict) else {}


def resolve_backend(kind: str | None = None, base_url: str | None = None) -> BackendChoice:
    """--backend/--base-url flags, else the settings file, else STARTUNE_BACKEND, else the
    environment (an OpenAI or Azure key), else the local backend."""
    if kind is None and base_url is None:
        settings = _settings()
        kind, base_url = settings.get("backend"), settings.get("base_url")
    environment = env()
    kind = kind or environment.startune_backend
    if kind is None:
        if base_url:
            kind = "compatible"
        elif environment.azure_openai_api_key and environment.azure_openai_endpoint:
            kind = "azure"
        elif environment.openai_api_key:
            kind = "openai"
        else:
            kind = "local"
    if kind not in BACKEND_KINDS:
        raise ConfigError(f"unknown backend {kind!r}: use {', '.join(BACKEND_KINDS)}")
    if kind == "compatible" and not base_url:
        raise ConfigError("the compatible backend needs --base-url URL")
    if kind == "openai":
        base_url = base_url or environment.openai_base_url
    if kind == "azure":
        base_url = base_url or environment.azure_openai_endpoint
    return BackendChoice(kind, base_url)


def cannot_train_here(choice: BackendChoice, model: str) -> str | None:
    """Why the local backend cannot train ``model`` on this machine (the extra to install), or None;
    another backend's models train on its machines, so None."""
    if choice.kind != "local":
        return None
    from core.backend.base_models import find

    base = find(model)
    return base.missing() if base is not None else None


def check_model(choice: BackendChoice, model: str) -> None:
    """Refuse, before anything is priced or uploaded, a model the local backend cannot train here."""
    reason = cannot_train_here(choice, model)
    if reason:
        raise ConfigError(reason)


def missing_settings(choice: BackendChoice) -> list[str]:
    """Environment variables (or settings) the backend needs and does not have: checked before
    anything is priced, uploaded or created."""
    if choice.kind == "azure":
        return [name for name, value in (("AZURE_OPENAI_API_KEY", env().azure_openai_api_key),
                                         ("AZURE_OPENAI_ENDPOINT", choice.base_url)) if not value]
    if choice.kind == "openai" and not env().openai_api_key:
        return ["OPENAI_API_KEY"]
    if choice.kind == "compatible" and not choice.base_url:
        return ["a base URL"]
    return []


def remote_client(choice: BackendChoice) -> openai.AsyncOpenAI:
    """A client for OpenAI, Azure or a compatible server; keys come from the environment only."""
    import openai

    from core.retry import DEFAULT_POLICY

    retries = DEFAULT_POLICY.client_options()  # bounded: a dead server is reported, not waited for
    environment = env()
    if choice.kind == "azure":
        if not environment.azure_openai_api_key or not choice.base_url:
            raise ConfigError("Azure needs AZURE_OPENAI_API_KEY and AZURE_OPENAI_ENDPOINT in the environment")
        return openai.AsyncAzureOpenAI(
            azure_endpoint=choice.base_url, api_key=str(environment.azure_openai_api_key),
            api_version=environment.openai_api_version or DEFAULT_AZURE_API_VERSION, **retries)
    if choice.kind == "openai":
        if not environment.openai_api_key:
            raise ConfigError("OPENAI_API_KEY is not set", hint="export it, or use --backend local")
        return openai.AsyncOpenAI(base_url=choice.base_url, **retries)  # key, org and project from the environment
    if choice.kind == "compatible":
        return openai.AsyncOpenAI(base_url=choice.base_url, api_key=str(environment.openai_api_key or "none"),
                                  **retries)
    raise ConfigError(f"{choice.kind} is not a remote backend")


@asynccontextmanager
async def open_client(choice: BackendChoice, *, train: bool = False, pace: float = 0.0, local_dir=None,
                      faults=None, deny_training: bool = False,
                      batches: bool | None = None) -> AsyncIterator[openai.AsyncOpenAI]:
    """An AsyncOpenAI client for the backend; the local one lives as long as the context.

    ``train``: the local backend trains pending jobs in this process. Only commands that wait for a
    job to finish ask for it; a command that merely looks (jobs, results, cancel...) must never claim
    a job, or it would train part of it and throw that away when it exits. ``batches``: the local backend
    answers pending Batch API batches in this process (default: as ``train``; a batch keeps its progress)."""
    if choice.kind == "local":
        from core.backend.embedded import EmbeddedBackend

        backend = EmbeddedBackend(local_dir, pace=pace, faults=faults, deny_training=deny_training,
                                  start_runner=train, start_batches=batches)
        try:
            yield backend.client()
        finally:
            await backend.aclose()
        return
    client = remote_client(choice)
    try:
        yield client
    finally:
        await client.close()
