"""Which backend to talk to, and an openai client for it. One code path for all of them:
the local backend (in process), OpenAI, Azure OpenAI, or any compatible base URL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from core.choices import BACKEND_KINDS, BackendKind
from core.errors import Advice, ConfigError
from core.settings import env

if TYPE_CHECKING:
    import openai

DEFAULT_AZURE_API_VERSION = "2024-10-21"


class Backend:
    """What sets one kind of backend apart, in one place: the flags and the messages of both front ends,
    the polling, the defaults and the client are read from here, never from a test of the kind's name.
    The options each kind takes are declared with the options (``core.launch_options``)."""

    kind: BackendKind
    trains_here = False          # jobs train on this machine, and only while a startune process follows them
    bills_by_token = True        # training and inference are priced per token
    batch_discount = 1.0         # the Batch API's price, as a share of the requests' own
    lists_every_model = False    # GET /models lists every model it serves, not only those that fine-tune
    retires_by_table = True      # OpenAI's published shutdown dates hold for its ft: models (when it says none)
    takes_url = True             # --base-url means something to it
    url_meaning = ""             # what its URL is, for a field left empty (the environment's, else the default)
    asks_default_model = False   # its default base model is asked of its /models (a `startune serve` offers the local one)
    serves_own_models = False    # its models are startune's classifiers, which read the review alone
    eval_poll_max = 30.0         # the longest wait between two looks at an evaluation's batch, seconds

    @property
    def default_model(self) -> str:
        from core.validation.models import DEFAULT_MODEL

        return DEFAULT_MODEL

    @property
    def follows_by_default(self) -> bool:
        """A launch waits for the job: where nothing else would ever train it."""
        return self.trains_here

    @property
    def batches_by_default(self) -> bool:
        """An evaluation goes through the Batch API: where a batch is many texts a call, not a day's wait."""
        return self.trains_here

    def poll_intervals(self):
        from core.retry import PollIntervals

        return PollIntervals.fast() if self.trains_here else PollIntervals()

    def url_from(self, environment) -> str | None:
        return None

    def describe(self, base_url: str | None) -> str:
        raise NotImplementedError

    def missing(self, base_url: str | None) -> list[str]:
        """Environment variables (or settings) it needs and does not have."""
        return []

    def client(self, base_url: str | None) -> openai.AsyncOpenAI:
        """A client for a backend elsewhere; keys come from the environment only."""
        raise ConfigError(f"{self.kind} is not a remote backend")


class LocalBackend(Backend):
    kind = "local"
    trains_here = True
    bills_by_token = False
    takes_url = False
    serves_own_models = True
    eval_poll_max = 0.2          # in process: a look costs microseconds

    @property
    def default_model(self) -> str:
        from core.backend import LOCAL_BASE_MODEL

        return LOCAL_BASE_MODEL

    def describe(self, base_url: str | None) -> str:
        return "local backend (in process, trains on this machine)"


class OpenAIBackend(Backend):
    kind = "openai"
    batch_discount = 0.5
    lists_every_model = True
    url_meaning = "empty: OPENAI_BASE_URL or api.openai.com/v1"

    def url_from(self, environment) -> str | None:
        return environment.openai_base_url

    def describe(self, base_url: str | None) -> str:
        from core.keys import mask_key

        return f"OpenAI{' at ' + base_url if base_url else ''} (key {mask_key(env().openai_api_key)})"

    def missing(self, base_url: str | None) -> list[str]:
        return [] if env().openai_api_key else ["OPENAI_API_KEY"]

    def client(self, base_url: str | None) -> openai.AsyncOpenAI:
        import openai

        from core.retry import DEFAULT_POLICY

        if not env().openai_api_key:
            raise ConfigError("OPENAI_API_KEY is not set", hint=Advice.KEY_OR_LOCAL)
        # bounded retries: a dead server is reported, not waited for; key, org and project from the environment
        return openai.AsyncOpenAI(base_url=base_url, **DEFAULT_POLICY.client_options())


class AzureBackend(Backend):
    kind = "azure"
    batch_discount = 0.5
    lists_every_model = True
    retires_by_table = False     # Azure retires fine-tuned deployments on its own schedule, which only it can tell
    url_meaning = "https://NAME.openai.azure.com (empty: AZURE_OPENAI_ENDPOINT)"

    def url_from(self, environment) -> str | None:
        return environment.azure_openai_endpoint

    def describe(self, base_url: str | None) -> str:
        from core.keys import mask_key

        return f"Azure OpenAI at {base_url} (key {mask_key(env().azure_openai_api_key)})"

    def missing(self, base_url: str | None) -> list[str]:
        return [name for name, value in (("AZURE_OPENAI_API_KEY", env().azure_openai_api_key),
                                         ("AZURE_OPENAI_ENDPOINT", base_url)) if not value]

    def client(self, base_url: str | None) -> openai.AsyncOpenAI:
        import openai

        from core.retry import DEFAULT_POLICY

        environment = env()
        if not environment.azure_openai_api_key or not base_url:
            raise ConfigError("Azure needs AZURE_OPENAI_API_KEY and AZURE_OPENAI_ENDPOINT in the environment")
        return openai.AsyncAzureOpenAI(
            azure_endpoint=base_url, api_key=str(environment.azure_openai_api_key),
            api_version=environment.openai_api_version or DEFAULT_AZURE_API_VERSION,
            **DEFAULT_POLICY.client_options())


