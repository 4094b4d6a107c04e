"""Worker failures as one line for a notification: user mistakes say what to do, API errors are
explained, bugs say so without a traceback on screen. Core messages are shared with the command
line; in the app they name the app's fields and keys, never a command-line flag."""

from __future__ import annotations

import re

from core.errors import Advice

# core's advice in the app's words: the app names its fields, screens and keys where the command line
# names flags and commands (tests/tui/test_messages.py holds that every member has its words here)
APP_ADVICE: dict[Advice, str] = {
    Advice.CHOOSE_LABEL: "choose another label column or set the labels field",
    Advice.BUILD_FIRST: "build one on the Build screen",
    Advice.REBUILD: "rebuild it on the Build screen",
    Advice.KEY_OR_LOCAL: "set it in the environment and restart, or choose the local backend",
    Advice.NAME_TEXT_COLUMN: "choose it with the text column selector",
    Advice.NAME_LABEL_COLUMN: "choose it with the label column selector",
    Advice.SAMPLE_FEWER: "sample fewer examples (samples field)",
    Advice.GIVE_BASE_URL: "type it in the base URL field",
}
# what is left of the command line's words in core's messages themselves (not their advice)
APP_HINTS = {"above --max-cost": "above the budget"}
_FLAG = re.compile(r"--([a-z][\w-]*)")
_COMMAND = re.compile(r"`startune [^`]*`")


def app_wording(text: str) -> str:
    """``text`` with command-line flags and commands replaced by the app's own words."""
    for cli, app in APP_HINTS.items():
        text = text.replace(cli, app)
    text = _COMMAND.sub("the app", text)
    return _FLAG.sub(lambda m: "the " + m.group(1).replace("-", " ") + " field", text)


def describe(error: BaseException | None) -> str:
    from core.errors import StartuneError

    if error is None:
        return "unknown error"
    if isinstance(error, StartuneError):
        return app_wording(error.render(APP_ADVICE.__getitem__))
    try:
        import openai

        if isinstance(error, openai.OpenAIError):
            from core.jobs.errors import explain

            return app_wording(explain(error).render(APP_ADVICE.__getitem__))
    except ImportError:  # pragma: no cover
        pass
    from core.keys import redact

    return redact(f"unexpected {error.__class__.__name__}: {error}")


def post_outcome(widget, outcome, work, *, failures: tuple[type[BaseException], ...] | None = None) -> None:
    """A thread worker's ending: ``work()``'s values posted as an ``outcome`` message, or, when it fails with
    one of ``failures`` (a user's mistake: StartuneError), ``outcome(error=...)`` in one line, which the
    screen says where the user looks. Anything else is a bug, left to the worker to report."""
    from core.errors import StartuneError

    caught = failures or (StartuneError,)
    try:
        values = work()
    except caught as exc:
        widget.post_message(outcome(error=describe(exc)))
        return
    widget.post_message(outcome(*values))
