"""The local backend's model: a linear classifier over hashed word and character n-grams.

A multinomial logistic regression trained by mini-batch SGD, so each optimiser step is a fine-tuning
"step" with a training loss and accuracy, like OpenAI's metrics events. scikit-learn hashes the
features; the optimiser is ours because ``SGDClassifier.partial_fit`` touches its whole dense weight
matrix on every call (5 ms a step at 2^19 features) where a sparse batch only needs its own rows.
"""

from __future__ import annotations

import math
import pickle
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

MAX_CLASSES = 50            # more distinct answers than this is free-form text, not labels
MAX_REPORTED_STEPS = 1000   # metrics events per job, at most (the last step is always reported)
VALID_SAMPLE = 256          # examples scored for the per-step valid_loss
BASE_LEARNING_RATE = 3.0    # step size = BASE_LEARNING_RATE * learning_rate_multiplier


class TrainingDataError(ValueError):
    """The data cannot train this model (the message is shown to the user as the job's error)."""


def resolve_hyperparameters(n_examples: int, requested: dict) -> dict:
    """OpenAI's "auto" rules: epochs by dataset size, batch size ~0.2% of examples capped at 256,
    learning-rate multiplier 0.05 / 0.1 / 0.2 growing with the batch size."""
    from core.validation.cost import default_epochs

    epochs = requested.get("n_epochs", "auto")
    batch = requested.get("batch_size", "auto")
    lr = requested.get("learning_rate_multiplier", "auto")
    if epochs in (None, "auto"):
        epochs = default_epochs(n_examples)
    if batch in (None, "auto"):
        batch = int(min(256, max(1, round(n_examples * 0.002))))
    if lr in (None, "auto"):
        lr = 0.05 if batch < 4 else 0.1 if batch < 32 else 0.2
    return {"n_epochs": int(epochs), "batch_size": int(batch), "learning_rate_multiplier": float(lr)}


class SoftmaxRegression:
    """Weights (features x classes) and biases; predict_proba and one SGD step on a sparse batch."""

    def __init__(self, n_features: int, n_classes: int) -> None:
        self.W = np.zeros((n_features, n_classes), dtype=np.float64)
        self.b = np.zeros(n_classes, dtype=np.float64)

    def predict_proba(self, X) -> np.ndarray:
        z = np.asarray(X @ self.W) + self.b
        z -= z.max(axis=1, keepdims=True)
        np.exp(z, out=z)
        z /= z.sum(axis=1, keepdims=True)
        return z

    def step(self, X, y: np.ndarray, lr: float) -> None:
        """Cross-entropy gradient on the batch, applied to the rows of W the batch touches only."""
        g = self.predict_proba(X)
        g[np.arange(len(y)), y] -= 1.0
        g /= len(y)
        rows = np.repeat(np.arange(X.shape[0]), np.diff(X.indptr))
        cols, inverse = np.unique(X.indices, return_inverse=True)
        grad = np.zeros((len(cols), self.W.shape[1]))
        np.add.at(grad, inverse, X.data[:, None] * g[rows])
        self.W[cols] -= lr * grad
        self.b -= lr * g.sum(axis=0)


class Featurizer:
    """Stateless: hashing needs no vocabulary, so nothing to fit and nothing to store."""

    def __init__(self) -> None:
        from sklearn.feature_extraction.text import HashingVectorizer

        self.words = HashingVectorizer(n_features=2**18, ngram_range=(1, 2), alternate_sign=False,
                                       lowercase=True, norm="l2")
        self.chars = HashingVectorizer(n_features=2**18, analyzer="char_wb", ngram_range=(2, 4),
                                       alternate_sign=False, lowercase=True, norm="l2")

    def transform(self, texts: Sequence[str]):
        from scipy.sparse import hstack

        return hstack([self.words.transform(texts), self.chars.transform(texts)]).tocsr()


@dataclass
class LocalModel:
    """What a fine-tuned local model is: classes, the classifier, and how its data was shaped."""

    classes: list[str]
    classifier: object | None            # None for the untrained base model
    data_format: str = "chat"            # "chat" | "completion"
    _featurizer: Featurizer | None = field(default=None, repr=False)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        if self.classifier is None:
            return np.full((len(texts), len(self.classes)), 1 / len(self.classes))
        if self._featurizer is None:
            self._featurizer = Featurizer()
        return self.classifier.predict_proba(self._featurizer.transform(texts))

    def dumps(self) -> bytes:
        return pickle.dumps((self.classes, self.classifier, self.data_format), protocol=5)

    @classmethod
    def loads(cls, data: bytes) -> LocalModel:
        classes, classifier, data_format = pickle.loads(data)  # noqa: S301 - our own files only
        return cls(classes, classifier, data_format)


BASE_MODEL = LocalModel(["1", "2", "3", "4", "5"], None)


