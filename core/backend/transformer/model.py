"""A fine-tuned encoder classifier as the backend serves it: label probabilities for texts (concurrent
callers coalesced into one forward pass) and its folder, which transformers itself can load."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from core.backend.transformer.auto import MAX_LENGTH
from core.backend.transformer.device import autocast, pick_device
from core.backend.transformer.forward import batches, pad_batch
from core.backend.transformer.weights import HF_PREFIX, missing_extra, quiet_transformers


class _Queued:
    """One caller's texts waiting for a coalesced forward pass."""

    def __init__(self, texts: list[str]) -> None:
        self.texts, self.done = texts, False
        self.value: np.ndarray | None = None
        self.error: BaseException | None = None

    def result(self) -> np.ndarray:
        if self.error is not None:
            raise self.error
        return self.value


class TransformerModel:
    """A fine-tuned (or being fine-tuned) classifier: answers label probabilities, saves as a folder."""

    kind = "transformer"

    def __init__(self, classes: list[str], model, tokenizer, *, data_format: str = "chat", base_model: str = "",
                 max_length: int = MAX_LENGTH, device=None, amp_dtype=None,
                 logit_bias: Sequence[float] | None = None) -> None:
        self.classes = list(classes)
        # added to the logits before the softmax: the prior correction chosen on validation (zeros = none)
        self.logit_bias = np.zeros(len(self.classes)) if logit_bias is None else np.asarray(logit_bias, float)
        self.model, self.tokenizer = model, tokenizer
        self.data_format, self.base_model, self.max_length = data_format, base_model, max_length
        self.device = device if device is not None else next(model.parameters()).device
        self.amp_dtype = amp_dtype
        self._turn = threading.Condition()
        self._queue: list[_Queued] = []
        self._busy = False

    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        return self.tokenizer(list(texts), truncation=True, max_length=self.max_length)["input_ids"]

    def logits(self, ids: list[list[int]]) -> np.ndarray:
        """Logits for token ids, in the input order, computed in batches of similar lengths (sorted, and
        cut by ``batches``: little padding, which on a CPU is most of the waste)."""
        import torch

        out = np.empty((len(ids), len(self.classes)), dtype=np.float32)
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.inference_mode(), autocast(self.device, self.amp_dtype):
                for chunk in batches([len(x) for x in ids]):
                    input_ids, mask = pad_batch([ids[i] for i in chunk], self.tokenizer.pad_token_id, self.device)
                    out[chunk] = self.model(input_ids=input_ids, attention_mask=mask).logits.float().cpu().numpy()
        finally:
            self.model.train(was_training)
        return out

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Label probabilities, rows in input order. Calls from several threads at once (the API answers
        requests on worker threads) are coalesced: while one forward pass runs, later callers queue, and
        the next to go scores the whole queue as one batch."""
        if not len(texts):
            return np.empty((0, len(self.classes)))
        request = _Queued(list(texts))
        with self._turn:
            self._queue.append(request)
            while not request.done and self._busy:
                self._turn.wait()
            if request.done:
                return request.result()
            self._busy = True
            batch, self._queue = self._queue, []
        try:
            proba = self._proba([t for r in batch for t in r.texts])
            start = 0
            for r in batch:
                r.value, start = proba[start : start + len(r.texts)], start + len(r.texts)
        except BaseException as exc:
            for r in batch:
                r.error = exc
        finally:
            with self._turn:
                for r in batch:
                    r.done = True
                self._busy = False
                self._turn.notify_all()
        return request.result()

    def _proba(self, texts: list[str]) -> np.ndarray:
        z = self.logits(self.encode(texts)).astype(np.float64) + self.logit_bias
        z -= z.max(axis=1, keepdims=True)
        np.exp(z, out=z)
        z /= z.sum(axis=1, keepdims=True)
        return z

    def save(self, directory: Path) -> None:
        """A Hugging Face model folder (safetensors weights, config naming the labels, tokenizer) that
        transformers itself can load, plus model.json."""
        from core.backend.model_files import write_manifest

        directory = Path(directory)
        self.model.save_pretrained(directory, safe_serialization=True)
        self.tokenizer.save_pretrained(directory)
        write_manifest(directory, self.kind, classes=self.classes, data_format=self.data_format,
                       base_model=self.base_model, max_length=self.max_length,
                       logit_bias=[float(v) for v in self.logit_bias])

    @classmethod
    def load(cls, directory: Path, meta: dict | None = None) -> TransformerModel:
        """A saved model: safetensors only (never a pickle), no network, no remote code."""
        from core.backend.model_files import ModelFileError, read_manifest

        directory = Path(directory)
        if meta is None:
            meta = read_manifest(directory)
        missing = missing_extra(HF_PREFIX)   # a saved model needs torch and transformers only
        if missing:
            raise ModelFileError(missing)
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        quiet_transformers()
        device, dtype, _ = pick_device()
        tokenizer = AutoTokenizer.from_pretrained(directory, local_files_only=True)
        model = AutoModelForSequenceClassification.from_pretrained(directory, local_files_only=True,
                                                                   use_safetensors=True)
        model.to(device).eval()
        return cls(meta["classes"], model, tokenizer, data_format=meta.get("data_format", "chat"),
                   base_model=meta.get("base_model", ""), max_length=int(meta.get("max_length", MAX_LENGTH)),
                   device=device, amp_dtype=dtype, logit_bias=meta.get("logit_bias"))
