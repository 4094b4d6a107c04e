"""The default local model: multinomial logistic regression over TF-IDF word and character n-grams.

"auto" means what works for this model, decided on the data, not OpenAI's rules for LLMs: the
features are fitted on the training split, the step size and the class weighting are chosen by
validation macro-F1, and training runs until the validation loss stops improving (patience 2); the
best epoch becomes the model. Settings the user gives are used as given, and early stopping stays
off when the user fixes the number of epochs.

scikit-learn fits the features; the optimiser (Adam on the softmax cross-entropy) is ours because a
fine-tuning job is a sequence of mini-batch steps with metrics, checkpoints, pause and resume, and
``SGDClassifier.partial_fit`` is one-vs-rest and took ~85 ms a step here against ~5 ms for this one.
"""

from __future__ import annotations

import math
import re
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from operator import is_not
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from core.backend.model_files import write_manifest
from core.backend.training import (MAX_REPORTED_STEPS, VALID_SAMPLE, Note, OnEpochEnd, OnStep, StepMetrics,
                                   TrainingDataError, label_order, log_loss)

BASE_STEP_SIZE = 0.01        # Adam's step size at learning_rate_multiplier 1
AUTO_LR_MULTIPLIERS = (0.3, 1.0)
CLASS_WEIGHTS = ("none", "balanced")
AUTO_MAX_EPOCHS = 20
PATIENCE = 2                 # epochs without a better validation loss before stopping
SEARCH_LIMIT = 30_000        # training examples the auto search looks at, at most
HOLDOUT = 0.1                # share of training held out when the job has no validation file
MIN_FOR_HOLDOUT = 50
FEW_TEXTS = 64              # up to this many texts, transform without scikit-learn's per-call overhead
MIN_DF = 2                   # documents an n-gram must be in to be a feature
FEATURES = {"word_ngrams": [1, 2], "char_ngrams": [2, 5], "sublinear_tf": True, "min_df": MIN_DF}


def _vectorizers(min_df: int, vocabularies: tuple[dict, dict] | None = None):
    from sklearn.feature_extraction.text import TfidfVectorizer

    word_vocab, char_vocab = vocabularies or (None, None)
    word = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=min_df, dtype=np.float32,
                           vocabulary=word_vocab)
    char = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=min_df,
                           dtype=np.float32, vocabulary=char_vocab)
    return word, char


# scikit-learn's analyzers for the two vectorizers above, written out so that a loaded model scores
# texts without importing scikit-learn (~1 s of a command's start-up); a test holds them to its own
_TOKEN = re.compile(r"(?u)\b\w\w+\b")   # TfidfVectorizer's default token_pattern
WORD_CACHE = 50_000                        # words whose character n-gram ids are kept, at most


def word_ngrams(text: str) -> list[str]:
    """The word 1-2-grams of ``text``, as the word vectorizer's ``build_analyzer()`` gives them."""
    tokens = _TOKEN.findall(text.lower())
    return tokens + list(map(" ".join, zip(tokens, tokens[1:])))


def char_wb_ngrams(word: str) -> list[str]:
    """The character 2-5-grams of one whitespace-free (lowercased) word padded with a space each side,
    as the char_wb vectorizer makes them (a word shorter than n counts once, whole)."""
    w = f" {word} "
    size = len(w)
    out: list[str] = []
    for n in range(2, 6):
        if size <= n:
            out.append(w)
            break
        out += [w[i:i + n] for i in range(size - n + 1)]
    return out


class _Part:
    """What inference needs of a fitted vectorizer: its vocabulary and idf (a loaded model has no other)."""

    def __init__(self, vocabulary: dict[str, int], idf: np.ndarray) -> None:
        self.vocabulary_, self.idf_ = vocabulary, idf


