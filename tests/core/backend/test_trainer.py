"""The default local trainer: it learns real reviews, its "auto" is decided on the data, early stopping
keeps the best epoch, a seed fixes it, and its files load without unpickling."""

from __future__ import annotations

import numpy as np
import pytest

from core.backend.linear import LinearModel, LinearTrainer
from core.backend.model_files import ModelFileError, load_model, write_dir
from core.backend.zero_shot import BASE as ZERO_SHOT
from core.records.formats import read_examples
from core.data.pipeline import PrepareOptions, prepare


@pytest.fixture(scope="module")
def threads_build(tmp_path_factory, threads_csv):
    out = tmp_path_factory.mktemp("threads")
    options = PrepareOptions(samples={"train": 4000, "val": 800, "test": 1500}, seed=3)
    result = prepare(threads_csv, out, options)
    return {name: list(read_examples(path)) for name, path in result.files.items()}


def _train(build, seed, requested=None, checkpoints=None):
    trainer = LinearTrainer(build["train"], build["val"], requested or {}, seed)
    notes: list[str] = []
    trainer.setup(notes.append, lambda: None)
    history: list = []

    def on_epoch_end(epoch, step, write):
        if checkpoints is not None:
            write_dir(checkpoints / f"epoch-{epoch}", write)

    model = trainer.train(on_step=lambda m, reported: history.append(m) if reported else None,
                          on_epoch_end=on_epoch_end)
    return trainer, model, history, notes


def _scores(model, examples):
    from sklearn.metrics import f1_score

    labels = np.array([e.label for e in examples])
    predicted = np.array(model.classes)[model.predict_proba([e.text for e in examples]).argmax(axis=1)]
    return float(np.mean(predicted == labels)), float(f1_score(labels, predicted, average="macro"))


@pytest.fixture(scope="module")
def default_run(threads_build):
    return _train(threads_build, seed=1)


def test_default_model_beats_majority_and_the_untrained_base(threads_build, default_run):
    trainer, model, history, notes = default_run
    test = threads_build["test"]
    labels = [e.label for e in test]
    majority = max(labels.count(c) for c in set(labels)) / len(labels)
    accuracy, macro_f1 = _scores(model, test)
    base_accuracy, base_f1 = _scores(ZERO_SHOT, test)
    assert accuracy > majority + 0.05
    assert macro_f1 > base_f1 + 0.1 and accuracy > base_accuracy + 0.1
    # a constant answer's macro-F1 is at most 1/5 of its class's F1: the trained model must use several stars
    assert macro_f1 > 0.35
    assert history[-1].valid_loss < history[0].valid_loss


def test_auto_choices_are_made_on_validation_and_reported(default_run):
    trainer, _, _, notes = default_run
    searched = [n for n in notes if n.startswith("Auto search:")]
    assert len(searched) == 4          # 2 learning rates x 2 class weightings, each scored on validation
    assert any(n.startswith("Settings:") for n in notes)
    hp = trainer.hyperparameters()
    assert hp["learning_rate_multiplier"] in (0.3, 1.0) and 1 <= hp["n_epochs"] <= 20
    assert trainer.choices["class_weight"] in ("none", "balanced")


def test_early_stopping_keeps_the_best_epoch(threads_build, tmp_path):
    small = {k: v[:1500] for k, v in threads_build.items()}
    # a large step size overfits within a few epochs, so validation loss turns up and training stops
    trainer, model, _, _ = _train(small, seed=2, checkpoints=tmp_path,
                                  requested={"learning_rate_multiplier": 3, "class_weight": "none",
                                             "n_epochs": 12, "early_stopping": True})
    epochs = sorted(tmp_path.iterdir(), key=lambda p: int(p.name.split("-")[1]))
    assert len(epochs) < 12, "training should have stopped early"
    losses = [trainer.valid_metrics(load_model(p))[0] for p in epochs]
    best = int(np.argmin(losses))
    assert best < len(epochs) - 1
    assert np.array_equal(model.W, load_model(epochs[best]).W)
    assert any(n.startswith("Early stopping:") for n in trainer.closing_notes)


def test_explicit_settings_mean_what_they_say(threads_build):
    small = {k: v[:600] for k, v in threads_build.items()}
    trainer, _, history, notes = _train(small, seed=4, requested={"n_epochs": 3, "batch_size": 16,
                                                                  "learning_rate_multiplier": 0.5,
                                                                  "class_weight": "balanced"})
    assert trainer.hyperparameters() == {"n_epochs": 3, "batch_size": 16, "learning_rate_multiplier": 0.5}
    assert history[-1].step == trainer.total_steps == 3 * trainer.steps_per_epoch   # no early stop
    assert not [n for n in notes if n.startswith("Auto search:")]


