"""Answering chat and text completions with local models (base or fine-tuned), with logprobs."""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Protocol

from core.backend import LOCAL_BASE_MODEL
from core.backend.errors import ApiError, bad_request
from core.backend.ids import new_id
from core.backend.limits import check_context, count_tokens
from core.backend.requests import check_chat_request, check_completion_request, check_echo, message_texts
from core.backend.store import Store
from core.backend.base_models import find as find_base_model
from core.backend.model_files import ModelFileError, load_model
from core.backend.training import Scorer, TrainedModel
from core.backend.zero_shot import BASE as ZERO_SHOT
from core.records.formats import DEFAULT_SEPARATOR


class Models(Protocol):
    """Where an answer finds its model by id: the cache below, or a batch's view with texts scored ahead."""

    def get(self, model_id: str) -> Scorer: ...


class ModelCache:
    """Loaded models by id; a few at a time (each holds weights of some tens of MB)."""

    def __init__(self, store: Store, size: int = 4) -> None:
        self.store, self.size = store, size
        self._models: OrderedDict[str, TrainedModel] = OrderedDict()
        self._lock = threading.Lock()
        self._loading = threading.Lock()

    def get(self, model_id: str) -> Scorer:
        if model_id == LOCAL_BASE_MODEL:
            return ZERO_SHOT
        if find_base_model(model_id) is not None:
            raise bad_request(f"The base model `{model_id}` answers once fine-tuned: create a fine-tuning job "
                              f"with it and use the model the job creates.", param="model", code="model_not_trained")
        with self._lock:
            if model_id in self._models:
                self._models.move_to_end(model_id)
                return self._models[model_id]
        with self._loading:
            return self._load(model_id)

    def _load(self, model_id: str) -> TrainedModel:
        # one load at a time: the first requests for a model arrive together, and loading it in several
        # threads at once both wastes the work and imports transformers concurrently (which fails)
        with self._lock:
            if model_id in self._models:
                return self._models[model_id]
        found = self.store.get_model(model_id)
        if found is None:
            raise ApiError(404, f"The model `{model_id}` does not exist or you do not have access to it.",
                           param="model", code="model_not_found")
        try:
            model = load_model(Path(found[1]))
        except (ModelFileError, OSError) as exc:
            raise ApiError(500, f"The model `{model_id}` cannot be loaded: {exc}. Fine-tune it again.",
                           type_="server_error", code="model_not_loadable") from None
        with self._lock:
            self._models[model_id] = model
            while len(self._models) > self.size:
                self._models.popitem(last=False)
        return model

    def forget(self, model_id: str) -> None:
        with self._lock:
            self._models.pop(model_id, None)


def _count(text: str) -> int:
    return count_tokens(text)


def _decode(tokens: list[int]) -> str:
    """Token ids as text; ids outside the vocabulary carry no text for the local model."""
    from core.validation.tokens import get_encoding

    enc = get_encoding("o200k_base")
    pieces = []
    for token in tokens:
        try:
            pieces.append(enc.decode_single_token_bytes(token))
        except (KeyError, OverflowError):
            continue
    return b"".join(pieces).decode("utf-8", errors="replace")


def _ranked(model: Scorer, text: str) -> list[tuple[str, float]]:
    return _ranked_many(model, [text])[0]


def _ranked_many(model: Scorer, texts: list[str]) -> list[list[tuple[str, float]]]:
    # one predict_proba call for all texts: a transformer scores them in batches
    out = []
    for proba in model.predict_proba(texts):
        pairs = [(label, math.log(max(float(p), 1e-300))) for label, p in zip(model.classes, proba)]
        out.append(sorted(pairs, key=lambda kv: -kv[1]))
    return out


def _top_n(body: dict, key: str, default: int) -> int:
    value = body.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 20:
        raise bad_request(f"'{key}' must be an integer between 0 and 20", param=key)
    return value


def chat_completion(models: Models, body: dict, checked: str | None = None) -> dict:
    """``checked``: what ``check_chat_request(body)`` returned, when the caller has already checked the
    request (its context length too)."""
    text = check_chat_request(body) if checked is None else checked
    model_id, messages = body["model"], body["messages"]
    model = models.get(model_id)
    if getattr(model, "kind", None) == "llm":   # a generative fine-tune answers by generation
        from core.backend.generation import chat_generation

        return chat_generation(model, body)
    if checked is None:
        check_context(message_texts(messages), "messages", "messages")
    ranked = _ranked(model, text)
    answer, logprob = ranked[0]
    logprobs = None
    if body.get("logprobs"):
        k = _top_n(body, "top_logprobs", 0)
        logprobs = {"content": [{
            "token": answer, "logprob": logprob, "bytes": list(answer.encode()),
            "top_logprobs": [{"token": t, "logprob": lp, "bytes": list(t.encode())} for t, lp in ranked[:k]],
        }], "refusal": None}
    prompt_tokens = sum(_count(m.get("content") or "") + 3 for m in messages if isinstance(m, dict)
                        and isinstance(m.get("content"), str)) + 3
    completion_tokens = _count(answer)
    return {
        "id": new_id("chatcmpl-"), "object": "chat.completion", "created": int(time.time()), "model": model_id,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": answer, "refusal": None,
                                             "annotations": []},
                     "logprobs": logprobs, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                  "total_tokens": prompt_tokens + completion_tokens},
        "system_fingerprint": "startune-local",
    }


def completion(models: Models, body: dict, checked: list[str] | None = None) -> dict:
    """``checked``: what ``check_completion_request(body, _decode)`` returned, when the caller has already
    checked the request (its context length too)."""
    prompts = check_completion_request(body, _decode) if checked is None else checked
    model_id = body["model"]
    model = models.get(model_id)
    if getattr(model, "kind", None) == "llm":
        from core.backend.generation import completion_generation

        return completion_generation(model, body, prompts)
    if checked is None:
        check_context(prompts, "prompt", "prompt")
    k = _top_n(body, "logprobs", 0) if body.get("logprobs") is not None else None
    echo, nothing = check_echo(body, k is not None)
    choices, prompt_tokens, completion_tokens = [], 0, 0
    rankings = _ranked_many(model, [text.removesuffix(DEFAULT_SEPARATOR) for text in prompts])
    for index, (text, ranked) in enumerate(zip(prompts, rankings)):
        answer, logprob = ranked[0]
        token = "" if nothing else " " + answer  # completions start with a space, as the legacy format trained them
        logprobs = None
        if k is not None:
            logprobs = ({"tokens": [], "token_logprobs": [], "top_logprobs": [], "text_offset": []} if nothing else
                        {"tokens": [token], "token_logprobs": [logprob],
                         "top_logprobs": [{" " + t: lp for t, lp in ranked[:k]}], "text_offset": [len(text)]})
        choices.append({"index": index, "text": (text if echo else "") + token, "logprobs": logprobs,
                        "finish_reason": "length" if nothing else "stop"})
        prompt_tokens += _count(text)
        completion_tokens += _count(token)
    return {
        "id": new_id("cmpl-"), "object": "text_completion", "created": int(time.time()), "model": model_id,
        "choices": choices, "system_fingerprint": "startune-local",
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                  "total_tokens": prompt_tokens + completion_tokens},
    }
