"""The two fine-tuning record shapes, and reading them back.

``parse_record`` is the inverse of ``chat_record`` / ``completion_record``: the local backend's trainer
and the evaluator both need (text, label) pairs from a JSONL file, whoever wrote it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from core.choices import DEFAULT_SEPARATOR, Format
from core.errors import DataError


# babbage-002 and davinci-002 no longer train at OpenAI; the legacy format is kept as an export
# and for the local backend and compatible servers that still accept it.
COMPLETION_FORMAT_NOTE = (
    "prompt/completion is an export format: OpenAI no longer trains babbage-002 or davinci-002; "
    "the local backend and some compatible servers still accept it"
)


def chat_record(text: str, label: str, system_prompt: str | None = None) -> dict:
    messages = []
    if system_prompt:
        messages.append({"role": "system", "content": system_prompt})
    messages.append({"role": "user", "content": text})
    messages.append({"role": "assistant", "content": label})
    return {"messages": messages}


def completion_record(
    text: str, label: str, separator: str = DEFAULT_SEPARATOR, stop: str | None = None
) -> dict:
    return {"prompt": text + separator, "completion": " " + label + (stop or "")}


@dataclass(frozen=True)
class Example:
    line: int
    format: Format
    text: str
    label: str
    system_prompt: str | None = None
    # a conversation of several turns: every (role, content) before the last assistant answer, so a
    # generative model trains on the context it will be asked in; None for one user turn (the classifiers'
    # case: they read ``text``, the last user turn)
    context: tuple[tuple[str, str], ...] | None = None
    # OpenAI's "weight" of each assistant message in order (the earlier ones in ``context``, then the
    # answer): a generative model trains on those of weight 1, as OpenAI does; None when that is just the
    # answer of a one-turn example. The classifiers learn the answer whatever its weight.
    answer_weights: tuple[int, ...] | None = None


def _message_text(content) -> str:
    # OpenAI also accepts content as a list of parts: [{"type": "text", "text": ...}]
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def parse_record(
    obj: object, line: int = 0, separator: str = DEFAULT_SEPARATOR, stop: str | None = None
) -> Example:
    """Return the example a record holds: the last user turn and the last assistant answer."""
    if not isinstance(obj, dict):
        raise DataError("record is not a JSON object", row=line or None)
    if "messages" in obj:
        messages = obj["messages"]
        if not isinstance(messages, list):
            raise DataError("'messages' is not a list", row=line or None, column="messages")
        system = user = answer = None
        turns: list[tuple[str, str]] = []
        context: list[tuple[str, str]] = []
        weights: list[int] = []
        for m in messages:
            if not isinstance(m, dict):
                continue
            role, content = m.get("role"), _message_text(m.get("content"))
            if role == "system" and system is None:
                system = content
            elif role == "user":
                user = content
            elif role == "assistant":
                answer = content
                context = list(turns)
                weights.append(0 if m.get("weight") == 0 else 1)
            if role in ("system", "developer", "user", "assistant"):
                turns.append(("system" if role == "developer" else role, content))
        if user is None:
            raise DataError("no user message", row=line or None, column="messages")
        if answer is None:
            raise DataError("no assistant message", row=line or None, column="messages")
        several = sum(1 for role, _ in context if role in ("user", "assistant")) > 1
        return Example(line, "chat", user, answer.strip(), system, tuple(context) if several else None,
                       tuple(weights) if several or weights != [1] else None)
    if "prompt" in obj and "completion" in obj:
        prompt, completion = obj["prompt"], obj["completion"]
        if not isinstance(prompt, str) or not isinstance(completion, str):
            raise DataError("prompt and completion must be strings", row=line or None)
        if separator and prompt.endswith(separator):
            prompt = prompt[: -len(separator)]
        if stop and completion.endswith(stop):
            completion = completion[: -len(stop)]
        return Example(line, "completion", prompt, completion.strip())
    raise DataError(
        "record has neither 'messages' nor 'prompt'/'completion'", row=line or None
    )


def read_examples(
    path: Path, separator: str = DEFAULT_SEPARATOR, stop: str | None = None
) -> Iterator[Example]:
    """Examples of a JSONL file, in order; blank lines are skipped, bad lines raise DataError."""
    from core.records.jsonl import iter_jsonl

    for number, obj in iter_jsonl(path):
        try:
            yield parse_record(obj, number, separator, stop)
        except DataError as exc:
            raise DataError(exc.message, path=path, row=number, column=exc.column) from None