def test_same_seed_same_model(threads_build):
    small = {k: v[:400] for k, v in threads_build.items()}
    _, a, ha, _ = _train(small, seed=9)
    _, b, hb, _ = _train(small, seed=9)
    _, _, hc, _ = _train(small, seed=10)
    assert [m.to_dict() for m in ha] == [m.to_dict() for m in hb]
    assert np.array_equal(a.W, b.W)
    assert [m.to_dict() for m in ha] != [m.to_dict() for m in hc]


def test_model_files_round_trip(default_run, tmp_path, threads_build):
    _, model, _, _ = default_run
    write_dir(tmp_path / "m", model.save)
    loaded = load_model(tmp_path / "m")
    texts = [e.text for e in threads_build["test"][:50]]
    assert isinstance(loaded, LinearModel)
    assert np.allclose(loaded.predict_proba(texts), model.predict_proba(texts))


class _Boom:
    def __reduce__(self):
        import pathlib

        return (pathlib.Path.touch, (pathlib.Path(_Boom.marker),))


def test_loading_a_model_never_unpickles(default_run, tmp_path):
    _, model, _, _ = default_run
    write_dir(tmp_path / "m", model.save)
    _Boom.marker = str(tmp_path / "pwned")
    # a hostile weights file: an object array whose unpickling would run code
    np.savez(tmp_path / "m" / "weights.npz", W=np.array([_Boom()], dtype=object), b=model.b,
             word_idf=model.featurizer.word.idf_, char_idf=model.featurizer.char.idf_)
    with pytest.raises(ValueError):
        load_model(tmp_path / "m")
    assert not (tmp_path / "pwned").exists()
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "model.pkl").write_bytes(b"\x80\x05N.")   # a model from before: never read
    with pytest.raises(ModelFileError):
        load_model(tmp_path / "old")


def test_tiny_and_odd_training_sets():
    from core.records.formats import Example

    def ex(text, label):
        return Example(0, "chat", text, label, None)

    trainer = LinearTrainer([ex("a", "1"), ex("b", "2"), ex("c", "1")], [], {}, 0)
    trainer.setup(lambda m: None, lambda: None)
    model = trainer.train()
    assert model.predict_proba(["a"]).shape == (1, 2)


def test_few_texts_path_equals_scikit_learns(default_run, threads_build):
    from scipy.sparse import hstack

    _, model, _, _ = default_run
    f = model.featurizer
    texts = [e.text for e in threads_build["test"][:60]] + ["", "🔥🔥", "a"]
    fast = f.transform(texts)
    reference = hstack([f.word.transform(texts), f.char.transform(texts)], format="csr")
    assert np.allclose(fast.toarray(), reference.toarray(), atol=1e-6)


def test_inference_analyzers_are_scikit_learns(default_run, threads_build):
    """A loaded model scores texts with its own copy of scikit-learn's analyzers: the same n-grams."""
    from core.backend.linear import char_wb_ngrams, word_ngrams

    _, model, _, _ = default_run
    word, char = model.featurizer.word.build_analyzer(), model.featurizer.char.build_analyzer()
    texts = [e.text for e in threads_build["test"]] + [
        "", "a", "🔥🔥", "Hello\u00a0World\u2003x\u3000y  z\t\nQ", "ÀÉÎ straße İstanbul ǅ", "a\x1cb\x1dc\x85d",
        "don't stop-me now!!! 5/5", "x" * 300]
    for text in texts:
        assert word_ngrams(text) == word(text)
        assert [g for w in text.lower().split() for g in char_wb_ngrams(w)] == char(text)


def test_a_loaded_model_scores_as_trained_without_scikit_learn(default_run, tmp_path, threads_build):
    import subprocess
    import sys

    _, model, _, _ = default_run
    write_dir(tmp_path / "m", model.save)
    texts = [e.text for e in threads_build["test"][:300]] + ["", "🔥"]
    np.save(tmp_path / "trained.npy", model.proba_features(model.featurizer.transform(texts)))
    (tmp_path / "texts.json").write_text(__import__("json").dumps(texts))
    code = f"""
import json, sys
import numpy as np
from pathlib import Path
from core.backend.model_files import load_model
model = load_model(Path({str(tmp_path / "m")!r}))
texts = json.loads(Path({str(tmp_path / "texts.json")!r}).read_text())
together = model.predict_proba(texts)
alone = np.vstack([model.predict_proba([t]) for t in texts])
assert np.array_equal(together, alone), "a text must score alike alone or among others"
np.save({str(tmp_path / "loaded.npy")!r}, together)
print(sorted(m for m in ("sklearn", "scipy") if m in sys.modules))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split("\n")[0] == "[]"   # neither imported: ~1 s off every command that scores
    assert np.allclose(np.load(tmp_path / "loaded.npy"), np.load(tmp_path / "trained.npy"), atol=1e-6)
