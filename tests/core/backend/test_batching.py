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


def test_an_llm_epoch_starts_with_its_largest_batch_and_keeps_the_rest_in_order():
    """Memory grows to its peak at the first step (an LLM's first ten steps ran 1.5x slower when it grew
    batch by batch), and a batch the machine cannot hold fails the job at once."""
    from core.backend.batching import largest_first

    random = [np.array([i, i + 1]) for i in range(0, 20, 2)]
    moved = largest_first(random, np.array([1] * 13 + [50] + [1] * 6))
    assert [b.tolist() for b in moved] == [[12, 13], *([[i, i + 1] for i in range(0, 12, 2)]),
                                           *([[i, i + 1] for i in range(14, 20, 2)])]
    assert largest_first(random[:1], np.ones(20)) == random[:1]


def test_grouping_by_length_computes_far_fewer_padded_tokens_than_random_batches():
    lengths = _lengths()
    order = np.random.default_rng(1).permutation(len(lengths))
    random = sum(padded_tokens(order[i : i + 8], lengths) for i in range(0, len(order), 8))
    grouped = sum(padded_tokens(b, lengths) for b in length_grouped_batches(lengths, 8, seed=1, epoch=0))
    assert grouped < 0.6 * random
    assert grouped >= lengths.sum()   # never less than the tokens themselves


def test_the_job_is_timed_by_a_fixed_and_a_per_token_cost_fitted_on_batches_across_its_range():
    """Steps that cost a fixed part plus a part per padded token (MiniLM on short reviews: 0.15 s + 0.5 ms a
    token): the whole job's time comes out exactly from the calibration's few batches; scaling their
    time by tokens alone, as before, overestimated short-review jobs several times."""
    from core.backend.duration import CALIBRATION_STEPS, calibration_batches

    lengths = _lengths(400)
    epochs = [length_grouped_batches(lengths, 8, seed=5, epoch=e) for e in range(3)]
    chosen = calibration_batches(epochs[0], lengths)
    assert len(chosen) == CALIBRATION_STEPS + 1
    every = sorted(padded_tokens(b, lengths) for b in epochs[0])
    assert padded_tokens(chosen[0], lengths) == every[-1]   # timed first, while memory grows
    tokens = [padded_tokens(b, lengths) for b in chosen[1:]]
    assert min(tokens) == every[0] and max(tokens) == every[-2]   # the range the job runs after it

    def cost(batch) -> float:
        return 0.15 + 5e-4 * padded_tokens(batch, lengths)

    cold = 0.8   # the first step grows the memory every later one reuses
    times = [cost(chosen[0]) + cold, *(cost(b) for b in chosen[1:])]
    exact = cold + sum(cost(b) for batches in epochs for b in batches)
    assert abs(training_seconds(times, chosen, epochs, lengths) - exact) < 1e-6 * exact
    by_tokens_alone = sum(times[1:]) / sum(tokens) * sum(padded_tokens(b, lengths) for e in epochs for b in e)
    assert abs(by_tokens_alone - exact) > 0.05 * exact


def test_a_calibration_whose_steps_all_took_alike_is_not_fitted_into_a_negative_cost():
    from core.backend.duration import step_cost

    lengths = np.array([4, 8, 16, 32])
    timed = [np.array([0]), np.array([1]), np.array([2]), np.array([3])]
    fixed, per_token = step_cost([0.2, 0.19, 0.21, 0.18], timed, lengths)   # noise: time falls with tokens
    assert per_token == 0.0 and abs(fixed - 0.195) < 1e-9
