"""How numbers look on screen."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import datetime


def backend_kind(run: dict) -> str:
    """The kind of backend a run ran on (local, openai, azure, compatible), from its registry key."""
    from core.jobs.backends import BackendChoice

    return BackendChoice.from_key(run["backend"]).kind


def fmt_float(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def fmt_pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def fmt_test_accuracy(value: float | None, partial: int | None = None) -> str:
    """A test accuracy, labelled when it scored only the first ``partial`` examples (evaluate --limit)."""
    return fmt_pct(value) if partial is None else f"{fmt_pct(value)} ({partial:,} only)"


def fmt_usd(value: float | None) -> str:
    if value is None:
        return "-"
    return "free" if value == 0 else f"${value:,.2f}"


def fmt_duration(seconds: float | None) -> str:
    if seconds is None or seconds < 0:
        return "-"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


def today_of(clock) -> datetime.date:
    """The day of the app's clock (epoch seconds, injectable so tests fix the days left)."""
    import datetime as dt

    return dt.datetime.fromtimestamp(clock(), dt.timezone.utc).date()


def fmt_stops(model_id: str | None, today, *, job: dict | None = None) -> str:
    """When a fine-tuned model stops serving, with days left: '2027-01-14 (57d)'; '-' when nothing is
    announced (the local backend's models, or no model yet)."""
    from core.jobs.lifecycle import model_life

    if not model_id:
        return "-"
    life = model_life({"id": model_id, "shutdown_date": (job or {}).get("shutdown_date")}, today)
    if life.shutdown_date is None:
        return "-"
    left = f"{life.days_left}d left" if life.days_left >= 0 else "ended"
    return f"{life.shutdown_date} ({left})"
