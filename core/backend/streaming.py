"""``stream=True`` for chat and text completions: a finished answer told as OpenAI's server-sent events.

Every local model (a classifier's label, an LLM's generated text) first produces the whole response
object; this module cuts each choice into the pieces the model produced (a label is one piece, a
generated answer one piece per token) and writes them in OpenAI's chunk shapes: a first chunk with
the role, one chunk per piece, a last chunk per choice with its finish_reason, then, when
``stream_options.include_usage`` is set, a chunk with no choices and the usage, and ``data: [DONE]``.
"""

from __future__ import annotations

from collections.abc import Iterator

import orjson


def _sse(obj: dict) -> bytes:
    return b"data: " + orjson.dumps(obj) + b"\n\n"


DONE = b"data: [DONE]\n\n"


def include_usage(body: dict) -> bool:
    options = body.get("stream_options")
    return isinstance(options, dict) and options.get("include_usage") is True


def _pieces(choice: dict, text: str, pieces: list[str] | None) -> list[str]:
    # pieces that do not add up to the text (a stop sequence cut it) are replaced by the text itself
    if pieces and "".join(pieces) == text:
        return pieces
    return [text] if text else []


def chat_chunks(response: dict, body: dict, pieces: list[list[str]] | None = None) -> Iterator[bytes]:
    """The chat.completion.chunk events of a chat.completion ``response``; ``pieces[i]`` are choice i's tokens."""
    usage = include_usage(body)
    head = {"id": response["id"], "object": "chat.completion.chunk", "created": response["created"],
            "model": response["model"], "system_fingerprint": response.get("system_fingerprint")}

    def chunk(choices: list, **extra) -> bytes:
        return _sse(head | {"choices": choices} | ({"usage": None} if usage else {}) | extra)

    for choice in response["choices"]:
        i = choice["index"]
        text = choice["message"].get("content") or ""
        parts = _pieces(choice, text, pieces[i] if pieces and i < len(pieces) else None)
        content = (choice.get("logprobs") or {}).get("content") or []
        yield chunk([{"index": i, "delta": {"role": "assistant", "content": "", "refusal": None},
                      "logprobs": None, "finish_reason": None}])
        aligned = len(content) == len(parts)
        for j, part in enumerate(parts):
            logprobs = None
            if choice.get("logprobs") is not None:
                logprobs = {"content": [content[j]] if aligned else (content if j == 0 else []), "refusal": None}
            yield chunk([{"index": i, "delta": {"content": part}, "logprobs": logprobs, "finish_reason": None}])
        yield chunk([{"index": i, "delta": {}, "logprobs": None, "finish_reason": choice["finish_reason"]}])
    if usage:
        yield _sse(head | {"choices": [], "usage": response["usage"]})
    yield DONE


def completion_chunks(response: dict, body: dict, pieces: list[list[str]] | None = None) -> Iterator[bytes]:
    """The text_completion events of a completion ``response`` (OpenAI streams the same object type)."""
    usage = include_usage(body)
    head = {"id": response["id"], "object": "text_completion", "created": response["created"],
            "model": response["model"], "system_fingerprint": response.get("system_fingerprint")}

    def chunk(choices: list) -> bytes:
        return _sse(head | {"choices": choices} | ({"usage": None} if usage else {}))

    for choice in response["choices"]:
        i = choice["index"]
        parts = _pieces(choice, choice["text"], pieces[i] if pieces and i < len(pieces) else None)
        lp = choice.get("logprobs")
        aligned = lp is not None and len(lp.get("tokens") or []) == len(parts)
        for j, part in enumerate(parts):
            logprobs = None
            if lp is not None:
                logprobs = ({key: lp[key][j:j + 1] for key in ("tokens", "token_logprobs", "top_logprobs",
                                                                 "text_offset")} if aligned else
                            (lp if j == 0 else {"tokens": [], "token_logprobs": [], "top_logprobs": [],
                                                "text_offset": []}))
            yield chunk([{"index": i, "text": part, "logprobs": logprobs, "finish_reason": None}])
        yield chunk([{"index": i, "text": "", "logprobs": None, "finish_reason": choice["finish_reason"]}])
    if usage:
        yield _sse(head | {"choices": [], "usage": response["usage"]})
    yield DONE
