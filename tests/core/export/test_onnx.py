"""Models out as ONNX: onnxruntime's probabilities equal startune's on real reviews, for the linear and
the transformer model, and `startune export --onnx` writes them with a model card."""

from __future__ import annotations

import csv
import numpy as np
import orjson
import pytest

from tests.conftest import shared_data_file, THREADS_CSV

LABELS = ["1", "2", "3", "4", "5"]
# texts real reviews may not hold: nothing, only spaces, only emoji, every kind of space, a wall of text
EDGES = ["", "   ", "😀🚫", "tab\there no-break\u00a0space ideographic\u3000space  two", "word " * 2000, "a"]


def _reviews(n: int, offset: int = 0) -> tuple[list[str], np.ndarray]:
    with shared_data_file(THREADS_CSV).open(newline="", encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if r["review_description"].strip()][offset:offset + n]
    return [r["review_description"] for r in rows], np.array([int(r["rating"]) - 1 for r in rows])


def test_the_linear_model_as_onnx_scores_real_reviews_as_startune_does(tmp_path):
    from core.backend.linear import Featurizer, LinearModel, fit_softmax
    from core.export.onnx_export import export_onnx, score

    texts, y = _reviews(3000)
    featurizer, X = Featurizer.fit(texts)
    W, b = fit_softmax(X, y, 5, epochs=3)
    model = LinearModel(LABELS, featurizer, W, b)
    (tmp_path / "model").mkdir()
    model.save(tmp_path / "model")
    assert export_onnx(tmp_path / "model", tmp_path / "onnx") == ["model.onnx", "labels.json"]

    held_out = _reviews(2000, offset=3000)[0] + EDGES
    expected = model.predict_proba(held_out)
    got = score(tmp_path / "onnx", held_out)
    assert np.abs(got - expected).max() < 1e-5
    assert (got.argmax(1) == expected.argmax(1)).all()
    assert orjson.loads((tmp_path / "onnx" / "labels.json").read_bytes())["labels"] == LABELS


@pytest.mark.slow
def test_the_transformer_model_as_onnx_scores_real_reviews_as_startune_does(tmp_path):
    """MiniLM with a classification head and a prior correction, as a job saves it."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from core.backend.transformer import TransformerModel, minilm_folder
    from core.export.onnx_export import export_onnx, score

    torch.manual_seed(0)
    network = AutoModelForSequenceClassification.from_pretrained(minilm_folder(), num_labels=5, local_files_only=True)
    tokenizer = AutoTokenizer.from_pretrained(minilm_folder(), local_files_only=True)
    model = TransformerModel(LABELS, network.eval(), tokenizer, base_model="minilm-l6", max_length=96,
                             logit_bias=[0.3, -0.2, 0.0, 0.1, -0.4])
    model.save(tmp_path / "model")
    names = export_onnx(tmp_path / "model", tmp_path / "onnx")
    assert names[:2] == ["model.onnx", "labels.json"] and "tokenizer.json" in names

    texts = _reviews(300)[0] + EDGES[1:]     # the tokenizer gives an empty text its two special tokens only
    expected = model.predict_proba(texts)
    got = score(tmp_path / "onnx", texts, batch=32)
    assert np.abs(got - expected).max() < 1e-5
    single = score(tmp_path / "onnx", texts[:1], batch=1)    # a batch of one, shorter than the traced sample
    assert np.abs(single - expected[:1]).max() < 1e-5


def test_export_onnx_from_the_command_line_with_a_model_card(run_cli, sample_csv, tmp_path):
    def json_of(result):
        assert result.exit_code == 0, result.output
        return orjson.loads(result.stdout)

    run = json_of(run_cli("run", sample_csv, "--out", tmp_path / "b", "--samples", "train=200,val=40,test=40",
                          "--json"))
    json_of(run_cli("evaluate", run["run_id"], "--json"))
    written = json_of(run_cli("export", run["run_id"], "--out", tmp_path / "e", "--onnx", "--json"))
    assert {"onnx/model.onnx", "onnx/labels.json", "MODEL_CARD.md"} <= set(written["files"])
    assert "missing" not in written
    import os

    umask = os.umask(0)
    os.umask(umask)
    for name in ("onnx/model.onnx", "onnx/labels.json", "MODEL_CARD.md"):   # the user's files, not private ones
        assert (tmp_path / "e" / name).stat().st_mode & 0o777 == 0o666 & ~umask, name

    card = (tmp_path / "e" / "MODEL_CARD.md").read_text(encoding="utf-8")
    report = json_of(run_cli("evaluate", run["run_id"], "--json"))   # answered from the registry
    assert f"| accuracy | {report['accuracy']:.3f} |" in card
    assert "| train | 200 |" in card and "| test | 40 |" in card
    assert "no third-party weights" in card

    from core.backend.model_files import load_model
    from core.export.onnx_export import score

    texts = [r["messages"][-2]["content"] for r in map(orjson.loads, (tmp_path / "b" / "test.jsonl").open("rb"))]
    expected = load_model(tmp_path / "e" / "model").predict_proba(texts)
    assert np.abs(score(tmp_path / "e" / "onnx", texts) - expected).max() < 1e-5


def test_export_onnx_says_what_is_missing_in_one_line(run_cli, monkeypatch, tmp_path):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "onnxruntime" else real(name, *a))
    result = run_cli("export", "run-nope", "--out", tmp_path / "e", "--onnx")
    assert result.exit_code == 2
    assert result.stderr.strip() == ("startune: error: ONNX export needs onnxruntime, which is not installed: "
                                     "pip install 'startune[onnx]'")
    assert not (tmp_path / "e").exists()
    usage = run_cli("export", "run-nope", "--to", "tensorboard", str(tmp_path / "tb"), "--onnx")
    assert usage.exit_code == 2 and "--onnx writes into --out DIR" in usage.stderr


def test_export_into_a_folder_that_cannot_be_made_is_one_line(run_cli, sample_csv, tmp_path):
    result = run_cli("run", sample_csv, "--out", tmp_path / "b", "--samples", "train=60,val=20,test=20", "--json")
    run_id = orjson.loads(result.stdout)["run_id"]
    refused = run_cli("export", run_id, "--out", "/proc/startune-export")
    assert refused.exit_code == 2
    assert refused.stderr.strip() == ("startune: error: cannot write /proc/startune-export: No such file or directory "
                                      "(choose a folder you can create and write)")
