"""Checking request bodies of the fine-tuning API as OpenAI does (fields, ranges, messages)."""

from __future__ import annotations

from typing import TypeGuard

import orjson

from core.backend.errors import ApiError, bad_request
from core.launch_options import BY_NAME, HYPERPARAMETERS, OptionRefused
from core.seed import SEED_RULE

# OpenAI's hyperparameters, always in a job's method; startune's own (class weights, early stopping) only when asked
OPENAI_HYPERPARAMETERS = tuple(name for name, option in HYPERPARAMETERS.items() if option.openai)


def check_hyperparameters(hp: object, where: str) -> dict:
    """Each hyperparameter by its declaration's rule (core/launch_options.py), the one the front ends apply."""
    if hp is None:
        return {}
    if not isinstance(hp, dict):
        raise bad_request(f"'{where}' must be an object", param=where)
    out = {}
    for key, value in hp.items():
        param = f"{where}.{key}"
        option = HYPERPARAMETERS.get(key)
        if option is None:
            raise bad_request(f"Unrecognized hyperparameter '{key}'", param=param)
        try:
            out[key] = option.check(value)
        except OptionRefused as exc:
            raise bad_request(f"Invalid {key}: {value!r}. Must be {exc.rule}.", param=param,
                              code="invalid_hyperparameters") from None
    return out


def check_create_job(body: dict) -> dict:
    """The normalised job request: model, files, method with supervised hyperparameters, suffix, seed, metadata."""
    for field in ("model", "training_file"):
        if not isinstance(body.get(field), str) or not body[field]:
            raise bad_request(f"Missing required parameter: '{field}'.", param=field)
    unknown = set(body) - {"model", "training_file", "validation_file", "hyperparameters", "suffix", "seed",
                           "method", "metadata", "integrations"}
    if unknown:
        raise bad_request(f"Unrecognized request argument supplied: {', '.join(sorted(unknown))}",
                          param=sorted(unknown)[0])
    validation = body.get("validation_file")
    if validation is not None and not isinstance(validation, str):
        raise bad_request("'validation_file' must be a string", param="validation_file")
    suffix = body.get("suffix")
    if suffix is not None:
        if not isinstance(suffix, str):
            raise bad_request("'suffix' must be a string", param="suffix")
        limit = BY_NAME["suffix"].max_length
        if limit is not None and len(suffix) > limit:
            raise bad_request(f"suffix is too long: {len(suffix)} characters (at most {limit}).",
                              param="suffix", code="invalid_suffix")
    seed = body.get("seed")
    try:
        BY_NAME["seed"].check(seed)
    except OptionRefused:
        raise bad_request(f"'seed' must be {SEED_RULE}", param="seed") from None
    metadata = body.get("metadata")
    if metadata is not None:
        if not isinstance(metadata, dict) or len(metadata) > 16 or not all(
                isinstance(k, str) and len(k) <= 64 and isinstance(v, str) and len(v) <= 512
                for k, v in metadata.items()):
            raise bad_request("'metadata' must map at most 16 string keys (64 chars) to strings (512 chars)",
                              param="metadata")
    method = body.get("method")
    legacy = check_hyperparameters(body.get("hyperparameters"), "hyperparameters")
    if method is not None:
        if not isinstance(method, dict) or method.get("type") not in ("supervised", "dpo", "reinforcement"):
            raise bad_request("'method.type' must be one of supervised, dpo, reinforcement", param="method.type")
        if method["type"] != "supervised":
            raise bad_request(f"The local backend trains supervised jobs only, not {method['type']}",
                              param="method.type", code="unsupported_method")
        sup = method.get("supervised") or {}
        if not isinstance(sup, dict):
            raise bad_request("'method.supervised' must be an object", param="method.supervised")
        hp = check_hyperparameters(sup.get("hyperparameters"), "method.supervised.hyperparameters")
        if legacy:
            raise bad_request("Use either 'hyperparameters' or 'method', not both", param="hyperparameters")
    else:
        hp = legacy
    full = {k: hp.get(k, "auto") for k in OPENAI_HYPERPARAMETERS}
    return {
        "model": body["model"], "training_file": body["training_file"], "validation_file": validation,
        "suffix": suffix, "seed": seed, "metadata": metadata,
        "integrations": check_integrations(body.get("integrations")),
        "method": {"type": "supervised", "supervised": {"hyperparameters": full}},
        "requested": full | {k: v for k, v in hp.items() if k not in full},
    }


