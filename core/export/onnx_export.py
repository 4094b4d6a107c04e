"""A fine-tuned model as ONNX, for any runtime: onnxruntime in Python, C#, Java, JavaScript or C++.

Each export is a folder: ``model.onnx`` answering label probabilities, ``labels.json`` saying what
the output columns are and what the input is, and for a transformer its tokenizer files.

- linear: the whole model is the graph, text in, probabilities out. The TF-IDF features are ONNX's
  own TfIdfVectorizer over tokens cut by onnxruntime's Tokenizer: words by the same character class
  as scikit-learn's ``\\b\\w\\w+\\b`` (spelled out code point by code point from this Python, so the
  two agree on every letter), character n-grams within whitespace-separated words (each padded with
  a space, as ``char_wb`` does). The one difference: lowercasing is the C.UTF-8 locale's, which
  differs from Python's ``str.lower`` on a few letters ("İ", a word-final "Σ").
- transformer: the fine-tuned network with its prior correction and softmax folded in, token ids in
  (``input_ids``, ``attention_mask``; the tokenizer beside it, truncating at ``max_length``).
- llm: not exported (a generative model is a Hugging Face folder: ``merged/`` of ``startune export``).
"""

from __future__ import annotations

import importlib.util
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import orjson

from core.errors import ConfigError

INSTALL_HINT = "pip install 'startune[onnx]'"
OPSET = 18
LABELS = "labels.json"
MODEL = "model.onnx"
LOCALE = "C.UTF-8"


def missing() -> str | None:
    """One line naming what to install, or None when ONNX export can run here."""
    absent = [name for name in ("onnx", "onnxruntime") if importlib.util.find_spec(name) is None]
    if absent:
        verb = "is" if len(absent) == 1 else "are"
        return f"ONNX export needs {' and '.join(absent)}, which {verb} not installed: {INSTALL_HINT}"
    return None


def export_onnx(model_dir: Path, out: Path) -> list[str]:
    """Write ``model_dir`` (a startune model folder) as ONNX into ``out``; the names written."""
    from core.backend.model_files import read_manifest

    problem = missing()
    if problem:
        raise ConfigError(problem)
    meta = read_manifest(model_dir)
    kind = meta.get("kind")
    out.mkdir(parents=True, exist_ok=True)
    if kind == "linear":
        return _linear(model_dir, meta, out)
    if kind == "transformer":
        return _transformer(model_dir, meta, out)
    raise ConfigError(f"a {kind} model has no ONNX export: a generative model leaves startune as the Hugging Face "
                      "folder merged/ that `startune export RUN --out DIR` writes")


def _write_labels(out: Path, body: dict) -> None:
    from core.atomic import write_bytes

    write_bytes(out / LABELS, orjson.dumps(body, option=orjson.OPT_INDENT_2) + b"\n", private=False)


def _save(model, out: Path) -> None:
    import onnx

    from core.atomic import write_bytes

    onnx.checker.check_model(model, full_check=True)
    write_bytes(out / MODEL, model.SerializeToString(), private=False)


# -- linear: the whole model as a graph ---------------------------------------------------------


def _code_point_class(matches) -> str:
    """An RE2 character class of every code point ``matches`` accepts, as ranges."""
    ranges: list[list[int]] = []
    for cp in range(sys.maxunicode + 1):
        if 0xD800 <= cp <= 0xDFFF or not matches(chr(cp)):   # surrogates never occur in UTF-8 text
            continue
        if ranges and ranges[-1][1] == cp - 1:
            ranges[-1][1] = cp
        else:
            ranges.append([cp, cp])
    return "".join(f"\\x{{{a:X}}}" if a == b else f"\\x{{{a:X}}}-\\x{{{b:X}}}" for a, b in ranges)


def word_pattern() -> str:
    """scikit-learn's default token_pattern ``(?u)\\b\\w\\w+\\b``: runs of two or more word characters."""
    word = re.compile(r"\w")
    return f"[{_code_point_class(lambda c: word.match(c) is not None)}]{{2,}}"


def space_split_pattern() -> str:
    """What ``str.split()`` keeps: runs of characters that are not whitespace."""
    return f"[^{_code_point_class(str.isspace)}]+"


