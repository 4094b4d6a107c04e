"""The environment variables startune reads, each read here and nowhere else: the OpenAI SDK's own names
for keys and URLs, Hugging Face's offline switches, and startune's.

Read afresh on every call (a shell, a test or the app's settings change the environment between
commands). A plain dataclass rather than pydantic-settings: this is read while the app draws its first
frame, and importing pydantic-settings took 0.17 s there against 0.27 s for the whole app."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

TRUE = ("1", "true", "yes", "on")


def mask_key(key: str | None) -> str:
    """'sk-proj-abc...wxyz' -> 'sk-...wxyz'; short or empty keys show nothing of themselves."""
    if not key:
        return "(none)"
    prefix = "sk-" if key.startswith("sk-") else ""
    if len(key) < 12:
        return prefix + "..."
    return f"{prefix}...{key[-4:]}"


class Secret(str):
    """A key: itself where a client needs it, masked wherever it is shown (repr, f-strings of the settings)."""

    def __repr__(self) -> str:
        return repr(mask_key(str(self)))


@dataclass(frozen=True)
class Environment:
    startune_home: Path | None
    startune_cache: Path | None           # core.paths.cache_dir: what can be rebuilt (an LLM base as float weights)
    startune_backend: str | None          # local, openai, azure, compatible
    startune_devices: str | None          # core.backend.devices: how many devices a job trains on
    startune_device: str | None           # cpu, cuda or mps: which kind
    startune_duckdb_memory: str | None    # DuckDB's memory limit for out-of-core builds
    openai_api_key: Secret | None
    openai_base_url: str | None
    openai_api_version: str | None        # Azure's api-version
    azure_openai_api_key: Secret | None
    azure_openai_endpoint: str | None
    hf_endpoint: str | None
    hf_hub_offline: bool
    hf_datasets_offline: bool

    @property
    def keys(self) -> list[str]:
        """The API keys set, to redact from anything printed or stored."""
        return [str(k) for k in (self.openai_api_key, self.azure_openai_api_key) if k]


def _text(name: str) -> str | None:
    value = os.environ.get(name, "").strip()
    return value or None    # an empty variable is an unset one, as the SDKs read them


def env() -> Environment:
    home = _text("STARTUNE_HOME")
    openai_key, azure_key = _text("OPENAI_API_KEY"), _text("AZURE_OPENAI_API_KEY")
    return Environment(
        startune_home=Path(home).expanduser() if home else None,
        startune_cache=Path(cache).expanduser() if (cache := _text("STARTUNE_CACHE")) else None,
        startune_backend=_text("STARTUNE_BACKEND"),
        startune_devices=_text("STARTUNE_DEVICES"),
        startune_device=_text("STARTUNE_DEVICE"),
        startune_duckdb_memory=_text("STARTUNE_DUCKDB_MEMORY"),
        openai_api_key=Secret(openai_key) if openai_key else None,
        openai_base_url=_text("OPENAI_BASE_URL"),
        openai_api_version=_text("OPENAI_API_VERSION"),
        azure_openai_api_key=Secret(azure_key) if azure_key else None,
        azure_openai_endpoint=_text("AZURE_OPENAI_ENDPOINT"),
        hf_endpoint=_text("HF_ENDPOINT"),
        hf_hub_offline=(_text("HF_HUB_OFFLINE") or "").lower() in TRUE,
        hf_datasets_offline=(_text("HF_DATASETS_OFFLINE") or "").lower() in TRUE,
    )