# -- job integrations -------------------------------------------------------------------------------
def check_integrations(value: object) -> list | None:
    """A list of {"type": "wandb", "wandb": {"project": str, name?, entity?, tags?}}, as OpenAI accepts."""
    if value is None:
        return None
    if not isinstance(value, list):
        raise bad_request("'integrations' must be a list of integration objects", param="integrations")
    for i, item in enumerate(value):
        where = f"integrations[{i}]"
        if not isinstance(item, dict) or item.get("type") != "wandb":
            raise bad_request(f"'{where}.type' must be 'wandb', the only integration OpenAI supports",
                              param=f"{where}.type")
        wandb = item.get("wandb")
        if not isinstance(wandb, dict) or not isinstance(wandb.get("project"), str):
            raise bad_request(f"'{where}.wandb.project' is required and must be a string",
                              param=f"{where}.wandb.project")
        for key in ("name", "entity"):
            if wandb.get(key) is not None and not isinstance(wandb[key], str):
                raise bad_request(f"'{where}.wandb.{key}' must be a string", param=f"{where}.wandb.{key}")
        tags = wandb.get("tags")
        if tags is not None and (not isinstance(tags, list) or not all(isinstance(t, str) for t in tags)):
            raise bad_request(f"'{where}.wandb.tags' must be a list of strings", param=f"{where}.wandb.tags")
    return value


# -- chat and text completions ----------------------------------------------------------------------
# (low, high) for numeric parameters; None bounds are open. Null stands for "the default" everywhere.
_NUMBERS = {"temperature": (0, 2), "top_p": (0, 1), "frequency_penalty": (-2, 2), "presence_penalty": (-2, 2)}
_INTEGERS = {"n": (1, 128), "max_tokens": (None, None), "max_completion_tokens": (None, None), "seed": (None, None),
             "top_logprobs": (0, 20), "best_of": (0, 20)}
_BOOLEANS = ("stream", "store", "echo", "parallel_tool_calls")
_STRINGS = ("user", "suffix", "safety_identifier", "prompt_cache_key")
_ENUMS = {"reasoning_effort": ("none", "minimal", "low", "medium", "high", "xhigh", "max"),
          "service_tier": ("auto", "default", "flex", "scale", "priority", "fast"),
          "verbosity": ("low", "medium", "high")}
_PART_TYPES = {"developer": ("text",), "system": ("text",), "tool": ("text",),
               "user": ("text", "image_url", "input_audio", "file"), "assistant": ("text", "refusal")}
_PART_FIELDS = {"text": ("text", str), "refusal": ("refusal", str), "image_url": ("image_url", dict),
                "input_audio": ("input_audio", dict), "file": ("file", dict)}


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_params(body: dict, integers: dict) -> None:
    for key, (lo, hi) in _NUMBERS.items():
        value = body.get(key)
        if value is not None and (not _is_number(value) or not lo <= value <= hi):
            raise bad_request(f"Invalid '{key}': {value!r}. Expected a number between {lo} and {hi}.", param=key)
    for key, (lo, hi) in integers.items():
        value = body.get(key)
        if value is None:
            continue
        if not _is_int(value) or (lo is not None and value < lo) or (hi is not None and value > hi):
            bounds = f" between {lo} and {hi}" if lo is not None and hi is not None else (
                f" of at least {lo}" if lo is not None else "")
            raise bad_request(f"Invalid '{key}': {value!r}. Expected an integer{bounds}.", param=key)
    for key in _BOOLEANS:
        if body.get(key) is not None and not isinstance(body[key], bool):
            raise bad_request(f"Invalid '{key}': expected a boolean.", param=key)
    for key in _STRINGS:
        if body.get(key) is not None and not isinstance(body[key], str):
            raise bad_request(f"Invalid '{key}': expected a string.", param=key)
    for key, allowed in _ENUMS.items():
        if body.get(key) is not None and body[key] not in allowed:
            raise bad_request(f"Invalid '{key}': {body[key]!r}. Expected one of {', '.join(allowed)}.", param=key)
    stop = body.get("stop")
    if stop is not None and not isinstance(stop, str) and not (
            isinstance(stop, list) and 1 <= len(stop) <= 4 and all(isinstance(s, str) for s in stop)):
        raise bad_request("Invalid 'stop': a string or a list of 1 to 4 strings.", param="stop")
    bias = body.get("logit_bias")
    if bias is not None and (not isinstance(bias, dict) or not all(_is_int(v) for v in bias.values())):
        raise bad_request("Invalid 'logit_bias': an object mapping token ids to integers.", param="logit_bias")
    options = body.get("stream_options")
    if options is not None and not isinstance(options, dict):
        raise bad_request("Invalid 'stream_options': expected an object.", param="stream_options")
    if not isinstance(body.get("model"), str):
        raise bad_request("Missing required parameter: 'model'.", param="model")


