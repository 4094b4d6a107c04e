"""Length-grouped batches and the duration they imply: what both local trainers (encoder, LLM) share."""

import numpy as np

from core.backend.batching import length_grouped_batches, padded_tokens
from core.backend.duration import training_seconds


def _lengths(n: int = 2000) -> np.ndarray:
    # review lengths in tokens: most short, a long tail, as real reviews are
    return np.random.default_rng(0).lognormal(mean=3.5, sigma=0.9, size=n).astype(np.int64) + 1


def test_every_example_is_in_one_batch_and_the_order_is_a_function_of_seed_and_epoch():
    lengths = _lengths()
    batches = length_grouped_batches(lengths, 8, seed=3, epoch=0)
    assert sorted(np.concatenate(batches).tolist()) == list(range(len(lengths)))
    again = length_grouped_batches(lengths, 8, seed=3, epoch=0)
    assert all((a == b).all() for a, b in zip(batches, again))
    other = length_grouped_batches(lengths, 8, seed=3, epoch=1)
    assert not all(len(a) == len(b) and (a == b).all() for a, b in zip(batches, other))


def test_grouping_by_length_computes_far_fewer_padded_tokens_than_random_batches():
    lengths = _lengths()
    order = np.random.default_rng(1).permutation(len(lengths))
    random = sum(padded_tokens(order[i : i + 8], lengths) for i in range(0, len(order), 8))
    grouped = sum(padded_tokens(b, lengths) for b in length_grouped_batches(lengths, 8, seed=1, epoch=0))
    assert grouped < 0.6 * random
    assert grouped >= lengths.sum()   # never less than the tokens themselves


def test_the_job_is_timed_by_its_padded_tokens_not_by_its_count_of_steps():
    """Steps whose time is proportional to their padded tokens: the whole job's time comes out exactly,
    whichever batches were timed; a median step times the count of steps would not."""
    lengths = _lengths(400)
    epochs = [length_grouped_batches(lengths, 8, seed=5, epoch=e) for e in range(3)]
    per_token = 2e-4
    times = [per_token * padded_tokens(b, lengths) for b in epochs[0][1:5]]   # the calibration's steps 2-5
    total = training_seconds(times, epochs, lengths)
    exact = per_token * sum(padded_tokens(b, lengths) for batches in epochs for b in batches)
    assert abs(total - exact) < 1e-9 * exact
    median_way = float(np.median(times)) * sum(map(len, epochs))
    assert abs(median_way - exact) > 1e-6 * exact
