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


def calibration_batches(batches: list, lengths) -> list:
    """The batches a calibration times, from the job's first epoch: its largest by padded tokens first
    (memory grows to its peak there: its time less what the fit says it costs once grown is the job's
    one-off start-up cost), then the smallest of the rest, CALIBRATION_STEPS - 2 between and the largest of
    the rest, so the fit below sees the range the job runs."""
    from core.backend.batching import padded_tokens

    ordered = sorted(batches, key=lambda b: padded_tokens(b, lengths))
    largest, rest = ordered[-1], ordered[:-1]
    if len(rest) <= CALIBRATION_STEPS:
        return [largest, *rest]
    picks = [rest[round(i * (len(rest) - 1) / (CALIBRATION_STEPS - 1))] for i in range(CALIBRATION_STEPS)]
    return [largest, *picks]


def timed_steps(train: Callable[..., object], steps: int, check: Callable[[], None]) -> list[float]:
    """The seconds each optimiser step took, in order: ``train(on_step=...)`` runs steps until ``steps`` of
    them were timed."""
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
    return times


def step_cost(times: list[float], timed: list, lengths) -> tuple[float, float]:
    """(seconds per step, seconds per padded token): a least-squares line through the timed steps. A step
    has a fixed part (the backward pass and AdamW over every weight) and a part that grows with its padded
    tokens; on short reviews the fixed part is most of it (0.15 s of a 0.18 s step for 64 tokens of
    MiniLM), so scaling by tokens alone overestimated a job five times, and a step count alone misses long
    batches."""
    import numpy as np

    from core.backend.batching import padded_tokens

    tokens = np.array([padded_tokens(b, lengths) for b in timed], dtype=float)
    seconds = np.array(times, dtype=float)
    if len(seconds) >= 2 and np.ptp(tokens) > 0:
        per_token, fixed = np.polyfit(tokens, seconds, 1)
        if per_token >= 0 and fixed >= 0:
            return float(fixed), float(per_token)
        if per_token < 0:            # noise beat the trend: every step alike
            return float(seconds.mean()), 0.0
        return 0.0, float(seconds.sum() / tokens.sum())   # no fixed part to see
    return float(seconds.mean()), 0.0


def training_seconds(times: list[float], timed: list, batches_by_epoch: list[list], lengths) -> float:
    """The optimiser steps' time for the whole job, from a calibration of ``timed`` (calibration_batches)
    that took ``times``: the others than the first give a step's fixed and per-token cost (step_cost),
    summed over every batch of every epoch; the first, timed while memory grew, adds what it took over
    that cost once (the job pays it at its start, at its first step or spread over its first few)."""
    from core.backend.batching import padded_tokens

    if len(times) < 2:
        return times[0] * sum(len(batches) for batches in batches_by_epoch) if times else 0.0
    fixed, per_token = step_cost(times[1:], timed[1:], lengths)
    steps = sum(fixed + per_token * padded_tokens(b, lengths) for batches in batches_by_epoch for b in batches)
    start_up = max(0.0, times[0] - (fixed + per_token * padded_tokens(timed[0], lengths)))
    return steps + start_up
