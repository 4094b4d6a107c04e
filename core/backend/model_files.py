"""Model folders on disk: written atomically, read without ever unpickling.

A model (or checkpoint) is a folder with ``model.json`` saying its format version and kind, beside
plain arrays (``.npz`` loaded with ``allow_pickle=False``) or a transformer's safetensors. A folder
from elsewhere can therefore be loaded without running any of its code.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import orjson

from core.backend.training import TrainedModel

FORMAT = "startune-model"
VERSION = 1
MANIFEST = "model.json"


class ModelFileError(ValueError):
    """The folder is not a model this version of startune can load."""


def write_manifest(directory: Path, kind: str, **fields) -> None:
    body = {"format": FORMAT, "version": VERSION, "kind": kind, **fields}
    (directory / MANIFEST).write_bytes(orjson.dumps(body, option=orjson.OPT_INDENT_2))


def read_manifest(directory: Path) -> dict:
    try:
        body = orjson.loads((directory / MANIFEST).read_bytes())
    except FileNotFoundError:
        raise ModelFileError(f"{directory}: no {MANIFEST}, not a startune model folder") from None
    except orjson.JSONDecodeError as exc:
        raise ModelFileError(f"{directory / MANIFEST}: not valid JSON ({exc})") from None
    if not isinstance(body, dict) or body.get("format") != FORMAT:
        raise ModelFileError(f"{directory / MANIFEST}: not a startune model")
    if body.get("version") != VERSION:
        raise ModelFileError(f"{directory / MANIFEST}: model format version {body.get('version')!r}; "
                             f"this startune reads version {VERSION}")
    return body


def write_dir(target: Path, write: Callable[[Path], None]) -> None:
    """Fill a fresh temporary sibling folder, then rename it into place, so a crash never leaves
    a half-written model where a loader would find it."""
    target.parent.mkdir(parents=True, exist_ok=True)
    from core.backend.leftovers import temp_name

    # named with this process's id: the next backend to open the folder removes it if this one is killed
    tmp = Path(tempfile.mkdtemp(prefix=temp_name(target), suffix=".tmp", dir=target.parent))
    try:
        write(tmp)
        for path in tmp.iterdir():
            if path.is_file():
                with open(path, "rb") as fh:
                    os.fsync(fh.fileno())
        if target.exists():
            remove(target)
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


# kind -> "module:Class" whose classmethod load(directory, manifest) reads it; imported only when
# such a model is loaded, so the linear backend never pays for torch.
LOADERS = {
    "linear": "core.backend.linear:LinearModel",
    "transformer": "core.backend.transformer.model:TransformerModel",
    "llm": "core.backend.llm:LLMModel",
}


def load_model(directory: Path) -> TrainedModel:
    import importlib

    body = read_manifest(directory)
    target = LOADERS.get(str(body.get("kind")))
    if target is None:
        raise ModelFileError(f"{directory / MANIFEST}: unknown model kind {body.get('kind')!r}")
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name).load(directory, body)