def _log_loss(proba: np.ndarray, y: np.ndarray) -> float:
    picked = proba[np.arange(len(y)), y]
    return float(-np.mean(np.log(np.clip(picked, 1e-15, 1.0))))


@dataclass
class StepMetrics:
    step: int
    total_steps: int
    train_loss: float
    train_mean_token_accuracy: float
    valid_loss: float | None = None
    valid_mean_token_accuracy: float | None = None

    def to_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if v is not None}


class Trainer:
    def __init__(self, train_texts: Sequence[str], train_labels: Sequence[str], *, n_epochs: int,
                 batch_size: int, learning_rate_multiplier: float, seed: int,
                 valid_texts: Sequence[str] = (), valid_labels: Sequence[str] = (), data_format: str = "chat") -> None:
        classes = sorted(set(train_labels), key=lambda c: (not c.lstrip("-").isdigit(), int(c) if c.lstrip("-").isdigit() else 0, c))
        if len(classes) > MAX_CLASSES:
            raise TrainingDataError(
                f"the assistant answers take {len(classes)} distinct values; the local model learns labels "
                f"(at most {MAX_CLASSES} distinct answers), not free-form text")
        if len(classes) < 2:
            raise TrainingDataError("the training file has a single distinct answer: nothing to learn")
        self.classes = classes
        self.index = {c: i for i, c in enumerate(classes)}
        self.n_epochs, self.batch_size, self.seed = n_epochs, batch_size, seed
        self.lr = BASE_LEARNING_RATE * learning_rate_multiplier
        self.data_format = data_format
        featurizer = Featurizer()
        self.X = featurizer.transform(list(train_texts))
        self.y = np.array([self.index[c] for c in train_labels])
        self.n = len(self.y)
        self.steps_per_epoch = math.ceil(self.n / batch_size)
        self.total_steps = self.steps_per_epoch * n_epochs
        self.stride = max(1, math.ceil(self.total_steps / MAX_REPORTED_STEPS))
        # valid examples whose label never occurs in training can't be scored by a classifier
        known = [(t, self.index[c]) for t, c in zip(valid_texts, valid_labels) if c in self.index]
        self.Xv = featurizer.transform([t for t, _ in known]) if known else None
        self.yv = np.array([y for _, y in known])
        rng = np.random.default_rng([seed, 7])
        sample = np.sort(rng.permutation(len(self.yv))[:VALID_SAMPLE]) if known else np.array([], dtype=int)
        self.sample = sample

    def new_classifier(self) -> SoftmaxRegression:
        return SoftmaxRegression(self.X.shape[1], len(self.classes))

    def _proba(self, clf, X) -> np.ndarray:
        return clf.predict_proba(X)

    def valid_metrics(self, clf, full: bool = False) -> tuple[float, float] | None:
        if self.Xv is None:
            return None
        X, y = (self.Xv, self.yv) if full else (self.Xv[self.sample], self.yv[self.sample])
        proba = self._proba(clf, X)
        return _log_loss(proba, y), float(np.mean(proba.argmax(axis=1) == y))

    def train(self, *, start_epoch: int = 0, classifier=None,
              on_step: Callable[[StepMetrics, bool], bool] | None = None,
              on_epoch_end: Callable[[int, int, LocalModel], None] | None = None) -> LocalModel:
        """Train epochs [start_epoch, n_epochs). on_step(metrics, reported) returns False to stop
        (cancel); metrics are computed only for reported steps so big jobs stay cheap."""
        clf = classifier if classifier is not None else self.new_classifier()
        for epoch in range(start_epoch, self.n_epochs):
            order = np.random.default_rng([self.seed, 1, epoch]).permutation(self.n)
            for b in range(self.steps_per_epoch):
                step = epoch * self.steps_per_epoch + b + 1
                idx = order[b * self.batch_size : (b + 1) * self.batch_size]
                Xb, yb = self.X[idx], self.y[idx]
                reported = step % self.stride == 0 or step == self.total_steps
                metrics = None
                if reported:
                    proba = self._proba(clf, Xb)   # loss on the batch before the update, as in training
                    metrics = StepMetrics(step, self.total_steps, _log_loss(proba, yb),
                                          float(np.mean(proba.argmax(axis=1) == yb)))
                clf.step(Xb, yb, self.lr)
                if reported:
                    valid = self.valid_metrics(clf)
                    if valid:
                        metrics.valid_loss, metrics.valid_mean_token_accuracy = valid
                if on_step is not None and on_step(metrics, reported) is False:
                    return LocalModel(self.classes, clf, self.data_format)
            if on_epoch_end is not None:
                on_epoch_end(epoch, (epoch + 1) * self.steps_per_epoch, LocalModel(self.classes, clf, self.data_format))
        return LocalModel(self.classes, clf, self.data_format)