class CompatibleBackend(Backend):
    kind = "compatible"
    asks_default_model = True
    url_meaning = "required, e.g. http://127.0.0.1:8765/v1"

    def describe(self, base_url: str | None) -> str:
        from core.keys import mask_key

        return f"compatible server at {base_url} (key {mask_key(env().openai_api_key)})"

    def missing(self, base_url: str | None) -> list[str]:
        return [] if base_url else ["a base URL"]

    def client(self, base_url: str | None) -> openai.AsyncOpenAI:
        import openai

        from core.retry import DEFAULT_POLICY

        return openai.AsyncOpenAI(base_url=base_url, api_key=str(env().openai_api_key or "none"),
                                  **DEFAULT_POLICY.client_options())


BACKENDS: dict[str, Backend] = {b.kind: b for b in (LocalBackend(), OpenAIBackend(), AzureBackend(),
                                                    CompatibleBackend())}


@dataclass(frozen=True)
class BackendChoice:
    kind: BackendKind
    base_url: str | None = None

    @classmethod
    def from_key(cls, key: str) -> BackendChoice:
        """The backend a registry key names (the inverse of ``key``): "local", "openai", "azure:https://..."."""
        kind, _, url = (key or "").partition(":")
        return cls(cast(BackendKind, kind), url or None)   # a key is only ever made by .key

    @property
    def key(self) -> str:
        """Names the backend in the registry (file ids and job ids only mean something there)."""
        return f"{self.kind}:{self.base_url}" if self.base_url and self.backend.takes_url else self.kind

    @property
    def backend(self) -> Backend:
        return BACKENDS[self.kind]

    @property
    def default_model(self) -> str:
        return self.backend.default_model

    def describe(self) -> str:
        return self.backend.describe(self.base_url)


def backend_of(key: str | None) -> Backend | None:
    """The kind of backend a registry key names; None for a key no version of startune made."""
    return BACKENDS.get((key or "").partition(":")[0])


def tokens_matter(choice: BackendChoice, model: str | None = None) -> bool:
    """Whether a build for this backend (and model) needs its tokens counted: only where training bills by
    token. The local backend trains on this machine for nothing, and so does a local model anywhere."""
    if model is not None:
        from core.backend import LOCAL_BASE_MODEL, base_models

        if model == LOCAL_BASE_MODEL or base_models.find(model) is not None:
            return False
    return choice.backend.bills_by_token


async def default_model(client, choice: BackendChoice) -> str:
    """The backend's default base model; a compatible server is asked (a `startune serve` offers
    the local base model, other servers get OpenAI's default)."""
    if not choice.backend.asks_default_model:
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
        raise ConfigError("the compatible backend needs a base URL", hint=Advice.GIVE_BASE_URL)
    backend = BACKENDS[kind]
    return BackendChoice(backend.kind, (base_url or backend.url_from(environment)) if backend.takes_url else None)


def cannot_train_here(choice: BackendChoice, model: str) -> str | None:
    """Why the local backend cannot train ``model`` on this machine (the extra to install), or None;
    another backend's models train on its machines, so None."""
    if not choice.backend.trains_here:
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
    return choice.backend.missing(choice.base_url)


def remote_client(choice: BackendChoice) -> openai.AsyncOpenAI:
    """A client for OpenAI, Azure or a compatible server; keys come from the environment only."""
    return choice.backend.client(choice.base_url)


@asynccontextmanager
async def open_client(choice: BackendChoice, *, train: bool = False, pace: float = 0.0, local_dir=None,
                      faults=None, deny_training: bool = False,
                      batches: bool | None = None) -> AsyncIterator[openai.AsyncOpenAI]:
    """An AsyncOpenAI client for the backend; the local one lives as long as the context.

    ``train``: the local backend trains pending jobs in this process. Only commands that wait for a
    job to finish ask for it; a command that merely looks (jobs, results, cancel...) must never claim
    a job, or it would train part of it and throw that away when it exits. ``batches``: the local backend
    answers pending Batch API batches in this process (default: as ``train``; a batch keeps its progress)."""
    if choice.backend.trains_here:
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
