"""Which device an encoder trains on (CUDA with mixed precision, Apple MPS, the CPU), and telling an
out-of-memory failure from the others."""

from __future__ import annotations

from core.backend.training import TrainingDataError
from core.backend.transformer.weights import BaseModelError


class DevicesError(TrainingDataError):
    """The backend's devices setting asks for devices this machine does not have."""

    code, param = "invalid_devices", None


def pick_device(prefer: str | None = None):
    """(torch.device, autocast dtype or None, a phrase for the job's events). STARTUNE_DEVICE=cpu|cuda|mps
    overrides the choice (CUDA, then Apple MPS, then CPU)."""
    import torch

    from core.settings import env

    wanted = (prefer or env().startune_device or "").strip().lower()
    if wanted not in ("", "cpu", "cuda", "mps"):
        raise BaseModelError(f"STARTUNE_DEVICE={wanted!r}: expected cpu, cuda or mps")
    if wanted in ("", "cuda") and torch.cuda.is_available():
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        name = torch.cuda.get_device_name(0)
        return torch.device("cuda"), dtype, f"cuda ({name}, {str(dtype).removeprefix('torch.')} mixed precision)"
    mps = getattr(torch.backends, "mps", None)
    if wanted in ("", "mps") and mps is not None and mps.is_available():
        return torch.device("mps"), None, "mps (Apple GPU)"
    if wanted in ("cuda", "mps"):
        raise BaseModelError(f"STARTUNE_DEVICE={wanted} but torch sees no {wanted} device here")
    return torch.device("cpu"), None, f"cpu ({torch.get_num_threads()} threads)"


def autocast(device, dtype):
    import contextlib

    import torch

    return torch.autocast(device.type, dtype=dtype) if dtype is not None else contextlib.nullcontext()


def is_oom(exc: BaseException) -> bool:
    import torch

    oom = getattr(torch, "OutOfMemoryError", None) or torch.cuda.OutOfMemoryError   # torch < 2.5 has the latter
    return isinstance(exc, (oom, MemoryError)) or (
        isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower())
