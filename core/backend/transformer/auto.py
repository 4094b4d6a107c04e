"""What "auto" means for an encoder: epochs, batch size, step size for the model's size, class weighting
and the longest text kept whole."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

MAX_LENGTH = 128              # tokens per example when nothing else is known (a saved model records its own)
LENGTH_QUANTILE = 0.98        # "auto" max length covers this share of the training texts whole...
MAX_AUTO_LENGTH = {"cpu": 256, "cuda": 512, "mps": 512}   # ...up to this (attention cost grows with the square)
BASE_LEARNING_RATE = 5e-5     # BERT's recipe, for a base-sized encoder; smaller models take larger steps
MIN_EXAMPLES_SEEN = 4000      # "auto" epochs: small files get more passes so the head sees enough examples
MAX_AUTO_EPOCHS = 8


def base_learning_rate(n_parameters: int) -> float:
    """The step size at multiplier 1 for a model of this size: small encoders (MiniLM, 22M) need larger
    steps than BERT-base's 5e-5 to move in a few epochs, large ones smaller."""
    if n_parameters < 50e6:
        return 1e-4
    if n_parameters < 200e6:
        return BASE_LEARNING_RATE
    return 2e-5


def auto_max_length(lengths: Sequence[int], model_limit: int, device_type: str = "cpu") -> int:
    """The shortest length, a multiple of 8, that keeps LENGTH_QUANTILE of the texts whole."""
    if not len(lengths):
        return min(MAX_LENGTH, model_limit)
    wanted = int(np.quantile(np.asarray(lengths), LENGTH_QUANTILE))
    wanted = max(16, -(-wanted // 8) * 8)
    return int(min(wanted, model_limit, MAX_AUTO_LENGTH.get(device_type, 256)))


def auto_hyperparameters(n_examples: int, requested: dict, device_type: str = "cpu") -> dict:
    """"auto" for an encoder: at most 3 epochs (early stopping decides; more for small files, so training
    sees at least MIN_EXAMPLES_SEEN examples, at most MAX_AUTO_EPOCHS), batch 16 or 32 on a GPU, and class
    weighting "auto": a prior correction chosen on validation after training, which costs no second run."""
    epochs = requested.get("n_epochs", "auto")
    batch = requested.get("batch_size", "auto")
    lr = requested.get("learning_rate_multiplier", "auto")
    if epochs in (None, "auto"):
        epochs = min(MAX_AUTO_EPOCHS, max(3, math.ceil(MIN_EXAMPLES_SEEN / max(1, n_examples))))
    if batch in (None, "auto"):
        batch = min(32 if device_type == "cuda" else 16, max(1, n_examples))
    if lr in (None, "auto"):
        lr = 1.0
    weights = requested.get("class_weight", "auto")
    if weights is None:
        weights = "auto"
    return {"n_epochs": int(epochs), "batch_size": int(batch), "learning_rate_multiplier": float(lr),
            "class_weight": weights}
