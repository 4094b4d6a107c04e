"""How long an encoder job will take, from a few of its own steps timed on this machine."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from core.backend.duration import DurationEstimate, calibration_batches, timed_steps, training_seconds
from core.backend.transformer.device import pick_device
from core.backend.transformer.trainer import EVALS_PER_EPOCH, VALID_EVERY, TransformerTrainer


def estimate_duration(model_id: str, train_examples: Sequence, valid_examples: Sequence, requested: dict,
                      seed: int = 0, check: Callable[[], None] = lambda: None) -> DurationEstimate:
    """Time a few real optimiser steps (the job's own batches, length, device and threads) on a throwaway
    copy of the job, then scale by the steps, the early-stopping looks and the final validation pass."""
    import time

    trainer = TransformerTrainer(model_id, train_examples, valid_examples, requested, seed)
    started = time.perf_counter()
    trainer.setup(lambda message: None, check)
    setup = time.perf_counter() - started
    saved = trainer.early_stopping, trainer.class_weight
    trainer.early_stopping, trainer.class_weight = False, "none"   # no looks, no final pass while timing
    everything = [trainer.batches(e) for e in range(trainer.n_epochs)]
    chosen = calibration_batches(everything[0], trainer.lengths)
    trainer.batches = lambda epoch: chosen   # type: ignore[method-assign]  # the throwaway copy trains these
    times = timed_steps(trainer.train, len(chosen), check)
    trainer.early_stopping, trainer.class_weight = saved
    steps = training_seconds(times, chosen[: len(times)], everything, trainer.lengths)
    sample = [trainer.valid_ids[i] for i in trainer.eval_rows[:64]]
    look = 0.0
    if sample:
        t0 = time.perf_counter()
        trainer.live_model.logits(sample)
        per_example = (time.perf_counter() - t0) / len(sample)
        looks = trainer.n_epochs * EVALS_PER_EPOCH if trainer.early_stopping else 0
        look = per_example * (looks * len(trainer.eval_rows) + len(trainer.valid_y)
                              + trainer.total_steps / VALID_EVERY * min(trainer.batch_size, len(trainer.valid_y)))
    total = setup + steps + look
    device = pick_device()[2]
    return DurationEstimate(total, device, steps / trainer.total_steps, trainer.total_steps, trainer.early_stopping,
                            setup)
