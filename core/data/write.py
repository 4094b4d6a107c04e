"""Serialising a split to JSONL and writing a build's files atomically.

Records are assembled from pre-encoded pieces: only each text goes through orjson (for its
escaping); the constant parts of a record and the few label endings are encoded once. The result
is byte-identical to ``orjson.dumps(chat_record(...))``, streamed in chunks so memory stays flat.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from core.atomic import atomic_open, write_bytes
from core.records.formats import DEFAULT_SEPARATOR, chat_record, completion_record

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
    import pyarrow as pa
    import pyarrow.compute as pc

    labels = list(frame["label"].unique())
    code_of = {label: i for i, label in enumerate(labels)}
    pieces = [_template(fmt, label, system_prompt, separator, stop) for label in labels]
    if fmt == "chat":  # the text is a whole JSON string there: its quotes go with the pieces around it
        pieces = [(head + b'"', b'"' + tail) for head, tail in pieces]
    heads = pa.array([head for head, _ in pieces], type=pa.large_binary())
    tails = pa.array([tail + b"\n" for _, tail in pieces], type=pa.large_binary())
    label_column = frame["label"]
    rows = frame["row"].to_numpy() - 1 if texts is not None else None
    for start in range(0, len(frame), CHUNK):
        if texts is None or rows is None:
            texts_now = frame["text"].iloc[start : start + CHUNK].tolist()
        else:
            texts_now = texts.take(rows[start : start + CHUNK])
        codes = pa.array(list(map(code_of.__getitem__, label_column.iloc[start : start + CHUNK].tolist())),
                         type=pa.int32())
        bodies = pa.array(_encoded(texts_now), type=pa.large_binary())
        # each record is its label's head + the encoded text + its label's tail, joined by Arrow
        # rather than a Python loop
        records = pc.binary_join_element_wise(heads.take(codes), bodies, tails.take(codes),
                                              pa.scalar(b"", type=pa.large_binary()))
        yield _data_bytes(records)


_GAP = "\x00"
_CUT = b'","\\u0000","'


def _encoded(texts: list[str]) -> list[bytes]:
    """Each text as orjson.dumps(text) makes it, without the quotes, from one dumps call for the whole
    chunk (a dumps per text leaves the allocator a fragment per text). Between two texts goes a NUL, written as the six
    characters \\u0000: the bytes '","\\u0000","' then occur only at those gaps, because a quote in a
    text is always escaped and a backslash in a text is always doubled."""
    if not texts:
        return []
    spaced = list(itertools.chain.from_iterable(zip(texts, itertools.repeat(_GAP))))
    spaced.pop()
    return orjson.dumps(spaced)[2:-2].split(_CUT)


def _data_bytes(array) -> bytes:
    """The values of a (large) binary Arrow array, back to back."""
    import numpy as np

    if not len(array):
        return b""
    offsets = np.frombuffer(array.buffers()[1], dtype=np.int64)[array.offset : array.offset + len(array) + 1]
    return array.buffers()[2][offsets[0] : offsets[-1]].to_pybytes()  # slice the buffer, then copy once


def write_jsonl(path: Path, frame: pd.DataFrame, fmt: str, **kw) -> tuple[str, int]:
    """Write atomically; return (sha256, bytes written)."""
    digest = hashlib.sha256()
    size = 0
    with atomic_open(path, "wb", private=False) as fh:  # the user's build folder
        for chunk in iter_jsonl_chunks(frame, fmt, **kw):
            digest.update(chunk)
            size += len(chunk)
            fh.write(chunk)
    return digest.hexdigest(), size


def jsonl_bytes(frame: pd.DataFrame, fmt: str, **kw) -> bytes:
    return b"".join(iter_jsonl_chunks(frame, fmt, **kw))


def write_file(path: Path, data: bytes) -> str:
    """Write atomically; return the sha256 of what was written."""
    write_bytes(path, data, private=False)
    return hashlib.sha256(data).hexdigest()


def manifest_bytes(manifest: Mapping[str, Any]) -> bytes:
    return orjson.dumps(manifest, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"