def _ngram_pool(vocab: list[str], split) -> tuple[list[str], list[int], list[int], int, int]:
    """TfIdfVectorizer's pool: n-grams grouped by length (1-grams first), each as its n tokens."""
    by_length: dict[int, list[tuple[list[str], int]]] = {}
    for column, term in enumerate(vocab):
        tokens = split(term)
        by_length.setdefault(len(tokens), []).append((tokens, column))
    lowest, highest = min(by_length), max(by_length)
    pool: list[str] = []
    counts: list[int] = []
    indexes: list[int] = []
    for n in range(1, highest + 1):
        counts.append(len(pool))
        for tokens, column in by_length.get(n, []):
            pool.extend(tokens)
            indexes.append(column)
    return pool, counts, indexes, lowest, highest


def _linear(model_dir: Path, meta: dict, out: Path) -> list[str]:
    from onnx import TensorProto, helper, numpy_helper

    from core.backend.linear import LinearModel

    model = LinearModel.load(model_dir, meta)
    vocab, idf = model.featurizer.arrays()
    nodes, inits = [], []

    def const(name: str, value: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(value, name))
        return name

    def node(op: str, inputs: list[str], output: str, domain: str = "", **attrs) -> str:
        nodes.append(helper.make_node(op, inputs, [output], name=output, domain=domain, **attrs))
        return output

    text = node("StringNormalizer", ["text"], "lower", case_change_action="LOWER", locale=LOCALE)
    words = node("Tokenizer", [text], "words", domain="com.microsoft", mark=0, mincharnum=1, pad_value="",
                 tokenexp=word_pattern())
    chunks = node("Tokenizer", [text], "chunks", domain="com.microsoft", mark=0, mincharnum=1, pad_value="",
                  tokenexp=space_split_pattern())
    # " w " per chunk, then its characters, one row per chunk: n-grams never cross a row, and a padded
    # row ("  ") or the empty padding never forms an n-gram of the vocabulary
    spaced = node("StringConcat", [node("StringConcat", [const("space", np.array([" "], dtype=object)), chunks],
                                        "spaced_left"), "space"], "spaced")
    chars = node("Tokenizer", [spaced], "chars", domain="com.microsoft", mark=0, mincharnum=1, pad_value="",
                 tokenexp=".")
    shape = node("Shape", [chars], "chars_shape")
    rows = node("Slice", [shape, const("zero", np.array([0], np.int64)), const("one", np.array([1], np.int64))],
                "rows")
    flat = node("Reshape", [chars, node("Concat", [rows, const("minus_one", np.array([-1], np.int64))], "flat_shape",
                                        axis=0)], "chars_flat")

    parts = []
    for name, tokens, split in (("word", words, str.split), ("char", flat, list)):
        pool, counts, indexes, lowest, highest = _ngram_pool(vocab[name], split)
        tf = node("TfIdfVectorizer", [tokens], f"{name}_tf", mode="TF", min_gram_length=lowest,
                  max_gram_length=highest, max_skip_count=0, ngram_counts=counts, ngram_indexes=indexes,
                  pool_strings=pool)
        # scikit-learn's sublinear tf: 1 + log(count) where a term occurs, then idf, then the row's L2 norm
        seen = node("Greater", [tf, const(f"{name}_zero", np.array(0, np.float32))], f"{name}_seen")
        logged = node("Add", [node("Log", [node("Max", [tf, const(f"{name}_one", np.array(1, np.float32))],
                                                f"{name}_atleast1")], f"{name}_log"), f"{name}_one"], f"{name}_sub")
        weighted = node("Mul", [node("Where", [seen, logged, f"{name}_zero"], f"{name}_sublinear"),
                                const(f"{name}_idf", idf[f"{name}_idf"].astype(np.float32))], f"{name}_tfidf")
        norm = node("ReduceL2", [weighted, const(f"{name}_axis", np.array([1], np.int64))], f"{name}_norm",
                    keepdims=1)
        parts.append(node("Div", [weighted, node("Max", [norm, const(f"{name}_tiny", np.array(1e-30, np.float32))],
                                                 f"{name}_safe_norm")], f"{name}_features"))
    features = node("Concat", parts, "features", axis=1)
    logits = node("Add", [node("MatMul", [features, const("W", model.W.astype(np.float32))], "scores"),
                          const("b", np.asarray(model.b, np.float32))], "logits")
    node("Softmax", [logits], "probabilities", axis=1)
    graph = helper.make_graph(
        nodes, "startune_linear",
        [helper.make_tensor_value_info("text", TensorProto.STRING, ["batch"])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", len(model.classes)])],
        initializer=inits)
    onnx_model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20),
                                                         helper.make_opsetid("com.microsoft", 1)],
                                   producer_name="startune")
    onnx_model.ir_version = 10
    helper.set_model_props(onnx_model, {"labels": orjson.dumps(model.classes).decode()})
    _save(onnx_model, out)
    _write_labels(out, {
        "kind": "linear", "labels": model.classes,
        "input": {"text": "a batch of review texts, as strings (1-D); the graph lowercases and tokenizes them"},
        "output": {"probabilities": "float32 (batch, labels), rows sum to 1, columns in the order of labels"},
        "runtime": f"onnxruntime (uses its com.microsoft Tokenizer; lowercasing needs the {LOCALE} locale)",
    })
    return [MODEL, LABELS]


