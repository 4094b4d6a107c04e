"""Object ids in OpenAI's shapes (file-..., ftjob-..., ftevent-..., ftckpt_...)."""

from __future__ import annotations

import secrets
import string

_ALPHABET = string.ascii_letters + string.digits
# byte b -> the letter or digit b % 62, for bytes.translate
_LETTERS = bytes(ord(_ALPHABET[b % 62]) for b in range(256))


def new_id(prefix: str, length: int = 24) -> str:
    # one call for all the random bytes, mapped in C (a batch makes three ids per request); the slight
    # skew of 256 % 62 is of no matter for ids, which need to be unique, not secret
    return prefix + secrets.token_bytes(length).translate(_LETTERS).decode("ascii")
