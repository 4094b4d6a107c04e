"""Chat and text completions answered by generation, for fine-tuned LLMs (core.backend.llm.LLMModel).

The responses have OpenAI's shapes; each choice also carries, under the private key ``_pieces``, the text
of each generated token, which ``core.backend.streaming`` sends as one chunk per token when the request
streams (the key is removed before a response is sent whole)."""

from __future__ import annotations

import time
from typing import Any

from core.backend.errors import ApiError, bad_request
from core.backend.ids import new_id

MAX_N = 8
SCREEN = 4


def _number(body: dict, key: str, default: float, low: float, high: float) -> float:
    value = body.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise bad_request(f"Invalid '{key}': expected a number between {low:g} and {high:g}.", param=key)
    return float(value)


def _params(body: dict, limit_key: str) -> dict:
    from core.backend.llm import CONTEXT_LIMIT

    stop = body.get("stop")
    stops = [stop] if isinstance(stop, str) else list(stop or [])
    if not all(isinstance(s, str) for s in stops) or len(stops) > 4:
        raise bad_request("Invalid 'stop': expected a string or up to 4 strings.", param="stop")
    n = body.get("n", 1)
    if n is None:
        n = 1
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_N:
        raise bad_request(f"Invalid 'n': expected an integer between 1 and {MAX_N}.", param="n")
    max_tokens = body.get(limit_key, body.get("max_tokens"))
    low = 0 if limit_key == "max_tokens" else 1  # a text completion may ask for none (with echo: the prompt)
    if max_tokens is not None and (isinstance(max_tokens, bool) or not isinstance(max_tokens, int)
                                   or not low <= max_tokens <= CONTEXT_LIMIT):
        raise bad_request(f"Invalid '{limit_key}': expected an integer between {low} and {CONTEXT_LIMIT}.",
                          param=limit_key)
    seed = body.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise bad_request("Invalid 'seed': expected an integer.", param="seed")
    return {"temperature": _number(body, "temperature", 1.0, 0.0, 2.0), "top_p": _number(body, "top_p", 1.0, 0.0, 1.0),
            "stop": stops, "n": n, "max_tokens": max_tokens, "seed": seed, "logprobs": _logprobs(body, limit_key)}


def _logprobs(body: dict, limit_key: str) -> int | None:
    """How many alternatives per token were asked for, None when logprobs were not: chat takes
    ``logprobs: true`` with ``top_logprobs`` 0-20, text completions ``logprobs`` 0-5."""
    if limit_key == "max_tokens":   # text completions
        value = body.get("logprobs")
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 5:
            raise bad_request("Invalid 'logprobs': expected an integer between 0 and 5.", param="logprobs")
        return value
    top = body.get("top_logprobs")
    if top is not None and (isinstance(top, bool) or not isinstance(top, int) or not 0 <= top <= 20):
        raise bad_request("Invalid 'top_logprobs': expected an integer between 0 and 20.", param="top_logprobs")
    if not body.get("logprobs"):
        if top:
            raise bad_request("Invalid 'top_logprobs': 'logprobs' must be set to true when 'top_logprobs' is "
                              "used.", param="top_logprobs")
        return None
    return top or 0


def _entry(token: str, logprob: float) -> dict:
    return {"token": token, "logprob": logprob, "bytes": list(token.encode())}


def _chat_logprobs(answer: dict) -> dict | None:
    if "logprobs" not in answer:
        return None
    return {"content": [_entry(piece, lp) | {"top_logprobs": [_entry(t, v) for t, v in top]}
                        for piece, lp, top in answer["logprobs"]], "refusal": None}


def _completion_logprobs(answer: dict, offset: int) -> dict | None:
    if "logprobs" not in answer:
        return None
    tokens: list[str] = []
    values: list[float] = []
    tops: list[dict] = []
    offsets: list[int] = []
    for piece, lp, top in answer["logprobs"]:
        tokens.append(piece)
        values.append(lp)
        offsets.append(offset)
        tops.append({t: v for t, v in top})
        offset += len(piece)
    return {"tokens": tokens, "token_logprobs": values, "top_logprobs": tops, "text_offset": offsets}


