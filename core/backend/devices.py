"""How many devices a transformer job trains on: the backend's ``devices`` setting, declared here once.

It is a setting of the process that trains (``startune serve --devices N``, or ``STARTUNE_DEVICES`` for
any process holding a backend: serve, and the CLI or app with the embedded one), not a job option:
OpenAI's job API has no such hyperparameter, and the same job may be resumed by a process with other
devices (the global batch stays the job's, so it trains the same). Plain standard library: ``startune
--help`` reads the flag's help from here without importing torch.
"""

from __future__ import annotations


from core.errors import ConfigError

ENV = "STARTUNE_DEVICES"
FLAG = "--devices"
AUTO = "auto"
DEFAULT = 1                 # one device unless asked: several is proven on CPU (gloo) only, not on GPUs
MAX_DEVICES = 64
RULE = f"{AUTO} (every CUDA device torch sees), or a whole number from 1 to {MAX_DEVICES}"
HELP = (f"Devices a transformer job trains on, data-parallel (torch DDP: nccl, one process per GPU; "
        f"gloo processes on a CPU): {RULE}. Default {DEFAULT}.")


def parse(text: object, source: str = FLAG) -> str | int:
    """The setting as typed (blank: the default); ConfigError naming ``source`` otherwise."""
    if text is None or (isinstance(text, str) and not text.strip()):
        return DEFAULT
    if isinstance(text, int) and not isinstance(text, bool):
        value = str(text)
    else:
        value = str(text).strip().lower()
    if value == AUTO:
        return AUTO
    if value.isascii() and value.isdigit() and 1 <= int(value) <= MAX_DEVICES:
        return int(value)
    raise ConfigError(f"{source} {str(text)!r}: {RULE}")


def from_env() -> str | int:
    from core.settings import env

    return parse(env().startune_devices, ENV)


def count(setting: str | int, device_type: str, cuda_devices: int) -> int:
    """Processes to train on: ``auto`` is every CUDA device (one elsewhere: an MPS or a CPU is one
    device); a number of GPUs above what torch sees is refused, since a second rank on one GPU
    deadlocks NCCL."""
    if setting == AUTO:
        return max(1, cuda_devices) if device_type == "cuda" else 1
    n = int(setting)
    if device_type == "cuda" and n > cuda_devices:
        raise ConfigError(f"{ENV}/{FLAG} {n}: torch sees {cuda_devices} CUDA device(s) here "
                          f"(CUDA_VISIBLE_DEVICES narrows them); use at most {cuda_devices} or {AUTO}")
    if device_type == "mps" and n > 1:
        raise ConfigError(f"{ENV}/{FLAG} {n}: an Apple GPU is one device; use 1")
    return n
