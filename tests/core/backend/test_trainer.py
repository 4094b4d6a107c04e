"""The local trainer really learns, and a seed fixes its metrics."""

from __future__ import annotations

import numpy as np
import pytest

from core.backend.trainer import Trainer, resolve_hyperparameters
from core.data.formats import read_examples
from core.data.pipeline import PrepareOptions, prepare


@pytest.fixture(scope="module")
def threads_build(tmp_path_factory, threads_csv):
    out = tmp_path_factory.mktemp("threads")
    options = PrepareOptions(samples={"train": 4000, "val": 500, "test": 1000}, seed=3)
    result = prepare(threads_csv, out, options)
    return {name: list(read_examples(path)) for name, path in result.files.items()}


def _train(build, seed):
    train, val = build["train"], build["val"]
    hp = resolve_hyperparameters(len(train), {"n_epochs": 2})
    trainer = Trainer([e.text for e in train], [e.label for e in train], seed=seed,
                      valid_texts=[e.text for e in val], valid_labels=[e.label for e in val], **hp)
    history = []
    model = trainer.train(on_step=lambda m, reported: history.append(m) if reported else None)
    return model, history


def test_learns_real_reviews(threads_build):
    model, history = _train(threads_build, seed=1)
    first, last = history[0], history[-1]
    assert last.valid_loss < first.valid_loss - 0.2
    test = threads_build["test"]
    labels = np.array([e.label for e in test])
    predicted = np.array(model.classes)[model.predict_proba([e.text for e in test]).argmax(axis=1)]
    majority = max(np.mean(labels == c) for c in set(labels))
    assert np.mean(predicted == labels) > majority + 0.05


def test_same_seed_same_metrics(threads_build):
    small = {k: v[:400] for k, v in threads_build.items()}
    _, a = _train(small, seed=9)
    _, b = _train(small, seed=9)
    _, c = _train(small, seed=10)
    assert [m.to_dict() for m in a] == [m.to_dict() for m in b]
    assert [m.to_dict() for m in a] != [m.to_dict() for m in c]


def test_auto_hyperparameters_follow_openai():
    assert resolve_hyperparameters(100_000, {}) == {"n_epochs": 1, "batch_size": 200, "learning_rate_multiplier": 0.2}
    assert resolve_hyperparameters(500, {}) == {"n_epochs": 3, "batch_size": 1, "learning_rate_multiplier": 0.05}
    assert resolve_hyperparameters(20, {"n_epochs": 2})["n_epochs"] == 2
