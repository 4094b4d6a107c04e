"""Worker failures as one line for a notification: user mistakes say what to do, API errors are
explained, bugs say so without a traceback on screen."""

from __future__ import annotations


def describe(error: BaseException | None) -> str:
    from core.errors import StartuneError

    if error is None:
        return "unknown error"
    if isinstance(error, StartuneError):
        return str(error)
    try:
        import openai

        if isinstance(error, openai.OpenAIError):
            from core.jobs.errors import explain

            return str(explain(error))
    except ImportError:  # pragma: no cover
        pass
    from core.jobs.keys import redact

    return redact(f"unexpected {error.__class__.__name__}: {error}")
