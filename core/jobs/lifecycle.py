"""What ends when: the dates after which a backend stops training or a fine-tuned model stops answering.

The dates come from the backend when it says so (``shutdown_date`` on a model object, or Azure's
``deprecation.inference``), else from the dated table below. A user (or newer news) overrides or adds
dates with <config dir>/shutdowns.json: {"serving": {"gpt-4o-mini-2024-07-18": "2027-01-14"},
"training": {"openai": "2027-01-06"}}; a null date removes one.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import asdict, dataclass

SHUTDOWNS_AS_OF = "2026-11-01"
# OpenAI's deprecations page: fine-tuned models of these bases stop serving with their base models.
SERVING_ENDS: dict[str, str] = {
    "gpt-4o-2024-08-06": "2027-01-14",
    "gpt-4o-mini-2024-07-18": "2027-01-14",
    "gpt-4.1-2025-04-14": "2027-01-14",
    "gpt-4.1-mini-2025-04-14": "2027-01-14",
}
# When each backend stops creating fine-tuning jobs; None: no announced end.
TRAINING_ENDS: dict[str, str | None] = {"openai": "2027-01-06", "azure": None, "local": None}
# The earlier OpenAI cut-offs, named in the message a blocked organisation gets.
OPENAI_CUTOFFS = (("2026-05-07", "organizations that never fine-tuned"),
                  ("2026-07-02", "organizations without recent fine-tuned inference"),
                  ("2027-01-06", "every organization"))
STILL_TRAINING = "the local backend (--backend local) and Azure OpenAI (--backend azure, until at least April 2027)"


@functools.cache
def _overrides_cached(path_str: str, mtime: float, size: int) -> dict:
    from pathlib import Path

    import orjson

    from core.errors import ConfigError

    try:
        data = orjson.loads(Path(path_str).read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise ConfigError(f"cannot read shutdown dates: {exc}", path=path_str) from None
    if not isinstance(data, dict):
        raise ConfigError('must be a JSON object: {"serving": {MODEL: DATE}, "training": {BACKEND: DATE}}',
                          path=path_str)
    for section in ("serving", "training"):
        for name, value in (data.get(section) or {}).items():
            if value is not None:
                _parse_date(value, where=f"{path_str}: {section}.{name}")
    return data


def _parse_date(value, *, where: str = "") -> dt.date:
    from core.errors import ConfigError

    try:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return dt.datetime.fromtimestamp(value, dt.timezone.utc).date()
        return dt.date.fromisoformat(str(value)[:10])
    except (ValueError, OverflowError, OSError):
        raise ConfigError(f"{where + ': ' if where else ''}not a date: {value!r} (use YYYY-MM-DD)") from None


def _tables() -> tuple[dict, dict]:
    from core.paths import config_dir

    serving, training = dict(SERVING_ENDS), dict(TRAINING_ENDS)
    path = config_dir() / "shutdowns.json"
    if path.is_file():
        stat = path.stat()
        data = _overrides_cached(str(path), stat.st_mtime_ns, stat.st_size)
        serving.update(data.get("serving") or {})
        training.update(data.get("training") or {})
    return serving, training


def base_of(model_id: str) -> str | None:
    """The base model of a fine-tuned model id: OpenAI's ``ft:<base>:<org>:<suffix>:<id>``, Azure's
    ``<base>.ft-<hex>``; None for a name that is not a fine-tuned model."""
    if model_id.startswith("ft:"):
        parts = model_id.split(":")
        return parts[1] if len(parts) > 1 and parts[1] else None
    if ".ft-" in model_id:
        return model_id.split(".ft-", 1)[0]
    return None


def serving_ends(base: str | None) -> dt.date | None:
    """The table's date for a base model (a snapshot or an alias)."""
    if not base:
        return None
    from core.validation.models import _ALIASES

    serving, _ = _tables()
    value = serving.get(base, serving.get(_ALIASES.get(base, base)))
    return _parse_date(value, where=f"shutdown date of {base}") if value is not None else None


def training_ends(backend_kind: str) -> dt.date | None:
    _, training = _tables()
    value = training.get(backend_kind)
    return _parse_date(value, where=f"training end of {backend_kind}") if value is not None else None


@dataclass
class ModelLife:
    id: str
    base: str | None
    owned_by: str | None
    created: int | None
    shutdown_date: str | None      # ISO date, or None when nothing is announced
    days_left: int | None          # negative once past
    source: str                    # "backend", "table" or "none"

    def to_dict(self) -> dict:
        return asdict(self)


def model_life(obj: dict, today: dt.date, *, backend_kind: str | None = None) -> ModelLife:
    """One model object's end of service: the backend's own date first (``shutdown_date`` on
    ``GET /v1/models``), then the table, which holds OpenAI's dates and so applies only to OpenAI's
    fine-tunes (``ft:...`` ids): Azure retires fine-tuned deployments on its own schedule (a year after
    training retirement for bases since gpt-4o-2024-08-06), which only Azure's answer can tell."""
    from core.jobs.backends import BACKENDS

    model_id = obj.get("id", "")
    base = base_of(model_id)
    date, source = None, "none"
    announced = obj.get("shutdown_date") or (obj.get("deprecation") or {}).get("inference")
    if announced is not None:
        date, source = _parse_date(announced, where=f"shutdown_date of {model_id}"), "backend"
    elif not model_id.startswith("ft:") or (backend_kind is not None and not BACKENDS[backend_kind].retires_by_table):
        pass
    else:
        date = serving_ends(base)
        source = "table" if date else "none"
    return ModelLife(model_id, base, obj.get("owned_by"), obj.get("created"),
                     date.isoformat() if date else None, (date - today).days if date else None, source)


def is_fine_tuned(obj: dict) -> bool:
    return base_of(obj.get("id", "")) is not None


async def fine_tuned_models(client, *, today: dt.date | None = None,
                            backend_kind: str | None = None) -> list[ModelLife]:
    """The backend's fine-tuned models with their base model and end of service, soonest end first."""
    today = today or dt.date.today()
    page = await client.models.list()
    objs = [m.model_dump(mode="json") for m in page.data]
    lives = [model_life(o, today, backend_kind=backend_kind) for o in objs if is_fine_tuned(o)]
    return sorted(lives, key=lambda m: (m.days_left is None, m.days_left or 0, m.id))


def wind_down_message(today: dt.date | None = None) -> str:
    """What a blocked organisation reads: the dates, and where training still works."""
    today = today or dt.date.today()
    end = training_ends("openai")
    cutoffs = [(dt.date.fromisoformat(d), who) for d, who in OPENAI_CUTOFFS[:-1]]
    if end is not None:
        cutoffs.append((end, "every organization"))

    def when(date: dt.date) -> str:
        return f"{'since' if date <= today else 'from'} {date.isoformat()}"

    parts = [f"{when(date)} for {who}" for date, who in cutoffs]
    blocked = ", ".join(parts[:-1]) + f" and {parts[-1]}" if len(parts) > 1 else parts[0]
    serving = serving_ends("gpt-4o-mini-2024-07-18")
    stop = (f"; fine-tuned gpt-4o, gpt-4o-mini, gpt-4.1 and gpt-4.1-mini models stop answering on "
            f"{serving.isoformat()}" if serving else "")
    return f"OpenAI's new fine-tuning jobs are blocked {blocked}{stop}. Still training: {STILL_TRAINING}"
