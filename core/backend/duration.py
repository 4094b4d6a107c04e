"""How long a local job will train here: what a calibration run measured, said in words.

Shared by the trainers that time a few of their own steps before a job (core.backend.transformer,
core.backend.llm); the linear model trains in seconds and has none."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class DurationEstimate:
    """How long a local job (transformer or LLM) will train on this machine, from a short calibration run."""

    seconds: float                 # the whole job if it trains every epoch (early stopping can end it sooner)
    device: str                    # "cpu (2 threads)", "cuda (NVIDIA H200, bf16 mixed precision)"
    step_seconds: float
    total_steps: int
    early_stopping: bool
    setup_seconds: float = 0.0     # loading the model and the data: paid whatever the number of steps

    def seconds_for(self, steps: int) -> float:
        """The estimate for a job that ends after ``steps`` (early stopping): its setup, and its share of the
        rest (steps, validation looks)."""
        share = min(1.0, steps / max(1, self.total_steps))
        return self.setup_seconds + (self.seconds - self.setup_seconds) * share

    def describe(self) -> str:
        text = f"about {_clock(self.seconds)} on {self.device}"
        if self.early_stopping:
            text = f"up to {_clock(self.seconds)} on {self.device} (early stopping may end it sooner)"
        return f"{text}: {self.total_steps:,} steps at {self.step_seconds:.2f} s"

    def too_long(self) -> bool:
        return self.device.startswith("cpu") and self.seconds > LONG_ON_CPU


LONG_ON_CPU = 30 * 60          # above this on a CPU, the estimate names the faster choices
CALIBRATION_STEPS = 4


def _clock(seconds: float) -> str:
    minutes = seconds / 60
    if minutes < 1:
        return f"{max(1, round(seconds))} s"
    if minutes < 90:
        return f"{round(minutes)} min"
    return f"{minutes / 60:.1f} h"


def timed_steps(train: Callable[..., object], steps: int, check: Callable[[], None]) -> list[float]:
    """The seconds each optimiser step took, in order: ``train(on_step=...)`` runs the job's own steps until
    ``steps`` of them (one more than CALIBRATION_STEPS where the job has them) were timed, and the first is
    left out (it pays for allocations and kernel choice; the rest are what the job will see): the times are
    of the job's batches 1, 2, ... of its first epoch."""
    times: list[float] = []
    last = time.perf_counter()

    def on_step(metrics, reported) -> bool:
        nonlocal last
        now = time.perf_counter()
        times.append(now - last)
        last = now
        check()
        return len(times) < steps

    train(on_step=on_step)
    return times[1:] if len(times) > 1 else times


def training_seconds(times: list[float], batches_by_epoch: list[list], lengths) -> float:
    """The optimiser steps' time for the whole job: the timed steps' seconds per padded token (they were
    epoch 0's batches from the second on, or its first alone) times every batch's padded tokens. Batches
    differ in length several times over, so a median step times a count of steps missed by as much."""
    from core.backend.batching import padded_tokens, seconds_per_token

    first = batches_by_epoch[0]
    timed = first[1 : len(times) + 1] if len(first) > len(times) else first[: len(times)]
    per_token = seconds_per_token(times, timed, lengths)
    return per_token * sum(padded_tokens(b, lengths) for batches in batches_by_epoch for b in batches)
