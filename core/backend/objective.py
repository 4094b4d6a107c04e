"""What a local trainer's "auto" maximises on validation: accuracy, macro-F1, or (for ordered numeric
labels such as stars) the mean absolute error. One home, so the linear and transformer trainers and the
job's events agree on what "better" means."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from core.choices import DEFAULT_OBJECTIVE, OBJECTIVES

NAMES = {"accuracy": "accuracy", "macro_f1": "macro-F1", "mae": "MAE"}


def resolve(requested: object, classes: Sequence[str]) -> tuple[str, str | None]:
    """(the objective used, a note when the request could not be honoured as asked)."""
    objective = DEFAULT_OBJECTIVE if requested in (None, "auto") else str(requested)
    if objective not in OBJECTIVES:
        raise ValueError(f"objective {objective!r}: expected one of {', '.join(OBJECTIVES)}")
    if objective == "mae" and not numeric(classes):
        return DEFAULT_OBJECTIVE, f"objective mae needs numeric labels; {NAMES[DEFAULT_OBJECTIVE]} is used instead"
    return objective, None


def numeric(classes: Sequence[str]) -> bool:
    try:
        [float(c) for c in classes]
    except ValueError:
        return False
    return True


def macro_f1(y: np.ndarray, predicted: np.ndarray, n_classes: int) -> float:
    """Macro-F1 over the labels present in ``y`` or ``predicted`` (scikit-learn's definition)."""
    present = np.union1d(np.unique(y), np.unique(predicted))
    scores = []
    for c in present:
        tp = np.sum((predicted == c) & (y == c))
        fp = np.sum((predicted == c) & (y != c))
        fn = np.sum((predicted != c) & (y == c))
        scores.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return float(np.mean(scores)) if scores else 0.0


def score(objective: str, y: np.ndarray, predicted: np.ndarray, classes: Sequence[str]) -> float:
    """Higher is better for every objective (MAE is returned negated)."""
    y, predicted = np.asarray(y), np.asarray(predicted)
    if objective == "accuracy":
        return float(np.mean(y == predicted)) if len(y) else 0.0
    if objective == "macro_f1":
        return macro_f1(y, predicted, len(classes))
    values = np.array([float(c) for c in classes])
    return -float(np.mean(np.abs(values[y] - values[predicted]))) if len(y) else 0.0


def shown(objective: str, value: float) -> str:
    """'macro-F1 0.452' / 'MAE 0.61' for an event."""
    return f"{NAMES[objective]} {(-value if objective == 'mae' else value):.3f}"
