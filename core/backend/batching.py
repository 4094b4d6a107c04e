"""How the local trainers cut an epoch into batches, and what a batch costs to train.

On a CPU much of a step's cost is the padded tokens (the padding is computed too), so the encoder trainer
draws its batches in length-sorted groups (Hugging Face's ``group_by_length`` idea; the LLM trainer's stay
random, see LLMTrainer.batches), and the duration estimate costs every batch by its padded tokens."""

from __future__ import annotations

import numpy as np

GROUP_BATCHES = 50   # batches drawn together and cut by length: little padding, still random


def length_grouped_batches(lengths: np.ndarray, batch_size: int, seed: int, epoch: int) -> list[np.ndarray]:
    """The epoch's batches of example indexes, a function of (seed, epoch) only. Shuffled, then every
    GROUP_BATCHES batches' worth of examples is sorted by length before cutting (a review of 8 tokens then
    rarely shares a batch with one of 500), and the batches are shuffled again."""
    rng = np.random.default_rng([seed, 1, epoch])
    order = rng.permutation(len(lengths))
    group = batch_size * GROUP_BATCHES
    batches: list[np.ndarray] = []
    for start in range(0, len(order), group):
        chunk = order[start : start + group]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    return [batches[i] for i in rng.permutation(len(batches))]


def largest_first(batches: list[np.ndarray], lengths: np.ndarray) -> list[np.ndarray]:
    """The batches with the one of most padded tokens moved to the front (the LLM trainer's): memory grows to
    its peak at the first step and is reused after (grown batch by batch, an LLM job's first ten steps ran
    1.5x slower than the rest), and a batch too large for the machine fails the job at once rather than
    hours in (Hugging Face's samplers put the longest first for that reason). The encoder's batches keep
    their order: its steps are small, and its measured quality was on that order."""
    if len(batches) < 2:
        return batches
    top = max(range(len(batches)), key=lambda i: padded_tokens(batches[i], lengths))
    return [batches[top], *batches[:top], *batches[top + 1:]]


def padded_tokens(batch: np.ndarray, lengths: np.ndarray) -> int:
    """The tokens a batch computes: its examples times its longest (padding per batch)."""
    return len(batch) * int(lengths[batch].max()) if len(batch) else 0
