"""What we know of each fine-tunable model: encoding, example limit, prices. Dated; user-overridable.

Prices are USD per 1M tokens from OpenAI's pricing page as of PRICES_AS_OF. A user (or a new price
list) overrides or adds models with <config dir>/prices.json: {"model": {"training_usd_per_1m": ...}}.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass

PRICES_AS_OF = "2026-11-01"
LOCAL_MODEL_PREFIX = "startune-local"


@dataclass(frozen=True)
class ModelInfo:
    name: str
    encoding: str
    max_example_tokens: int
    training_usd_per_1m: float
    input_usd_per_1m: float
    output_usd_per_1m: float
    trainable: bool = True
    note: str = ""


_O200K_LIMIT = 65_536
_TABLE: dict[str, ModelInfo] = {
    m.name: m
    for m in (
        ModelInfo("gpt-4.1-2025-04-14", "o200k_base", _O200K_LIMIT, 25.00, 3.00, 12.00),
        ModelInfo("gpt-4.1-mini-2025-04-14", "o200k_base", _O200K_LIMIT, 5.00, 0.80, 3.20),
        ModelInfo("gpt-4.1-nano-2025-04-14", "o200k_base", _O200K_LIMIT, 1.50, 0.20, 0.80),
        ModelInfo("gpt-4o-2024-08-06", "o200k_base", _O200K_LIMIT, 25.00, 3.75, 15.00),
        ModelInfo("gpt-4o-mini-2024-07-18", "o200k_base", _O200K_LIMIT, 3.00, 0.30, 1.20),
        ModelInfo("gpt-3.5-turbo-0125", "cl100k_base", 16_385, 8.00, 3.00, 6.00),
        ModelInfo("babbage-002", "cl100k_base", 16_384, 0.40, 1.60, 1.60, False,
                  "legacy prompt/completion model; OpenAI no longer trains it"),
        ModelInfo("davinci-002", "cl100k_base", 16_384, 6.00, 12.00, 12.00, False,
                  "legacy prompt/completion model; OpenAI no longer trains it"),
        ModelInfo(LOCAL_MODEL_PREFIX, "o200k_base", _O200K_LIMIT, 0.0, 0.0, 0.0, True,
                  "startune's local backend: trains on this machine, free"),
    )
}
# Aliases resolve to the snapshot OpenAI trains today.
_ALIASES = {
    "gpt-4.1": "gpt-4.1-2025-04-14",
    "gpt-4.1-mini": "gpt-4.1-mini-2025-04-14",
    "gpt-4.1-nano": "gpt-4.1-nano-2025-04-14",
    "gpt-4o": "gpt-4o-2024-08-06",
    "gpt-4o-mini": "gpt-4o-mini-2024-07-18",
    "gpt-3.5-turbo": "gpt-3.5-turbo-0125",
    "gpt-3.5-turbo-1106": "gpt-3.5-turbo-0125",
}
DEFAULT_MODEL = "gpt-4o-mini-2024-07-18"


@functools.cache
def _overrides_cached(path_str: str, mtime: float) -> dict[str, dict]:
    import orjson

    from pathlib import Path

    try:
        data = orjson.loads(Path(path_str).read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        from core.errors import ConfigError

        raise ConfigError(f"cannot read price overrides: {exc}", path=path_str) from None
    return data if isinstance(data, dict) else {}


def _table() -> dict[str, ModelInfo]:
    from core.paths import config_dir

    path = config_dir() / "prices.json"
    if not path.is_file():
        return _TABLE
    table = dict(_TABLE)
    fields = {f.name for f in dataclasses.fields(ModelInfo)}
    for name, values in _overrides_cached(str(path), path.stat().st_mtime).items():
        base = table.get(name) or dataclasses.replace(_TABLE[DEFAULT_MODEL], name=name, note="user-defined")
        table[name] = dataclasses.replace(base, **{k: v for k, v in values.items() if k in fields and k != "name"})
    return table


def _local_base(name: str) -> bool:
    """One of the local backend's own base models."""
    from core.choices import LOCAL_BASE_MODELS

    return name in LOCAL_BASE_MODELS


def model_info(model: str) -> ModelInfo:
    """Facts for a model name, a snapshot, an alias, or a fine-tuned model (``ft:<base>:...``)."""
    table = _table()
    name = model
    if name.startswith("ft:"):
        name = name.split(":")[1]
    name = _ALIASES.get(name, name)
    if name in table:
        return table[name]
    if name.startswith(LOCAL_MODEL_PREFIX):
        return table[LOCAL_MODEL_PREFIX]
    if name == "hf" or name.startswith("hf:") or _local_base(name):   # ft:hf:<path>:... too
        return dataclasses.replace(table[LOCAL_MODEL_PREFIX], name=model.split(":")[1] if model.startswith("ft:")
                                   else model, note="a local backend model: trains on this machine, free")
    # An unknown snapshot of a known family, e.g. gpt-4o-mini-2025-01-01: same encoding and limit, no price.
    for alias, snapshot in sorted(_ALIASES.items(), key=lambda kv: -len(kv[0])):
        if name.startswith(alias):
            known = table[snapshot]
            return dataclasses.replace(known, name=name, training_usd_per_1m=float("nan"),
                                       note=f"unknown snapshot; limits of {snapshot}, price unknown")
    encoding = "cl100k_base" if name.startswith(("gpt-3.5", "gpt-4-", "babbage", "davinci")) else "o200k_base"
    return ModelInfo(name, encoding, _O200K_LIMIT, float("nan"), float("nan"), float("nan"), True,
                     f"unknown model; assumed {encoding} tokens and a {_O200K_LIMIT:,}-token example limit, "
                     f"price unknown")
