"""A GGUF base model kept as the plain float folder transformers makes of it.

Loading SmolLM2's 98 MB GGUF took 16 s of a 2-core CPU (gguf's Python reader walks the file twice, its
49,152-token vocabulary element by element, and maps tensor names one by one; dequantising is the least of
it), and a job loads its base three times over: the duration estimate, the job, then its evaluation and
every answer the server gives. The same weights from a safetensors folder load in about a second, so the
first load writes that folder (float32, about 540 MB) to ``core.paths.cache_dir()``; deleting it costs one
slow load. The folder is named for the GGUF's sha256 and the transformers version that converted it, and
appears whole or not at all (written beside, then renamed)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

WEIGHTS = "model.safetensors"


def folder_for(name: str, sha256: str) -> Path:
    import transformers

    from core.paths import cache_dir

    return cache_dir() / "models" / f"{name}-{sha256[:16]}-transformers-{transformers.__version__}"


def cached(name: str, sha256: str) -> Path | None:
    """The cached folder of a base, or None where none was written yet (or the cache cannot be made)."""
    from core.errors import StorageError

    try:
        folder = folder_for(name, sha256)
    except (OSError, StorageError):
        return None
    return folder if (folder / WEIGHTS).is_file() and (folder / "config.json").is_file() else None


@contextmanager
def as_plain(model) -> Iterator[None]:
    """A model transformers loaded from a GGUF (dequantised to float) as one it saves as plain weights: it
    otherwise refuses to save a model "quantized with gguf"."""
    quantizer, quantized = getattr(model, "hf_quantizer", None), getattr(model, "is_quantized", False)
    config = getattr(model.config, "quantization_config", None)
    if quantizer is None:
        yield
        return
    model.hf_quantizer, model.is_quantized = None, False
    if config is not None:
        del model.config.quantization_config
    try:
        yield
    finally:
        model.hf_quantizer, model.is_quantized = quantizer, quantized
        if config is not None:
            model.config.quantization_config = config


def keep(model, tokenizer, name: str, sha256: str, *, damaged: bool = False) -> Path | None:
    """Write the loaded base and its tokenizer to the cache (``damaged``: over a copy that failed to load);
    None where that failed (a full or read-only disk costs speed only, never the job)."""
    from core.errors import StorageError

    try:
        folder = folder_for(name, sha256)
    except (OSError, StorageError):
        return None
    if cached(name, sha256) and not damaged:   # another process wrote it since
        return folder
    partial = folder.with_name(f".{folder.name}.{os.getpid()}.partial")
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        with as_plain(model):
            model.save_pretrained(partial, safe_serialization=True)
        tokenizer.save_pretrained(partial)
        if folder.exists():   # damaged, or incomplete by other hands (this module only renames whole ones in)
            shutil.rmtree(folder)
        os.rename(partial, folder)
    except Exception:   # noqa: BLE001  # another process cached it first (the rename found a folder), or the disk refused
        shutil.rmtree(partial, ignore_errors=True)
        return folder if cached(name, sha256) else None
    return folder
