"""Invariants of split, sample and order, checked on generated tables (hypothesis)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from core.data.labels import LabelSet
from core.data.sample import order_split, sample_split
from core.data.split import SPLITS, split_by_column, split_frame, split_sizes


def test_seed_sizes_of_app_reviews():
    assert split_sizes(288_065, (0.6, 0.2, 0.2)) == [172_839, 57_613, 57_613]


tables = st.lists(
    st.tuples(st.integers(0, 40), st.sampled_from(["1", "2", "3", "4", "5"])), min_size=1, max_size=300
).map(lambda rows: pd.DataFrame({"text": [f"t{t}" for t, _ in rows], "label": [y for _, y in rows]}))
fractions = st.sampled_from([(0.6, 0.2, 0.2), (0.8, 0.1, 0.1), (0.5, 0.5, 0.0), (1.0, 0.0, 0.0)])


@settings(max_examples=60, deadline=None)
@given(tables, fractions, st.integers(0, 2**32 - 1), st.booleans())
def test_split_keeps_every_row_once_and_texts_in_one_split(frame, fr, seed, stratify):
    splits = split_frame(frame, fr, seed, stratify=stratify)
    assert sum(len(s) for s in splits.values()) == len(frame)
    seen = [set(splits[name]["text"]) for name in SPLITS]
    assert not (seen[0] & seen[1] or seen[0] & seen[2] or seen[1] & seen[2])
    again = split_frame(frame, fr, seed, stratify=stratify)
    assert all(splits[n].equals(again[n]) for n in SPLITS)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_stratified_split_keeps_label_proportions(seed):
    rng = np.random.default_rng(seed)
    labels = rng.choice(["1", "2", "3", "4", "5"], size=2000, p=[0.4, 0.05, 0.1, 0.15, 0.3])
    frame = pd.DataFrame({"text": [f"r{i}" for i in range(2000)], "label": labels})
    splits = split_frame(frame, (0.6, 0.2, 0.2), seed, stratify=True)
    overall = frame["label"].value_counts(normalize=True)
    for part in splits.values():
        share = part["label"].value_counts(normalize=True).reindex(overall.index, fill_value=0)
        # per-label rounding can move a share by at most one row per label
        assert (share - overall).abs().max() <= 5 / len(part)


@settings(max_examples=60, deadline=None)
@given(tables, st.one_of(st.none(), st.integers(0, 400)), st.sampled_from([None, "equal", 1, 7]),
       st.integers(0, 1000))
def test_sample_is_a_subset_of_the_right_size(frame, n, balance, seed):
    frame = frame.drop_duplicates("text").reset_index(drop=True)
    out = sample_split(frame, n, balance, np.random.default_rng(seed))
    assert set(out["text"]) <= set(frame["text"]) and out["text"].is_unique
    if n is not None:
        assert len(out) <= n
    if balance is None:
        assert len(out) == (len(frame) if n is None else min(n, len(frame)))
    counts = out["label"].value_counts()
    if balance == "equal" and len(out):
        assert counts.nunique() == 1 and set(counts.index) == set(frame["label"])
    if isinstance(balance, int) and not isinstance(balance, bool):
        assert counts.max() <= balance if len(out) else True


def test_capped_balance_fills_n_when_labels_allow():
    frame = pd.DataFrame({"text": [f"t{i}" for i in range(100)], "label": ["1"] * 5 + ["2"] * 45 + ["3"] * 50})
    out = sample_split(frame, 60, 40, np.random.default_rng(0))
    assert out["label"].value_counts().to_dict() == {"1": 5, "2": 27, "3": 28}


@settings(max_examples=40, deadline=None)
@given(tables, st.integers(0, 1000))
def test_order_sorted_is_by_label_and_shuffled_is_a_permutation(frame, seed):
    labels = LabelSet()
    shuffled = order_split(frame, "shuffled", labels, np.random.default_rng(seed))
    ordered = order_split(frame, "sorted", labels, np.random.default_rng(seed))
    key = lambda f: sorted(zip(f["text"], f["label"]))  # noqa: E731
    assert key(shuffled) == key(frame) == key(ordered)
    assert ordered["label"].tolist() == sorted(frame["label"].tolist(), key=labels.index)


def test_existing_split_column_and_leak_removal():
    frame = pd.DataFrame({"text": ["a", "b", "c", "a", "d"], "label": ["1", "2", "3", "1", "4"]})
    values = pd.Series(["train", "validation", "test", "test", "TRAIN"])
    splits, leaked = split_by_column(frame, values, "split")
    assert leaked == 1  # "a" stays in test only
    assert splits["train"]["text"].tolist() == ["d"]
    assert splits["val"]["text"].tolist() == ["b"]
    assert sorted(splits["test"]["text"]) == ["a", "c"]
