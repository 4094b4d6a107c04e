"""Hyperparameter limits, checked before anything is priced, uploaded or created.

The limits are those of OpenAI's API (FineTuneSupervisedHyperparameters in its OpenAPI spec), which
the local backend enforces too: n_epochs 1-50, batch_size 1-256, learning_rate_multiplier > 0.
"""

from __future__ import annotations

import math

from core.errors import ConfigError

N_EPOCHS = (1, 50)
BATCH_SIZE = (1, 256)

_FLAGS = {"n_epochs": "--epochs", "batch_size": "--batch-size", "learning_rate_multiplier": "--lr-multiplier"}


def _is_auto(value) -> bool:
    return value is None or value == "auto"


def _check_int(name: str, value, limits: tuple[int, int]) -> None:
    low, high = limits
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise ConfigError(f"{_FLAGS[name]} {value!r}: give a whole number from {low} to {high}, or auto")
    if not low <= value <= high:
        raise ConfigError(f"{_FLAGS[name]} {value}: {name} must be from {low} to {high}, or auto")


def check_hyperparameters(n_epochs=None, batch_size=None, learning_rate_multiplier=None) -> None:
    """Raise ConfigError (one line naming the flag) unless each value is 'auto'/None or within limits."""
    if not _is_auto(n_epochs):
        _check_int("n_epochs", n_epochs, N_EPOCHS)
    if not _is_auto(batch_size):
        _check_int("batch_size", batch_size, BATCH_SIZE)
    lr = learning_rate_multiplier
    if not _is_auto(lr):
        if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not math.isfinite(lr) or lr <= 0:
            raise ConfigError(f"--lr-multiplier {lr!r}: learning_rate_multiplier must be a number above 0, or auto")
