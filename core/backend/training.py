"""What every local trainer shares with the job runner: step metrics, errors, and the two protocols.

A trainer turns the examples of a job into a ``TrainedModel``, one optimiser step at a time, so the
runner can report OpenAI's metrics events, checkpoint at each epoch, honour cancel and pause between
steps, and resume after a restart. The linear default (``core.backend.linear``) and the transformer
trainer implement the same two protocols; ``core.backend.base_models`` says which base model uses which.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypeVar

import numpy as np

from core.choices import MAX_LABELS

MAX_CLASSES = MAX_LABELS    # more distinct answers than this is free-form text, not labels
MAX_REPORTED_STEPS = 1000   # metrics events per job, at most (the last step is always reported)
VALID_SAMPLE = 256          # validation examples scored for each reported step's valid_loss


def installed(module: str) -> bool:
    """Whether ``module`` can be imported here, found without importing it: the one probe behind
    every "this model needs ... installed" line (the transformer and LLM trainers)."""
    import importlib.util

    return importlib.util.find_spec(module) is not None


def missing_modules(model_id: str, wanted: tuple[str, ...], install_hint: str) -> str | None:
    """One line saying what to install when the modules ``model_id`` trains with are not all here, else
    None. Cheap: finds the modules without importing them, so job creation can refuse at once."""
    missing = [name for name in wanted if not installed(name)]
    if not missing:
        return None
    return (f"Model {model_id} needs {', '.join(missing)}, which are not installed: "
            f"run {install_hint} (in the environment startune runs from)")


class TrainingDataError(ValueError):
    """The data cannot train this model (the message is shown to the user as the job's error)."""


@dataclass
class StepMetrics:
    step: int
    total_steps: int
    train_loss: float
    train_mean_token_accuracy: float
    valid_loss: float | None = None
    valid_mean_token_accuracy: float | None = None

    def to_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if v is not None}


def label_order(labels: Sequence[str]) -> list[str]:
    """Distinct labels, numbers in numeric order first (so stars read 1..5), then the rest."""
    def key(c: str):
        numeric = c.lstrip("-").isdigit()
        return (not numeric, int(c) if numeric else 0, c)

    classes = sorted(set(labels), key=key)
    if len(classes) > MAX_CLASSES:
        raise TrainingDataError(
            f"the assistant answers take {len(classes)} distinct values: free text, not labels (a classifier learns "
            f"at most {MAX_CLASSES}); to learn free-text answers choose a generative base model: "
            f"--model smollm2-135m (or hf:<folder> of a causal LM)")
    if len(classes) < 2:
        raise TrainingDataError("the training file has a single distinct answer: nothing to learn")
    return classes


def log_loss(proba: np.ndarray, y: np.ndarray) -> float:
    picked = proba[np.arange(len(y)), y]
    return float(-np.mean(np.log(np.clip(picked, 1e-15, 1.0))))


def linear_warmup_decay(optimizer, lr: float, warmup: int, total: int, done: int = 0):
    """Linear warm-up then linear decay to zero over ``total`` steps, for the torch trainers; a resumed job
    passes the steps ``done`` before it, so its rates are the uninterrupted job's. Unlike transformers'
    get_linear_schedule_with_warmup the first step already moves (at lr / (warmup + 1), not 0): that one tried
    here gave minilm-l6 0.610 / 0.396 / 0.800 (accuracy / macro-F1 / MAE) where this gives 0.618 / 0.429 /
    0.762 on the same files (benchmarks/transformer.py, 2026-12-06), so this stays."""
    import torch

    for group in optimizer.param_groups:
        group["lr"] = lr   # the schedule scales the base rate; a restored group carries the last one

    def factor(step: int) -> float:
        step += done
        if step < warmup:
            return (step + 1) / (warmup + 1)
        return max(0.0, (total - step) / max(1, total - warmup))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


class Scorer(Protocol):
    """A model that answers: label probabilities for texts (the untrained base's lexicon is one)."""

    classes: list[str]
    data_format: str                     # "chat" | "completion": how its training data was shaped

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray: ...


class TrainedModel(Scorer, Protocol):
    """A model a job made: it answers, and it is saved as plain files (never a pickle)."""

    def save(self, directory: Path) -> None:
        """Write the model into an existing empty directory (the caller makes the write atomic)."""


# on_step(metrics, reported) -> False stops training (cancel, pause, lost lease); metrics is None
# for steps that are not reported. on_epoch_end(epoch, step, write_checkpoint) lets the runner
# store a checkpoint: write_checkpoint(directory) writes the model and the trainer's resume state.
OnStep = Callable[[StepMetrics | None, bool], bool | None]
OnEpochEnd = Callable[[int, int, Callable[[Path], None]], None]
Note = Callable[[str], None]


# the model a trainer makes, which its own valid_metrics takes back (each trainer names its own class)
Model = TypeVar("Model", bound=TrainedModel)


class Trainer(Protocol[Model]):
    classes: list[str]
    n_epochs: int
    steps_per_epoch: int
    total_steps: int

    def setup(self, note: Note, check: Callable[[], None], decided: dict | None = None) -> dict:
        """The heavy preparation (features, tokenising, "auto" choices made on the data). ``decided``
        is what an earlier run of this job returned, so a resumed job makes the same choices without
        searching again. Returns the choices, JSON-serialisable; hyperparameters() is valid after it."""

    def hyperparameters(self) -> dict:
        """n_epochs, batch_size, learning_rate_multiplier as used (and any trainer-specific ones)."""

    def train(self, *, start_epoch: int, resume: Path | None, on_step: OnStep,
              on_epoch_end: OnEpochEnd) -> Model: ...

    def valid_metrics(self, model: Model) -> tuple[float, float] | None:
        """Loss and accuracy on the whole validation set, for the job's full_valid metrics."""
