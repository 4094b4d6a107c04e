from __future__ import annotations

import pandas as pd
import pytest

from tests.core.data.cleaning import clean
from core.data.labels import LabelSet
from core.data.load import load_dataset


def _frame(rows):
    return pd.DataFrame(rows, columns=["review", "star"]).astype("string")


def test_counts_each_problem_once_and_add_up():
    frame = _frame([
        ("good", "5"), ("good", "5"),          # exact duplicate
        ("", "3"), ("   ", "4"),               # empty, whitespace-only
        ("x", "five"), ("y", "4.5"), ("z", "9"), ("w", None),  # bad labels
        ("fine", "3"), (" fine ", "3"),        # same text once stripped
        ("meh", "2"), ("meh", "4"), ("meh", "2"),  # conflicting labels
    ])
    out, report = clean(frame, "review", "star", LabelSet())
    assert report.empty_text == 2
    assert report.invalid_labels == {"non_numeric_label": 1, "non_integer_label": 1,
                                     "out_of_range_label": 1, "missing_label": 1}
    assert report.exact_duplicates == 2  # ("good", "5") and ("meh", "2") repeat whole rows
    assert report.conflicting_texts == 1
    assert report.rows_in - report.rows_out == (
        report.empty_text + sum(report.invalid_labels.values()) + report.exact_duplicates
        + report.duplicate_texts + report.conflict_rows_dropped)
    assert sorted(out["text"]) == ["fine", "good", "meh"]
    assert out.set_index("text").loc["meh", "label"] == "2"


@pytest.mark.parametrize(("policy", "expected"), [("keep_first", {"meh": "4"}), ("drop", {}),
                                                  ("majority", {"meh": "2"})])
def test_conflict_policies(policy, expected):
    frame = _frame([("meh", "4"), ("meh", "2"), ("meh", "2"), ("ok", "3")])
    frame["date"] = ["d1", "d2", "d3", "d4"]  # three separate reviews, not a repeated row
    out, report = clean(frame, "review", "star", LabelSet(), conflict_policy=policy)
    got = dict(zip(out["text"], out["label"]))
    got.pop("ok")
    assert got == expected
    assert report.conflicting_texts == 1


def test_threads_reviews_match_the_data_readme(threads_csv):
    ds = load_dataset(threads_csv)
    out, report = clean(ds.frame, ds.text_column, ds.label_column, LabelSet())
    assert report.exact_duplicates == 95
    assert report.conflicting_texts == 425
    assert report.rows_out == 32_894 == out["text"].nunique()
    assert report.empty_text == 0 and report.invalid_labels == {}


def test_no_dedup_keeps_duplicates():
    frame = _frame([("good", "5"), ("good", "5"), ("bad", "1")])
    out, report = clean(frame, "review", "star", LabelSet(), dedup=False)
    assert len(out) == 3 and report.rows_out == 3


def test_custom_label_set():
    frame = _frame([("a", "pos"), ("b", " neg "), ("c", "meh")])
    out, report = clean(frame, "review", "star", LabelSet.parse("neg,pos"))
    assert dict(zip(out["text"], out["label"])) == {"a": "pos", "b": "neg"}
    assert report.invalid_labels == {"unknown_label": 1}


def test_text_keys_number_texts_like_factorize_even_when_the_first_hash_collides(threads_csv, monkeypatch):
    import pyarrow as pa
    import xxhash

    from core.data import clean as clean_module

    raw = load_dataset(threads_csv).frame["review_description"]
    texts = [*raw.tolist()[:3000], "  padded  ", "padded", "", "   ", None]
    expected = pd.factorize(pd.Series(texts, dtype="string").fillna("").str.strip())[0]
    arrow = pa.array(texts, type=pa.large_string())
    group, empty = clean_module._text_keys(arrow)
    assert (group == expected).all()
    assert empty.tolist()[-3:] == [True, True, True] and empty.sum() == 3 + sum(not str(t).strip() for t in texts[:3000])
    # every text with the same first hash: the second hash sees it and exact hashing takes over
    monkeypatch.setattr(xxhash, "xxh3_64_intdigest", lambda data: 7)
    group, _ = clean_module._text_keys(arrow)
    assert (group == expected).all()


def test_take_across_chunks_equals_arrows_own_take():
    import numpy as np
    import pyarrow as pa

    from core.data.clean import take_chunked

    column = pa.chunked_array([pa.array([f"t{i}" for i in range(a, b)], type=pa.large_string())
                               for a, b in ((0, 5), (5, 5), (5, 12), (12, 30))])
    rng = np.random.default_rng(7)
    for positions in (rng.integers(0, 30, 50), np.array([29, 0, 0, 11, 5]), np.array([], dtype=np.int64),
                      np.arange(30)[::-1]):
        got = take_chunked(column, positions.astype(np.int64))
        assert got.to_pylist() == column.take(pa.array(positions, type=pa.int64())).to_pylist()