class Featurizer:
    """TF-IDF over words (1-2) and characters within words (2-5), side by side, rows L2-normalised per part.

    ``word`` and ``char`` are scikit-learn's fitted vectorizers after ``fit`` (training transforms with
    them), or just their vocabularies and idf after ``from_arrays``; ``transform_each`` needs no more."""

    def __init__(self, word, char) -> None:
        self.word, self.char = word, char
        self._char_ids: dict[str, bytes] = {}   # a word's char n-gram columns, packed as int64
        self._char_columns: dict[str, int] | None = None

    @classmethod
    def fit(cls, texts: Sequence[str]) -> tuple[Featurizer, Any]:   # (it, the texts' scipy sparse features)
        from scipy.sparse import hstack

        fitted, parts = [], []
        for which in (0, 1):
            # a tiny training set may repeat no n-gram (min_df 1 then), or have no words at all (emoji
            # only): that part then keeps a one-term vocabulary that never matches
            for vocabularies, min_df in ((None, MIN_DF), (None, 1), (({"\x00": 0},) * 2, 1)):
                vectorizer = _vectorizers(min_df, vocabularies)[which]
                try:
                    parts.append(vectorizer.fit_transform(texts))
                    fitted.append(vectorizer)
                    break
                except ValueError:
                    continue
        return cls(*fitted), hstack(parts, format="csr")

    def transform(self, texts: Sequence[str]):
        from scipy.sparse import hstack

        if len(texts) <= FEW_TEXTS or not hasattr(self.word, "transform"):
            return self.transform_each(texts)
        return hstack([self.word.transform(texts), self.char.transform(texts)], format="csr")

    def transform_each(self, texts: Sequence[str]):
        """As scikit-learn's transform (the same analyzers, vocabulary, sublinear tf, idf and L2 norm per
        part; a test holds the two equal), without its per-call cost, and with every row computed the
        same way whatever the number of texts: a text scores exactly alike alone or among thousands
        (batched answers equal one-by-one answers). Rows hold their columns in ascending order."""
        from scipy.sparse import csr_matrix

        rows, cols, values = self.entries(texts)
        indptr = np.zeros(len(texts) + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=len(texts)), out=indptr[1:])
        return csr_matrix((values, cols, indptr), shape=(len(texts), self.n_features))

    def entries(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The non-zero features of ``texts`` as (row, column, float32 value), by row then column: what
        ``transform_each`` holds, without building the matrix (nor importing scipy)."""
        word_vocab = self.word.vocabulary_
        n_word = len(word_vocab)
        if self._char_columns is None:   # the char part's columns, after the word part's
            self._char_columns = {gram: j + n_word for gram, j in self.char.vocabulary_.items()}
        width = n_word + len(self._char_columns)
        cache = self._char_ids
        if len(cache) > WORD_CACHE:
            cache.clear()
        # the loops over n-grams and words run in C (map, filter, join): each word's columns are kept packed
        # as int64 bytes, so a text's are a join of its words' (copied, not converted number by number)
        get_word, get_char, is_id = word_vocab.get, self._char_columns.get, partial(is_not, None)
        packed: list[bytes] = []
        keep = packed.append
        counts = np.zeros(len(texts), dtype=np.int64)
        for row, text in enumerate(texts):
            lower = text.lower()
            words = array("q", filter(is_id, map(get_word, word_ngrams(lower)))).tobytes()
            split = lower.split()
            for word in set(split).difference(cache):
                # is_id narrows to int, which typeshed cannot tell of a partial
                cache[word] = array("q", filter(is_id, map(get_char, char_wb_ngrams(word)))).tobytes()  # type: ignore[type-var]
            chars = b"".join(map(cache.__getitem__, split))
            keep(words)
            keep(chars)
            counts[row] = (len(words) + len(chars)) // 8
        ids = np.frombuffer(b"".join(packed), dtype=np.int64)
        # one key per (text, column): sorted and counted, they are each row's term counts, columns ascending
        rows = np.repeat(np.arange(len(texts), dtype=np.int64), counts)
        keys, tf = np.unique(rows * width + ids, return_counts=True)
        rows, cols = np.divmod(keys, width)
        idf = np.concatenate([np.asarray(self.word.idf_, dtype=np.float64),
                              np.asarray(self.char.idf_, dtype=np.float64)])
        values = (1.0 + np.log(tf)) * idf[cols]
        # each part of each row scaled to unit length; bincount adds each row's squares in column order
        part = rows * 2 + (cols >= n_word)
        norms = np.sqrt(np.bincount(part, weights=values * values, minlength=2 * len(texts)))
        values /= norms[part]
        return rows, cols, values.astype(np.float32)

    @property
    def n_features(self) -> int:
        return len(self.word.vocabulary_) + len(self.char.vocabulary_)

    def arrays(self) -> tuple[dict, dict]:
        vocab = {name: sorted(v.vocabulary_, key=v.vocabulary_.__getitem__)
                 for name, v in (("word", self.word), ("char", self.char))}
        idf = {"word_idf": np.asarray(self.word.idf_).astype(np.float32),
               "char_idf": np.asarray(self.char.idf_).astype(np.float32)}
        return vocab, idf

    @classmethod
    def from_arrays(cls, vocab: dict, idf: dict) -> Featurizer:
        return cls(_Part({t: i for i, t in enumerate(vocab["word"])}, idf["word_idf"]),
                   _Part({t: i for i, t in enumerate(vocab["char"])}, idf["char_idf"]))


def _softmax(z: np.ndarray) -> np.ndarray:
    z -= z.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    return z


@dataclass
class LinearModel:
    classes: list[str]
    featurizer: Featurizer
    W: np.ndarray
    b: np.ndarray
    data_format: str = "chat"

    def proba_features(self, X) -> np.ndarray:
        return _softmax(np.asarray(X @ self.W, dtype=np.float64) + self.b)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """X @ W + b for the texts' features, each row's sum taken alone (in float64, column order): a
        text scores exactly alike alone or among thousands, and no sparse matrix (nor scipy) is needed."""
        texts = list(texts)
        rows, cols, values = self.featurizer.entries(texts)
        products = values[:, None].astype(np.float64) * self.W[cols]
        z = np.empty((len(texts), len(self.classes)), dtype=np.float64)
        for k in range(z.shape[1]):
            z[:, k] = np.bincount(rows, weights=products[:, k], minlength=len(texts))
        return _softmax(z + self.b)

    def save(self, directory: Path) -> None:
        vocab, idf = self.featurizer.arrays()
        np.savez(directory / "weights.npz", W=self.W, b=self.b, **idf)
        (directory / "vocabulary.json").write_bytes(orjson.dumps(vocab))
        write_manifest(directory, "linear", classes=self.classes, data_format=self.data_format,
                       features=FEATURES)

    @classmethod
    def load(cls, directory: Path, manifest: dict) -> LinearModel:
        with np.load(directory / "weights.npz", allow_pickle=False) as arrays:
            W, b = arrays["W"], arrays["b"]
            idf = {"word_idf": arrays["word_idf"], "char_idf": arrays["char_idf"]}
        vocab = orjson.loads((directory / "vocabulary.json").read_bytes())
        return cls(list(manifest["classes"]), Featurizer.from_arrays(vocab, idf), W, b,
                   manifest.get("data_format", "chat"))


class _Adam:
    """Softmax regression weights with Adam's moments; one step on a sparse batch."""

    def __init__(self, n_features: int, n_classes: int) -> None:
        self.W = np.zeros((n_features, n_classes), dtype=np.float32)
        self.b = np.zeros(n_classes, dtype=np.float32)
        self.mW, self.vW = np.zeros_like(self.W), np.zeros_like(self.W)
        self.mb, self.vb = np.zeros_like(self.b), np.zeros_like(self.b)
        self.t = 0

    def step(self, X, y: np.ndarray, weights: np.ndarray, lr: float) -> np.ndarray:
        """Weighted cross-entropy step; returns the batch's probabilities before the update."""
        proba = _softmax(np.asarray(X @ self.W, dtype=np.float64) + self.b)
        g = proba.copy()
        g[np.arange(len(y)), y] -= 1.0
        w = weights[y]
        g *= (w / w.sum())[:, None]
        gW = np.asarray(X.T @ g, dtype=np.float32)
        gb = g.sum(axis=0).astype(np.float32)
        self.t += 1
        b1, b2 = 0.9, 0.999
        step = lr * math.sqrt(1 - b2 ** self.t) / (1 - b1 ** self.t)
        for p, m, v, grad in ((self.W, self.mW, self.vW, gW), (self.b, self.mb, self.vb, gb)):
            m *= b1
            m += (1 - b1) * grad
            v *= b2
            v += (1 - b2) * grad * grad
            p -= step * m / (np.sqrt(v) + 1e-8)
        return proba

    def state(self) -> dict:
        return {"W": self.W, "b": self.b, "mW": self.mW, "vW": self.vW, "mb": self.mb, "vb": self.vb,
                "t": np.array(self.t)}

    def restore(self, arrays) -> None:
        for key in ("W", "b", "mW", "vW", "mb", "vb"):
            setattr(self, key, np.array(arrays[key]))
        self.t = int(arrays["t"])


def fit_softmax(X, y: np.ndarray, n_classes: int, *, epochs: int, rows: np.ndarray | None = None,
                lr: float = BASE_STEP_SIZE, batch_size: int = 256, seed: int = 0,
                class_weight: str = "none") -> tuple[np.ndarray, np.ndarray]:
    """Weights (W, b) of a softmax regression fitted by this trainer's optimiser for a fixed number of
    epochs on ``rows`` of X (all by default; batches are taken from X itself, so a fold is no copy),
    without validation or metrics: what the data audit fits on each fold."""
    rows = np.arange(len(y)) if rows is None else rows
    opt = _Adam(X.shape[1], n_classes)
    weights = _class_weights(class_weight, y[rows], n_classes)
    for epoch in range(epochs):
        order = rows[np.random.default_rng([seed, 1, epoch]).permutation(len(rows))]
        for start in range(0, len(rows), batch_size):
            idx = order[start:start + batch_size]
            opt.step(X[idx], y[idx], weights, lr)
    return opt.W, opt.b


def softmax_proba(X, W: np.ndarray, b: np.ndarray) -> np.ndarray:
    return _softmax(np.asarray(X @ W, dtype=np.float64) + b)


def _class_weights(kind: str, y: np.ndarray, n_classes: int) -> np.ndarray:
    if kind == "balanced":
        counts = np.bincount(y, minlength=n_classes).astype(np.float64)
        return np.where(counts > 0, len(y) / (n_classes * np.maximum(counts, 1)), 1.0)
    return np.ones(n_classes)


@dataclass
class _Progress:
    """Where training stands at an epoch's end: what a checkpoint must carry to resume exactly."""

    epoch: int = -1
    best_loss: float = math.inf
    best_epoch: int = -1
    bad_epochs: int = 0
    stopped: bool = False


class LinearTrainer:
    def __init__(self, train: Sequence, valid: Sequence, requested: dict, seed: int) -> None:
        if not train:
            raise TrainingDataError("the training file has no examples")
        self.classes = label_order([e.label for e in train])
        self.index = {c: i for i, c in enumerate(self.classes)}
        self.data_format = train[0].format
        self.seed = seed
        self.requested = {k: requested.get(k, "auto") for k in
                          ("n_epochs", "batch_size", "learning_rate_multiplier", "class_weight", "early_stopping",
                           "objective")}
        self.asked_length = requested.get("max_length", "auto")
        texts = [e.text for e in train]
        y = np.array([self.index[e.label] for e in train])
        known = [(e.text, self.index[e.label]) for e in valid if e.label in self.index]
        self.holdout = 0
        if not known and len(train) >= MIN_FOR_HOLDOUT and self._needs_validation():
            order = np.random.default_rng([seed, 2]).permutation(len(train))
            self.holdout = max(1, int(len(train) * HOLDOUT))
            held, kept = np.sort(order[:self.holdout]), np.sort(order[self.holdout:])
            known = [(texts[i], int(y[i])) for i in held]
            texts, y = [texts[i] for i in kept], y[kept]
        self.texts, self.y = texts, y
        self.valid_texts = [t for t, _ in known]
        self.yv = np.array([c for _, c in known], dtype=int)
        self.n = len(y)
        self.batch_size = self._batch_size()
        self.steps_per_epoch = math.ceil(self.n / self.batch_size)
        self.n_epochs = self.requested["n_epochs"] if self.requested["n_epochs"] != "auto" else AUTO_MAX_EPOCHS
        self.total_steps = self.steps_per_epoch * self.n_epochs
        self.choices: dict = {}
        self.closing_notes: list[str] = []

    # -- what "auto" resolves to ----------------------------------------------------------
    def _needs_validation(self) -> bool:
        r = self.requested
        return any(r[k] == "auto" for k in ("n_epochs", "learning_rate_multiplier", "class_weight")) \
            or r["early_stopping"] is True

    def _batch_size(self) -> int:
        if self.requested["batch_size"] != "auto":
            return int(self.requested["batch_size"])
        return int(min(256, max(8, self.n // 50)))

    def _early_stopping(self) -> bool:
        asked = self.requested["early_stopping"]
        if asked in (True, False):
            return asked and len(self.yv) > 0
        return self.requested["n_epochs"] == "auto" and len(self.yv) > 0

    def hyperparameters(self) -> dict:
        return {"n_epochs": self.n_epochs, "batch_size": self.batch_size,
                "learning_rate_multiplier": self.choices.get("learning_rate_multiplier", 1.0)}

    # -- set-up: features and the auto search ---------------------------------------------
    def setup(self, note: Note, check: Callable[[], None], decided: dict | None = None) -> dict:
        from core.backend import objective as objectives

        self.objective, why = objectives.resolve(self.requested["objective"], self.classes)
        if why:
            note(why)
        if self.asked_length not in (None, "auto"):
            note("max_length applies to transformer and LLM models; the linear model reads every word of a text")
        if self.holdout:
            note(f"No validation file: {self.holdout:,} of the training examples are held out to choose "
                 f"settings and to stop early")
        self.featurizer, self.X = Featurizer.fit(self.texts)
        self.Xv = self.featurizer.transform(self.valid_texts) if len(self.yv) else None
        rng = np.random.default_rng([self.seed, 7])
        self.sample = np.sort(rng.permutation(len(self.yv))[:VALID_SAMPLE])
        note(f"Features: {self.featurizer.n_features:,} TF-IDF word and character n-grams from "
             f"{self.n:,} training examples")
        if decided is None:
            decided = self._search(note, check)
        self.choices = decided
        if self.requested["n_epochs"] == "auto":
            self.n_epochs = int(decided["n_epochs"])
            self.total_steps = self.steps_per_epoch * self.n_epochs
        self.early_stopping = self._early_stopping()
        self.weights = _class_weights(decided["class_weight"], self.y, len(self.classes))
        self.lr = BASE_STEP_SIZE * float(decided["learning_rate_multiplier"])
        stop = f"early stopping on validation loss (patience {PATIENCE})" if self.early_stopping else "no early stopping"
        note(f"Objective: {objectives.NAMES[self.objective]} on validation decides the auto settings "
             f"(hyperparameter objective: accuracy, macro_f1 or mae)")
        note(f"Settings: learning-rate multiplier {decided['learning_rate_multiplier']}, class weights "
             f"{decided['class_weight']}, batch size {self.batch_size}, {self.n_epochs} epochs at most, {stop}")
        return decided

    def _search(self, note: Note, check: Callable[[], None]) -> dict:
        from core.backend import objective as objectives

        r = self.requested
        lrs = AUTO_LR_MULTIPLIERS if r["learning_rate_multiplier"] == "auto" else (float(r["learning_rate_multiplier"]),)
        weights = CLASS_WEIGHTS if r["class_weight"] == "auto" else (r["class_weight"],)
        decided = {"learning_rate_multiplier": lrs[0], "class_weight": weights[0], "n_epochs": 10}
        if self.Xv is None or len(lrs) * len(weights) == 1 and r["n_epochs"] != "auto":
            return decided
        rows = np.arange(self.n)
        if self.n > SEARCH_LIMIT:
            rows = np.sort(np.random.default_rng([self.seed, 3]).permutation(self.n)[:SEARCH_LIMIT])
            note(f"Choosing settings on {SEARCH_LIMIT:,} of the {self.n:,} training examples")
        X, y = self.X[rows], self.y[rows]
        best = None
        for cw in weights:
            for lr in lrs:
                run = self._fit(X, y, _class_weights(cw, y, len(self.classes)), BASE_STEP_SIZE * lr,
                                AUTO_MAX_EPOCHS, early_stopping=True, check=check)
                predicted = run.model_proba(self.Xv).argmax(axis=1)
                f1 = objectives.score(self.objective, self.yv, predicted, self.classes)
                note(f"Auto search: learning-rate multiplier {lr}, class weights {cw}: validation "
                     f"{objectives.shown(self.objective, f1)} at epoch {run.progress.best_epoch + 1}")
                if best is None or f1 > best[0] + 1e-9:
                    best = (f1, lr, cw, run.progress.best_epoch)
        assert best is not None   # one setting at least was tried
        _, lr, cw, best_epoch = best
        margin = 0 if len(rows) == self.n else 2
        epochs = min(AUTO_MAX_EPOCHS, best_epoch + 1 + PATIENCE + margin)
        return {"learning_rate_multiplier": lr, "class_weight": cw, "n_epochs": epochs}

    # -- training ---------------------------------------------------------------------------
    def _fit(self, X, y, weights, lr, epochs, *, early_stopping, check, start_epoch=0, opt=None,
             progress=None, best=None, on_step: OnStep | None = None,
             on_epoch_end: OnEpochEnd | None = None) -> _Run:
        run = _Run(self, opt or _Adam(X.shape[1], len(self.classes)), progress or _Progress(), best)
        steps_per_epoch = math.ceil(len(y) / self.batch_size)
        total = steps_per_epoch * epochs
        stride = max(1, math.ceil(total / MAX_REPORTED_STEPS))
        for epoch in range(start_epoch, epochs):
            if run.progress.stopped:
                break
            order = np.random.default_rng([self.seed, 1, epoch]).permutation(len(y))
            for b in range(steps_per_epoch):
                step = epoch * steps_per_epoch + b + 1
                idx = order[b * self.batch_size:(b + 1) * self.batch_size]
                yb = y[idx]
                proba = run.opt.step(X[idx], yb, weights, lr)
                reported = on_step is not None and (step % stride == 0 or step == total)
                metrics = None
                if reported:
                    metrics = StepMetrics(step, total, log_loss(proba, yb), float(np.mean(proba.argmax(axis=1) == yb)))
                    if self.Xv is not None and len(self.sample):
                        p = run.model_proba(self.Xv[self.sample])
                        ys = self.yv[self.sample]
                        metrics.valid_loss, metrics.valid_mean_token_accuracy = log_loss(p, ys), float(np.mean(p.argmax(axis=1) == ys))
                if on_step is not None:
                    if on_step(metrics, reported) is False:
                        return run
                elif b % 32 == 0:
                    check()
            run.end_epoch(epoch, weights, early_stopping)
            if on_epoch_end is not None:
                on_epoch_end(epoch, (epoch + 1) * steps_per_epoch, run.write_checkpoint)
        return run

    def train(self, *, start_epoch: int = 0, resume: Path | None = None, on_step: OnStep | None = None,
              on_epoch_end: OnEpochEnd | None = None) -> LinearModel:
        opt, progress, best = None, None, None
        if resume is not None:
            opt = _Adam(self.X.shape[1], len(self.classes))
            with np.load(resume / "trainer_state.npz", allow_pickle=False) as arrays:
                opt.restore(arrays)
                best = (np.array(arrays["best_W"]), np.array(arrays["best_b"]))
            progress = _Progress(**orjson.loads((resume / "trainer_state.json").read_bytes()))
            if progress.best_epoch < 0:
                best = None
        run = self._fit(self.X, self.y, self.weights, self.lr, self.n_epochs, early_stopping=self.early_stopping,
                        check=lambda: None, start_epoch=start_epoch, opt=opt, progress=progress, best=best,
                        on_step=on_step or (lambda m, r: True), on_epoch_end=on_epoch_end)
        p = run.progress
        self.closing_notes = []
        if self.early_stopping and p.best_epoch >= 0:
            step = (p.best_epoch + 1) * self.steps_per_epoch
            if p.stopped:
                self.closing_notes.append(f"Early stopping: validation loss stopped improving after epoch "
                                          f"{p.best_epoch + 1}; the model from that epoch (step {step}) is kept")
            else:
                self.closing_notes.append(f"All {self.n_epochs} epochs ran; validation loss was lowest after epoch "
                                          f"{p.best_epoch + 1}, whose model (step {step}) is kept")
        return run.final_model(self.early_stopping)

    def valid_metrics(self, model: LinearModel) -> tuple[float, float] | None:
        if self.Xv is None:
            return None
        proba = model.proba_features(self.Xv)
        return log_loss(proba, self.yv), float(np.mean(proba.argmax(axis=1) == self.yv))


class _Run:
    """One training run's weights, optimiser and early-stopping bookkeeping."""

    def __init__(self, trainer: LinearTrainer, opt: _Adam, progress: _Progress, best=None) -> None:
        self.trainer, self.opt, self.progress, self.best = trainer, opt, progress, best

    def model_proba(self, X) -> np.ndarray:
        return _softmax(np.asarray(X @ self.opt.W, dtype=np.float64) + self.opt.b)

    def end_epoch(self, epoch: int, weights: np.ndarray, early_stopping: bool) -> None:
        p = self.progress
        p.epoch = epoch
        t = self.trainer
        if t.Xv is None:
            return
        proba = self.model_proba(t.Xv)
        picked = np.clip(proba[np.arange(len(t.yv)), t.yv], 1e-15, 1.0)
        w = weights[t.yv]
        loss = float(-np.sum(w * np.log(picked)) / w.sum())   # the loss training minimises
        if loss < p.best_loss - 1e-4:
            p.best_loss, p.best_epoch, p.bad_epochs = loss, epoch, 0
            self.best = (self.opt.W.copy(), self.opt.b.copy())
        else:
            p.bad_epochs += 1
            if early_stopping and p.bad_epochs >= PATIENCE:
                p.stopped = True

    def write_checkpoint(self, directory: Path) -> None:
        t = self.trainer
        LinearModel(t.classes, t.featurizer, self.opt.W, self.opt.b, t.data_format).save(directory)
        best_W, best_b = self.best if self.best is not None else (self.opt.W, self.opt.b)
        np.savez(directory / "trainer_state.npz", best_W=best_W, best_b=best_b, **self.opt.state())
        (directory / "trainer_state.json").write_bytes(orjson.dumps(self.progress.__dict__))

    def final_model(self, early_stopping: bool) -> LinearModel:
        t = self.trainer
        W, b = self.best if early_stopping and self.best is not None else (self.opt.W, self.opt.b)
        return LinearModel(t.classes, t.featurizer, W.copy(), b.copy(), t.data_format)
