"""Checking request bodies of the fine-tuning API as OpenAI does (fields, ranges, messages)."""

from __future__ import annotations

from core.backend.errors import bad_request

MAX_SUFFIX = 64
LIMITS = {"n_epochs": (1, 50), "batch_size": (1, 256)}
# startune's own hyperparameters, beside OpenAI's three: the local trainer's class weighting and
# whether it stops early ("auto" = chosen on the validation split).
EXTENSIONS = {"class_weight": ("auto", "none", "balanced"), "early_stopping": ("auto", True, False)}


def check_hyperparameters(hp: object, where: str) -> dict:
    if hp is None:
        return {}
    if not isinstance(hp, dict):
        raise bad_request(f"'{where}' must be an object", param=where)
    out = {}
    for key, value in hp.items():
        param = f"{where}.{key}"
        if key in EXTENSIONS:
            allowed = EXTENSIONS[key]
            if value is None or not any(value is a or (isinstance(a, str) and value == a) for a in allowed):
                shown = ", ".join(repr(a) if isinstance(a, str) else str(a).lower() for a in allowed)
                raise bad_request(f"Invalid {key}: {value!r}. Must be one of {shown}.", param=param,
                                  code="invalid_hyperparameters")
            out[key] = value
            continue
        if key not in ("n_epochs", "batch_size", "learning_rate_multiplier"):
            raise bad_request(f"Unrecognized hyperparameter '{key}'", param=param)
        if value == "auto" or value is None:
            out[key] = "auto"
            continue
        if key in LIMITS:
            lo, hi = LIMITS[key]
            if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
                raise bad_request(f"Invalid {key}: {value!r}. Must be 'auto' or an integer between {lo} and {hi}.",
                                  param=param, code="invalid_hyperparameters")
        elif isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0 or value > 100:
            raise bad_request(f"Invalid learning_rate_multiplier: {value!r}. Must be 'auto' or a number > 0.",
                              param=param, code="invalid_hyperparameters")
        out[key] = value
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
        if len(suffix) > MAX_SUFFIX:
            raise bad_request(f"suffix is too long: {len(suffix)} characters (at most {MAX_SUFFIX}).",
                              param="suffix", code="invalid_suffix")
    seed = body.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= 2**31 - 1):
        raise bad_request("'seed' must be an integer between 0 and 2147483647", param="seed")
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
    full = {k: hp.get(k, "auto") for k in ("n_epochs", "batch_size", "learning_rate_multiplier")}
    return {
        "model": body["model"], "training_file": body["training_file"], "validation_file": validation,
        "suffix": suffix, "seed": seed, "metadata": metadata, "integrations": body.get("integrations"),
        "method": {"type": "supervised", "supervised": {"hyperparameters": full}},
        "requested": full | {k: v for k, v in hp.items() if k in EXTENSIONS},
    }