def _fits(model, prompt_ids: list[int], max_tokens: int | None) -> None:
    from core.backend.llm import CONTEXT_LIMIT, MAX_NEW_TOKENS

    wanted = len(prompt_ids) + (max_tokens or MAX_NEW_TOKENS)
    if len(prompt_ids) + 1 > CONTEXT_LIMIT or (max_tokens and wanted > CONTEXT_LIMIT):
        raise ApiError(400, f"This model's maximum context length is {CONTEXT_LIMIT} tokens. However, you "
                            f"requested {wanted} tokens ({len(prompt_ids)} in the messages, "
                            f"{max_tokens or MAX_NEW_TOKENS} in the completion).", param="messages",
                       code="context_length_exceeded")


def _screen(texts: list[str], what: str, param: str) -> None:
    """Refuse text far over the window before the model's tokenizer reads all of it: an LLM's smaller
    vocabulary makes more tokens of a text than o200k does, so SCREEN times the window in o200k tokens
    is past the window in the model's own."""
    from core.backend.limits import check_context
    from core.backend.llm import CONTEXT_LIMIT

    check_context(texts, what, param, limit=SCREEN * CONTEXT_LIMIT, stated=CONTEXT_LIMIT)


def chat_generation(model, body: dict) -> dict:
    from core.backend.requests import message_texts

    params = _params(body, "max_completion_tokens")
    _screen(message_texts(body["messages"]), "messages", "messages")
    messages = [{"role": "system" if m.get("role") == "developer" else m.get("role"), "content": m.get("content")}
                for m in body["messages"] if isinstance(m, dict) and isinstance(m.get("content"), str)]
    prompt = model.prompt_ids(messages)
    _fits(model, prompt, params["max_tokens"])
    answers = model.generate(prompt, **params)
    return {
        "id": new_id("chatcmpl-"), "object": "chat.completion", "created": int(time.time()), "model": body["model"],
        "choices": [{"index": i, "message": {"role": "assistant", "content": a["text"], "refusal": None,
                                             "annotations": []},
                     "logprobs": _chat_logprobs(a), "finish_reason": a["finish_reason"]}
                    | ({"_pieces": a["pieces"]} if body.get("stream") else {})
                    for i, a in enumerate(answers)],
        "usage": {"prompt_tokens": len(prompt), "completion_tokens": sum(a["tokens"] for a in answers),
                  "total_tokens": len(prompt) + sum(a["tokens"] for a in answers)},
        "system_fingerprint": "startune-local",
    }


def completion_generation(model, body: dict, prompts: list[str]) -> dict:
    from core.backend.requests import check_echo

    params = _params(body, "max_tokens")
    _screen(prompts, "prompt", "prompt")
    echo, nothing = check_echo(body, body.get("logprobs") is not None)
    choices: list[dict] = []
    prompt_tokens = completion_tokens = 0
    for text in prompts:
        ids = model.prompt_ids([{"role": "user", "content": text}])
        _fits(model, ids, params["max_tokens"])
        none: dict[str, Any] = {"text": "", "pieces": [], "tokens": 0, "finish_reason": "length"} | (
            {"logprobs": []} if params["logprobs"] is not None else {})
        answers = [none] * params["n"] if nothing else model.generate(ids, **params)
        head = text if echo else ""
        for a in answers:
            choices.append({"index": len(choices), "text": head + a["text"],
                            "logprobs": _completion_logprobs(a, len(text)),
                            "finish_reason": a["finish_reason"]}
                           | ({"_pieces": [head, *a["pieces"]] if head else a["pieces"]} if body.get("stream")
                              else {}))
            completion_tokens += a["tokens"]
        prompt_tokens += len(ids)
    return {"id": new_id("cmpl-"), "object": "text_completion", "created": int(time.time()), "model": body["model"],
            "choices": choices, "system_fingerprint": "startune-local",
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens}}


def take_pieces(response: dict) -> list[list[str]] | None:
    """Remove the private per-token texts from a response; return them (None for a classifier's answer)."""
    pieces = [choice.pop("_pieces", None) for choice in response.get("choices", [])]
    return pieces if any(p is not None for p in pieces) else None
