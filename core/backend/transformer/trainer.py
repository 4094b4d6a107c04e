"""Fine-tuning an encoder with a classification head, by the runner's trainer protocol: AdamW with
linear warm-up and decay, each optimiser step a job step with OpenAI-style metrics, early
stopping on validation, "auto" class weighting as a prior correction, checkpoints that resume exactly, and
data-parallel ranks when the backend has several devices."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from core.backend.devices import DEFAULT as DEFAULT_DEVICES
from core.backend.distributed import SOLO, Group, Rank, Recipe, Solo
from core.backend.trainer_state import TRAINER_STATE, read_trainer_state, write_trainer_state
from core.backend.training import (MAX_REPORTED_STEPS, Note, OnEpochEnd, OnStep, StepMetrics, TrainingDataError,
                                   label_order, linear_warmup_decay)
from core.backend.transformer.auto import (BASE_LEARNING_RATE, MAX_LENGTH, auto_hyperparameters, auto_max_length,
                                           base_learning_rate)
from core.backend.transformer.device import DevicesError, autocast, is_oom, pick_device
from core.backend.transformer.forward import pad_batch
from core.backend.transformer.model import TransformerModel
from core.backend.transformer.weights import BaseModelError, load_classifier, load_tokenizer, require, resolve_source

WARMUP_FRACTION = 0.1
WEIGHT_DECAY = 0.01
MAX_GRAD_NORM = 1.0
VALID_EVERY = 10              # a validation batch every this many steps: a forward pass is ~1/3 of a train step
EVALS_PER_EPOCH = 3           # early stopping looks at validation this often...
PATIENCE_EVALS = 3            # ...and stops after this many looks without a better objective (one epoch)
EVAL_SAMPLE = 600             # validation examples each look scores (the final choice uses all of them)
HOLDOUT, MIN_FOR_HOLDOUT = 0.1, 50   # without a validation file, this share of training is held out
# "auto" class weighting without a second fine-tune: train unweighted, then subtract tau * log(label prior)
# from the logits, tau chosen on validation by the objective (0 = no correction, 1 = a balanced prior)
PRIOR_CORRECTIONS = (0.0, 0.25, 0.5, 0.75, 1.0)
RANK_SEED = 100_003           # rank r's dropout seed is rank 0's plus r times this


class TransformerTrainer:
    """Fine-tunes one base model on (text, label) examples, by the runner's Trainer protocol."""

    def __init__(self, model_id: str, train_examples: Sequence, valid_examples: Sequence = (),
                 requested: dict | None = None, seed: int = 0) -> None:
        require(model_id)
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
        self.parallel: Solo | Rank = SOLO   # a spawned rank's Rank; rank 0's while train() runs on several devices
        self.live: TransformerModel | None = None   # set up by setup(); self.live_model where it must be
        # early stopping's record: looks so far, the best objective and its loss, looks since it, valid cursor
        self._record: dict = {}
        self._best_state: dict | None = None
        self.closing_notes: list[str] = []

    def _wants_validation(self) -> bool:
        r = self.requested
        return (r.get("n_epochs", "auto") in (None, "auto") or r.get("class_weight", "auto") in (None, "auto")
                or r.get("early_stopping") is True)

    def _decide(self, hp: dict) -> None:
        self.n_epochs: int = int(hp["n_epochs"])
        self.batch_size: int = int(hp["batch_size"])
        self.hp: dict[str, int | float] = {"n_epochs": self.n_epochs, "batch_size": self.batch_size,
                                           "learning_rate_multiplier": float(hp["learning_rate_multiplier"])}
        self.class_weight = hp.get("class_weight", "none")
        self.lr = float(hp.get("learning_rate", BASE_LEARNING_RATE)) * self.hp["learning_rate_multiplier"]
        self.steps_per_epoch = math.ceil(self.n / self.batch_size)
        self.total_steps = self.steps_per_epoch * self.n_epochs
        self.stride = max(1, math.ceil(self.total_steps / MAX_REPORTED_STEPS))
        self.warmup = int(WARMUP_FRACTION * self.total_steps)

    def hyperparameters(self) -> dict:
        return dict(self.hp)

    @property
    def live_model(self) -> TransformerModel:
        if self.live is None:
            raise RuntimeError("the encoder trainer's model is loaded by setup(), which has not run")
        return self.live

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
            if is_oom(exc):
                raise BaseModelError(f"{self.model_id} does not fit in {self.device.type} memory") from None
            raise
        self.live = TransformerModel(self.classes, model, self.tokenizer, data_format=self.data_format,
                                     base_model=self.model_id, max_length=self.max_length, device=self.device,
                                     amp_dtype=self.amp_dtype)
        index = {c: i for i, c in enumerate(self.classes)}
        self.ids = self.live_model.encode(texts)
        self.y = np.array([index[e.label] for e in self.train_examples])
        known = [e for e in self.valid_examples if e.label in index]   # a label never trained on cannot be scored
        self.valid_ids = self.live_model.encode([e.text for e in known]) if known else []
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
        model = model or self.live_model
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
        best = (-math.inf, 0.0, math.inf)   # the first correction is always taken, even if its value is NaN
        for i, tau in enumerate(taus):
            adjusted = z - tau * self.log_prior
            value = objectives.score(self.objective, y, adjusted.argmax(axis=1), self.classes)
            loss = float(-self._log_proba(adjusted)[np.arange(len(y)), y].mean())
            if i == 0 or value > best[0] + 1e-12:
                best = (value, tau, loss)
        return best

    def _look(self) -> tuple[float, float]:
        """One early-stopping look: (objective with its best correction, validation loss) on a fixed sample."""
        ids = [self.valid_ids[i] for i in self.eval_rows]
        z = self.live_model.logits(ids).astype(np.float64)
        value, _, loss = self._best_correction(z, self.valid_y[self.eval_rows])
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
            if not is_oom(exc):
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
        self.live_model.model.load_state_dict(saved.state_dict())
        state = read_trainer_state(resume / TRAINER_STATE, self.device)
        if state is None:
            return   # a checkpoint of an earlier version: weights only, AdamW starts again
        optimizer.load_state_dict(state.optimizer)
        self._record = state.record
        self._best_state = state.best

    def _write_checkpoint(self, optimizer) -> Callable[[Path], None]:
        def write(directory: Path) -> None:
            self.live_model.save(directory)
            write_trainer_state(Path(directory) / TRAINER_STATE, optimizer.state_dict(), self._record,
                                self._best_state)
        return write

    def _train(self, start_epoch: int, resume: Path | None, on_step, on_epoch_end) -> TransformerModel:
        """The loop every rank runs; rank 0 returns the job's model, a spawned rank its replica (dropped)."""
        import torch
        import torch.nn.functional as F

        par = self.parallel
        model = self.live_model.model
        model.train()
        optimizer = self._optimizer(model)
        self._record = {"looks": 0, "best": None, "best_loss": None, "since": 0, "valid_cursor": 0,
                        "best_step": 0}
        self._best_state = None
        if resume is not None:
            self._restore(Path(resume), optimizer)   # every rank: the same weights and AdamW moments
        net = par.wrap(model)   # after the restore: DDP starts every rank from rank 0's weights
        offset = start_epoch * self.steps_per_epoch
        schedule = linear_warmup_decay(optimizer, self.lr, self.warmup, self.total_steps, done=offset)
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
                input_ids, mask = pad_batch([self.ids[i] for i in mine], pad_id, self.device)
                labels = torch.as_tensor(self.y[mine], device=self.device)
                with autocast(self.device, self.amp_dtype):
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
                            self.live_model, [self.valid_ids[i] for i in take], self.valid_y[take])
                stop = False
                if par.main:
                    if self.early_stopping and (step % look_every == 0 or step == self.total_steps):
                        stop = self._early_stop(step)
                    if on_step is not None and on_step(metrics, reported) is False:
                        stop = True
                if par.agree(stop):
                    return self._final() if par.main else self.live_model
            if par.main and on_epoch_end is not None:
                on_epoch_end(epoch, (epoch + 1) * self.steps_per_epoch, self._write_checkpoint(optimizer))
        return self._final() if par.main else self.live_model

    def _early_stop(self, step: int) -> bool:
        """A look at validation; keeps the best weights. True once PATIENCE_EVALS looks brought nothing better."""
        from core.backend import objective as objectives

        value, loss = self._look()
        self.live_model.model.train()
        r = self._record
        r["looks"] += 1
        better = r["best"] is None or value > r["best"] + 1e-9 or (
            abs(value - r["best"]) <= 1e-9 and loss < r["best_loss"])
        if better:
            r.update(best=value, best_loss=loss, since=0, best_step=step)
            self._best_state = {k: v.detach().to("cpu", copy=True) for k, v in self.live_model.model.state_dict().items()}
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
            self.live_model.model.load_state_dict(self._best_state)
            if not any("Early stopping" in n for n in self.closing_notes):
                self.closing_notes.append(f"Best validation {objectives.shown(self.objective, self._record['best'])} "
                                          f"at step {self._record['best_step']}: that model is kept")
        self.live_model.model.eval()
        if len(self.valid_y) and self.class_weight == "auto":
            z = self.live_model.logits(self.valid_ids).astype(np.float64)
            value, tau, _ = self._best_correction(z, self.valid_y)
            plain = objectives.score(self.objective, self.valid_y, z.argmax(axis=1), self.classes)
            self.live_model.logit_bias = -tau * self.log_prior
            self.closing_notes.append(
                f"Class weighting (auto): prior correction {tau:g} chosen on validation "
                f"({objectives.shown(self.objective, value)}; without it {objectives.shown(self.objective, plain)})")
        return self.live_model


def make_trainer(model_id: str) -> Callable[[Sequence, Sequence, dict, int], TransformerTrainer]:
    """The registry's factory for one base model id: (train, valid, requested, seed) -> trainer."""

    def factory(train_examples: Sequence, valid_examples: Sequence, requested: dict, seed: int) -> TransformerTrainer:
        return TransformerTrainer(model_id, train_examples, valid_examples, requested, seed)

    return factory