def _check_content(content: object, role: str, where: str) -> str:
    """The text of one message's content (string or list of parts); a part of the wrong shape is a 400."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list) or not content:
        raise bad_request(f"Invalid '{where}.content': expected a string or a non-empty list of content parts.",
                          param=f"{where}.content")
    texts = []
    for j, part in enumerate(content):
        at = f"{where}.content[{j}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if kind not in _PART_TYPES[role]:
            raise bad_request(f"Invalid '{at}.type': {kind!r}. A {role} message takes parts of type "
                              f"{', '.join(_PART_TYPES[role])}.", param=f"{at}.type")
        field, expected = _PART_FIELDS[kind]
        if not isinstance(part.get(field), expected):
            raise bad_request(f"Invalid '{at}.{field}': expected {'a string' if expected is str else 'an object'}.",
                              param=f"{at}.{field}")
        if kind == "text":
            texts.append(part["text"])
    return "".join(texts)


def _at_least_one(body: dict, key: str) -> None:
    value = body.get(key)
    if _is_int(value) and value < 1:
        raise ApiError(400, f"Invalid '{key}': integer below minimum value. Expected a value >= 1, but got "
                            f"{value} instead.", param=key, code="integer_below_min_value")


def check_chat_request(body: dict) -> str:
    """Validate a chat completion request like OpenAI; return the text the local model classifies: the last
    user message, or the last message with text when no user spoke."""
    _check_params(body, {k: v for k, v in _INTEGERS.items() if k != "best_of"})
    for key in ("max_tokens", "max_completion_tokens"):
        _at_least_one(body, key)
    if body.get("logprobs") is not None and not isinstance(body["logprobs"], bool):
        raise bad_request("Invalid 'logprobs': expected a boolean.", param="logprobs")
    if body.get("top_logprobs") is not None and body.get("logprobs") is not True:
        raise bad_request("Invalid value for 'top_logprobs': 'logprobs' must be set to true when "
                          "'top_logprobs' is given.", param="top_logprobs")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise bad_request("Missing required parameter: 'messages'.", param="messages")
    last_user, last_any = None, ""
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(message, dict):
            raise bad_request(f"Invalid '{where}': expected an object.", param=where)
        role = message.get("role")
        if role not in ("developer", "system", "user", "assistant", "tool", "function"):
            raise bad_request(f"Invalid '{where}.role': {role!r}. Supported values are: 'developer', 'system', "
                              "'user', 'assistant', 'tool' and 'function'.", param=f"{where}.role")
        if message.get("name") is not None and not isinstance(message["name"], str):
            raise bad_request(f"Invalid '{where}.name': expected a string.", param=f"{where}.name")
        if role == "tool" and not isinstance(message.get("tool_call_id"), str):
            raise bad_request(f"Missing required parameter: '{where}.tool_call_id'.", param=f"{where}.tool_call_id")
        if role == "function" and not isinstance(message.get("name"), str):
            raise bad_request(f"Missing required parameter: '{where}.name'.", param=f"{where}.name")
        content = message.get("content")
        if content is None and role in ("assistant", "function"):
            if "content" not in message and role == "function":
                raise bad_request(f"Missing required parameter: '{where}.content'.", param=f"{where}.content")
            continue
        if role == "function":
            if not isinstance(content, str):
                raise bad_request(f"Invalid '{where}.content': expected a string or null.", param=f"{where}.content")
            text = content
        else:
            text = _check_content(content, role, where)
        last_any = text
        if role == "user":
            last_user = text
    return last_user if last_user is not None else last_any


def check_echo(body: dict, logprobs: bool) -> tuple[bool, bool]:
    """(echo the prompt, generate nothing: max_tokens 0). The local models have no log-probabilities for a
    prompt's own tokens, which echo with logprobs would return, so that pair is refused."""
    echo = body.get("echo") is True
    if echo and logprobs:
        raise bad_request("The local models give no log-probabilities for prompt tokens: 'echo' cannot be "
                          "combined with 'logprobs'.", param="echo")
    return echo, body.get("max_tokens") == 0


def check_completion_request(body: dict, decode) -> list[str]:
    """Validate a text completion request; return its prompts as text (token arrays decoded by ``decode``)."""
    _check_params(body, {**{k: v for k, v in _INTEGERS.items() if k not in ("top_logprobs", "max_completion_tokens")},
                         "max_tokens": (0, None), "logprobs": (0, 5)})
    if "prompt" not in body:
        raise bad_request("Missing required parameter: 'prompt'.", param="prompt")
    prompt = body["prompt"]
    if prompt is None:
        return [""]  # OpenAI's default, <|endoftext|>: the start of a document, no text
    if isinstance(prompt, str):
        return [prompt]
    if isinstance(prompt, list):
        if all(isinstance(p, str) for p in prompt):
            return prompt or [""]
        if prompt and all(_is_int(t) for t in prompt):
            return [decode(prompt)]
        if prompt and all(isinstance(p, list) and p and all(_is_int(t) for t in p) for p in prompt):
            return [decode(p) for p in prompt]
    raise bad_request("Invalid 'prompt': a string, a list of strings, a list of tokens or a list of token lists.",
                      param="prompt")


def message_texts(messages: list) -> list[str]:
    """The text parts of chat messages, strings or content parts alike, in order."""
    texts = []
    for m in messages:
        content = m.get("content") if isinstance(m, dict) else None
        if isinstance(content, str):
            texts.append(content)
        elif isinstance(content, list):
            texts.extend(p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return texts


async def json_body(request) -> dict:
    """A request's JSON object, or the 400 OpenAI answers for anything else."""
    raw = await request.body()
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise bad_request("We could not parse the JSON body of your request. (HINT: This likely means you aren't "
                          "using your HTTP library correctly. The OpenAI API expects a JSON payload.)") from None
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object.")
    return body
