"""Serialising a split to JSONL and writing a build's files atomically.

Records are assembled from pre-encoded pieces: only each text goes through orjson (for its
escaping); the constant parts of a record and the few label endings are encoded once. The result
is byte-identical to ``orjson.dumps(chat_record(...))``, streamed in chunks so memory stays flat.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

import orjson

from core.atomic import atomic_open, write_bytes
from core.data.formats import DEFAULT_SEPARATOR, chat_record, completion_record

if TYPE_CHECKING:
    import pandas as pd

    from core.data.clean import Texts

CHUNK = 20_000
_MARK = "\x00startune-text\x00"


def _template(fmt: str, label: str, system_prompt: str | None, separator: str, stop: str | None) -> tuple[bytes, bytes]:
    """(bytes before the text, bytes after it) of one record, cut from a real record around a marker."""
    if fmt == "chat":
        record = chat_record(_MARK, label, system_prompt)
        encoded = orjson.dumps(record)
        cut = orjson.dumps(_MARK)
    elif fmt == "completion":
        record = completion_record(_MARK, label, separator, stop)
        encoded = orjson.dumps(record)
        # the prompt is text + separator in one JSON string: cut inside the string's quotes
        cut = orjson.dumps(_MARK)[:-1]
    else:
        raise ValueError(f"unknown format {fmt!r}")
    head, tail = encoded.split(cut)
    if fmt == "completion":
        head += b'"'
        return head, tail
    return head, tail


def iter_jsonl_chunks(frame: pd.DataFrame, fmt: str, *, system_prompt: str | None = None,
                      separator: str = DEFAULT_SEPARATOR, stop: str | None = None,
                      texts: Texts | None = None):
    """Chunks of JSONL bytes. Texts become Python strings one chunk at a time (memory stays flat):
    from the frame's ``text`` column, or taken by its 1-based ``row`` column from ``texts``."""
    pieces = {label: _template(fmt, label, system_prompt, separator, stop) for label in frame["label"].unique()}
    label_column = frame["label"]
    rows = frame["row"].to_numpy() - 1 if texts is not None else None
    dumps = orjson.dumps
    for start in range(0, len(frame), CHUNK):
        if rows is None:
            texts_now = frame["text"].iloc[start : start + CHUNK].tolist()
        else:
            texts_now = texts.take(rows[start : start + CHUNK])
        labels = label_column.iloc[start : start + CHUNK].tolist()
        out = []
        for text, label in zip(texts_now, labels):
            head, tail = pieces[label]
            body = dumps(text)
            if fmt == "completion":
                body = body[1:-1]
            out.append(head + body + tail)
        out.append(b"")
        yield b"\n".join(out)


def write_jsonl(path: Path, frame: pd.DataFrame, fmt: str, **kw) -> tuple[str, int]:
    """Write atomically; return (sha256, bytes written)."""
    digest = hashlib.sha256()
    size = 0
    with atomic_open(path, "wb") as fh:
        for chunk in iter_jsonl_chunks(frame, fmt, **kw):
            digest.update(chunk)
            size += len(chunk)
            fh.write(chunk)
    return digest.hexdigest(), size


def jsonl_bytes(frame: pd.DataFrame, fmt: str, **kw) -> bytes:
    return b"".join(iter_jsonl_chunks(frame, fmt, **kw))


def write_file(path: Path, data: bytes) -> str:
    """Write atomically; return the sha256 of what was written."""
    write_bytes(path, data)
    return hashlib.sha256(data).hexdigest()


def manifest_bytes(manifest: dict) -> bytes:
    return orjson.dumps(manifest, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"
