"""Classification metrics for ordered labels (stars), with bootstrap intervals. numpy only."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

UNPARSEABLE = "unparseable"


def _confusion(true_idx: np.ndarray, pred_idx: np.ndarray, k: int) -> np.ndarray:
    """k x (k+1) counts; column k holds answers that could not be parsed."""
    return np.bincount(true_idx * (k + 1) + pred_idx, minlength=k * (k + 1)).reshape(k, k + 1)


def _f1_from_confusion(conf: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-label precision, recall, F1 from one or many (leading axes) k x (k+1) confusions.
    Labels never predicted and never true contribute 0, as scikit-learn's zero_division=0."""
    k = conf.shape[-2]
    tp = np.diagonal(conf[..., :k], axis1=-2, axis2=-1).astype(float)
    predicted = conf[..., :k].sum(axis=-2)
    support = conf.sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, tp / predicted, 0.0)
        recall = np.where(support > 0, tp / support, 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    return precision, recall, f1


def compute_metrics(y_true: Sequence[str], y_pred: Sequence[str | None], labels: Sequence[str], *,
                    bootstrap: int = 1000, seed: int = 0) -> dict:
    """Accuracy and macro-F1 count an unparseable answer as wrong; MAE and within-one use parsed
    numeric answers only (the unparseable rate says how many were left out)."""
    labels = [str(v) for v in labels]
    k = len(labels)
    index = {v: i for i, v in enumerate(labels)}
    n = len(y_true)
    true_idx = np.array([index[t] for t in y_true], dtype=np.int64)
    pred_idx = np.array([index.get(p, k) if p is not None else k for p in y_pred], dtype=np.int64)
    conf = _confusion(true_idx, pred_idx, k) if n else np.zeros((k, k + 1), dtype=np.int64)
    precision, recall, f1 = _f1_from_confusion(conf)
    # macro-F1 over the labels that occur in the truth or the answers, as scikit-learn does by default
    present = (conf.sum(axis=1) + conf[:, :k].sum(axis=0)) > 0
    correct = true_idx == pred_idx
    parsed = pred_idx < k
    report = {
        "n": n,
        "labels": labels,
        "accuracy": float(correct.mean()) if n else None,
        "macro_f1": float(f1[present].mean()) if present.any() else None,
        "per_label": {label: {"precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]),
                              "support": int(conf[i].sum())} for i, label in enumerate(labels)},
        "confusion": {"labels": labels, "columns": [*labels, UNPARSEABLE], "matrix": conf.tolist()},
        "unparseable": int((~parsed).sum()),
        "unparseable_rate": float((~parsed).mean()) if n else None,
        "mae": None,
        "within_one": None,
    }
    numeric = all(v.lstrip("-").isdigit() for v in labels)
    if numeric and parsed.any():
        values = np.array([int(v) for v in labels])
        err = np.abs(values[true_idx[parsed]] - values[pred_idx[parsed]])
        report["mae"] = float(err.mean())
        report["within_one"] = float((err <= 1).mean())
    if bootstrap and n:
        report["ci95"] = _bootstrap(true_idx, pred_idx, k, present, bootstrap, seed)
    return report


def _bootstrap(true_idx, pred_idx, k, present, rounds: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    n = len(true_idx)
    codes = true_idx * (k + 1) + pred_idx
    correct = (true_idx == pred_idx).astype(float)
    accs, f1s = [], []
    for start in range(0, rounds, 100):
        b = min(100, rounds - start)
        sample = rng.integers(0, n, size=(b, n))
        accs.append(correct[sample].mean(axis=1))
        offsets = (np.arange(b) * k * (k + 1))[:, None]
        conf = np.bincount((codes[sample] + offsets).ravel(), minlength=b * k * (k + 1)).reshape(b, k, k + 1)
        _, _, f1 = _f1_from_confusion(conf)
        f1s.append(f1[:, present].mean(axis=1))
    acc, mf1 = np.concatenate(accs), np.concatenate(f1s)
    return {"accuracy": [float(np.percentile(acc, 2.5)), float(np.percentile(acc, 97.5))],
            "macro_f1": [float(np.percentile(mf1, 2.5)), float(np.percentile(mf1, 97.5))],
            "rounds": rounds}
