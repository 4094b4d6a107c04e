"""How much text one chat or text completion request may carry, and checking it for a bounded price.

The classifier models (the untrained ``startune-local`` lexicon, the linear and transformer fine-tunes) read
at most ``CONTEXT_TOKENS`` o200k tokens per request: all its messages, or all its prompts, together. A
request over it is OpenAI's 400 ``context_length_exceeded``. The LLM fine-tunes keep their own window
(core.backend.llm.CONTEXT_LIMIT, in their tokenizer's tokens).

The check itself must not cost what it protects against: a 30 MB body would take a second to tokenise,
so the text is encoded a slice at a time and counting stops as soon as the limit is passed.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

from core.backend.errors import ApiError

CONTEXT_TOKENS = 16_384
SLICE = 16_384        # characters encoded per call while counting: a slice's cost is small and bounded
# a request whose body is above this many bytes is answered in the long lane (app.py), so that long requests
# queue behind each other and never take every worker thread from the short ones
LONG_BODY = 16 * 1024
LONG_LANE = 1
# the long lane's threads run this much nicer than the rest of the server (Linux sets it per thread): under
# a flood of long requests the event loop and the short requests' threads get the CPU first
LONG_NICE = 10
# texts up to this many characters have their count remembered (this many of them at most): a request's
# texts are counted for its context check and again for its usage, and a batch's for its pre-scoring too
MEMO_CHARS = 4096
MEMO_SIZE = 4096
_counts: dict[str, int] = {}


_lane: ThreadPoolExecutor | None = None
_lane_lock = threading.Lock()


def long_lane() -> ThreadPoolExecutor:
    """The LONG_LANE threads every long request of this process queues for, each at LONG_NICE."""
    global _lane
    with _lane_lock:
        if _lane is None:
            _lane = ThreadPoolExecutor(LONG_LANE, thread_name_prefix="startune-long", initializer=_nicer)
    return _lane


def _nicer() -> None:
    try:   # Linux: a thread's own priority; elsewhere setpriority names the whole process, so nothing is done
        if os.uname().sysname == "Linux":
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), LONG_NICE)
    except (OSError, AttributeError):
        pass


def exceeded(limit: int, counted: int, what: str, param: str, *, at_least: bool = False) -> ApiError:
    more = "more than " if at_least else ""
    return ApiError(400, f"This model's maximum context length is {limit} tokens. However, your {what} "
                         f"resulted in {more}{counted} tokens. Please reduce the length of the {what}.",
                    param=param, code="context_length_exceeded")


def check_context(texts: Iterable[str], what: str, param: str, limit: int = CONTEXT_TOKENS,
                  stated: int | None = None) -> int:
    """About the o200k tokens of ``texts`` (slice edges may shift it by a token each), or
    ``context_length_exceeded`` once they pass ``limit`` (telling ``stated``, the model's own window, when the
    check only screens for a model with another tokenizer); no more than about ``limit`` tokens' worth of text
    is ever encoded."""
    total = 0
    for text in texts:
        for start in range(0, len(text), SLICE):
            total += count_tokens(text[start:start + SLICE])
            if total > limit:
                raise exceeded(stated or limit, stated or limit, what, param, at_least=True)
    return total


def count_tokens(text: str) -> int:
    """The o200k tokens of ``text``, a short text's remembered (counting one costs ~10 us, looking it up 0.1)."""
    counted = _counts.get(text)
    if counted is None:
        from core.validation.tokens import get_encoding

        counted = len(get_encoding("o200k_base").encode_ordinary(text))
        if len(text) <= MEMO_CHARS:
            if len(_counts) >= MEMO_SIZE:
                _counts.clear()
            _counts[text] = counted
    return counted
