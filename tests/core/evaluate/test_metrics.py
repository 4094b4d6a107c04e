from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

from core.evaluate.metrics import compute_metrics
from core.evaluate.parse import label_probabilities, parse_label

LABELS = ["1", "2", "3", "4", "5"]


def test_hand_computed_case():
    y_true = ["1", "1", "2", "5", "5", "3"]
    y_pred = ["1", "2", "2", "5", None, "5"]
    m = compute_metrics(y_true, y_pred, LABELS, bootstrap=0)
    assert m["accuracy"] == pytest.approx(3 / 6)
    assert m["unparseable"] == 1 and m["unparseable_rate"] == pytest.approx(1 / 6)
    # parsed answers only: |1-1|,|1-2|,|2-2|,|5-5|,|3-5| -> 0,1,0,0,2
    assert m["mae"] == pytest.approx(3 / 5) and m["within_one"] == pytest.approx(4 / 5)
    assert m["per_label"]["1"] == {"precision": 1.0, "recall": 0.5, "f1": pytest.approx(2 / 3), "support": 2}
    assert m["confusion"]["matrix"][4] == [0, 0, 0, 0, 1, 1]  # true 5: once right, once unparseable


@pytest.mark.parametrize("seed", range(5))
def test_matches_scikit_learn(seed):
    rng = np.random.default_rng(seed)
    y_true = rng.choice(LABELS, size=300, p=[0.3, 0.1, 0.1, 0.2, 0.3]).tolist()
    y_pred = [t if rng.random() < 0.6 else rng.choice(LABELS) for t in y_true]
    m = compute_metrics(y_true, y_pred, LABELS, bootstrap=0)
    assert m["accuracy"] == pytest.approx(accuracy_score(y_true, y_pred))
    assert m["macro_f1"] == pytest.approx(f1_score(y_true, y_pred, average="macro"))
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=LABELS, zero_division=0)
    for i, label in enumerate(LABELS):
        got = m["per_label"][label]
        assert (got["precision"], got["recall"], got["f1"], got["support"]) == pytest.approx((p[i], r[i], f[i], s[i]))
    assert np.array(m["confusion"]["matrix"])[:, :5].tolist() == confusion_matrix(y_true, y_pred, labels=LABELS).tolist()


def test_bootstrap_interval_brackets_the_estimate():
    rng = np.random.default_rng(1)
    y_true = rng.choice(LABELS, size=500).tolist()
    y_pred = [t if rng.random() < 0.7 else "3" for t in y_true]
    m = compute_metrics(y_true, y_pred, LABELS, bootstrap=500, seed=3)
    lo, hi = m["ci95"]["accuracy"]
    assert lo < m["accuracy"] < hi and hi - lo < 0.1
    lo, hi = m["ci95"]["macro_f1"]
    assert lo < m["macro_f1"] < hi


@pytest.mark.parametrize(("answer", "label"), [
    ("5", "5"), (" 4", "4"), ("4 stars", "4"), ("Rating: 2", "2"), ("3/5", "3"), ("★★★★", "4"), ("five", "5"),
    ("**1**", "1"), ("5.0", "5"), ("", None), ("great app", None), ("4 or 5", None), ("7", None), ("2.5", None),
])
def test_parse_answers(answer, label):
    assert parse_label(answer, LABELS) == label


def test_label_probabilities_renormalise():
    probs = label_probabilities({"5": np.log(0.6), " 4": np.log(0.2), "x": np.log(0.2)}, LABELS)
    assert probs["5"] == pytest.approx(0.75) and probs["4"] == pytest.approx(0.25) and probs["1"] == 0