# -- transformer: the network with its head, bias and softmax -----------------------------------


def _transformer(model_dir: Path, meta: dict, out: Path) -> list[str]:
    import contextlib
    import io
    import warnings

    import torch

    from core.backend.transformer import TransformerModel

    loaded = TransformerModel.load(model_dir, meta)
    network = loaded.model.to("cpu").float().eval()

    class WithPrior(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.network = network
            self.register_buffer("bias", torch.tensor(loaded.logit_bias, dtype=torch.float32))

        def forward(self, input_ids, attention_mask):
            logits = self.network(input_ids=input_ids, attention_mask=attention_mask).logits
            return torch.softmax(logits.float() + self.bias, dim=-1)

    sample = loaded.tokenizer(["a short review", "a longer review of the same model, to give two lengths"],
                              padding=True, return_tensors="pt")
    batch, sequence = torch.export.Dim("batch"), torch.export.Dim("sequence", max=loaded.max_length)
    # torch.onnx reports each stage on stdout and warns about its own internals: neither is the user's
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            WithPrior().eval(), (sample["input_ids"], sample["attention_mask"]), dynamo=True, opset_version=OPSET,
            input_names=["input_ids", "attention_mask"], output_names=["probabilities"],
            dynamic_shapes=({0: batch, 1: sequence}, {0: batch, 1: sequence}), verbose=False)
    onnx_model = program.model_proto
    from onnx import helper

    helper.set_model_props(onnx_model, {"labels": orjson.dumps(loaded.classes).decode()})
    _save(onnx_model, out)
    loaded.tokenizer.save_pretrained(out)
    tokenizer_files = sorted(p.name for p in out.iterdir() if p.name not in (MODEL, LABELS))
    _write_labels(out, {
        "kind": "transformer", "labels": loaded.classes, "base_model": loaded.base_model,
        "max_length": loaded.max_length, "pad_token_id": loaded.tokenizer.pad_token_id,
        "input": {"input_ids": "int64 (batch, sequence): tokenizer.json's ids (tokenizers, or transformers' "
                               "AutoTokenizer of this folder), truncated at max_length, padded with pad_token_id",
                  "attention_mask": "int64 (batch, sequence): 1 for tokens, 0 for padding"},
        "output": {"probabilities": "float32 (batch, labels), rows sum to 1, columns in the order of labels"},
        "tokenizer": tokenizer_files,
    })
    return [MODEL, LABELS, *tokenizer_files]


# -- scoring an export, for tests and benchmarks ---------------------------------------------


def session(folder: Path):
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    return onnxruntime.InferenceSession(str(folder / MODEL), options, providers=["CPUExecutionProvider"])


def batches(texts: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(texts), size):
        yield texts[start:start + size]


def score(folder: Path, texts: list[str], batch: int = 64) -> np.ndarray:
    """Label probabilities of ``texts`` from an export folder, as any onnxruntime user would get them."""
    meta = orjson.loads((folder / LABELS).read_bytes())
    run = session(folder)
    out = np.empty((len(texts), len(meta["labels"])), dtype=np.float32)
    if meta["kind"] == "linear":
        for i, chunk in enumerate(batches(texts, batch)):
            out[i * batch:i * batch + len(chunk)] = run.run(None, {"text": np.array(chunk, dtype=object)})[0]
        return out
    # the tokenizers library alone (what transformers' fast tokenizer runs), and batches of similar
    # lengths, as startune scores them: little padding
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.enable_truncation(meta["max_length"])
    ids = [e.ids for e in tokenizer.encode_batch(texts)]
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    for start in range(0, len(order), batch):
        rows = order[start:start + batch]
        width = max(len(ids[i]) for i in rows)
        input_ids = np.full((len(rows), width), meta["pad_token_id"], dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        for row, i in enumerate(rows):
            input_ids[row, :len(ids[i])], mask[row, :len(ids[i])] = ids[i], 1
        out[rows] = run.run(None, {"input_ids": input_ids, "attention_mask": mask})[0]
    return out
