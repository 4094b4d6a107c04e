"""Running fine-tuning jobs: claim one, validate its files, train, emit events, checkpoint, finish.

A runner is a thread inside whatever process holds the backend (``startune serve`` or an embedded
backend in a CLI/TUI process). Jobs are claimed through a lease in the store, so two processes on
one data directory never train the same job; a lease that stops being renewed (the process died)
lets the next runner resume the job from its last checkpoint.
"""

from __future__ import annotations

import base64
import io
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.backend import LOCAL_ORG
from core.backend.background import LeaseLoop
from core.backend.ids import new_id
from core.backend.store import Store, process_owner
from core.backend.base_models import make_trainer
from core.backend.model_files import write_dir
from core.backend.training import StepMetrics, TrainedModel, Trainer, TrainingDataError
from core.settings import env
from core.status import ACTIVE, UNFINISHED



class JobStopped(Exception):
    """Raised inside training when the job was cancelled, paused or lost its lease."""


def event(level: str, message: str, *, type_: str = "message", data: dict | None = None) -> dict:
    return {"object": "fine_tuning.job.event", "id": new_id("ftevent-"), "created_at": int(time.time()),
            "level": level, "message": message, "type": type_, "data": data or {}}


class JobRunner(LeaseLoop):
    thread_name = "startune-local-trainer"

    def __init__(self, store: Store, *, pace: float = 0.0, lease: float = 15.0, poll: float = 0.1,
                 devices: str | int | None = None) -> None:
        self.store = store
        self.leases, self.statuses, self.stopped = store.job_leases, ACTIVE, JobStopped
        # the devices setting (core/backend/devices.py); None: STARTUNE_DEVICES, read when a job starts
        self.devices = devices
        self.pace = pace
        self.lease = lease
        self.poll = poll
        self.owner = process_owner()
        super().__init__()
        self.on_stop: list[Callable[[], None]] = []  # other threads on this store, stopped before it closes

    # -- thread control -------------------------------------------------------------------
    def stop(self, timeout: float = 10.0) -> None:
        super().stop(timeout)
        for stop in self.on_stop:
            stop()
        self.store.close()

    def work(self, item: dict) -> None:
        self.run_job(item)

    def crashed(self, item_id: str, exc: Exception) -> None:
        self._fail(item_id, "server_error", f"internal error while training: {exc.__class__.__name__}: {exc}")

    # -- helpers --------------------------------------------------------------------------
    def _emit(self, job_id: str, level: str, message: str, **kw) -> None:
        self.store.add_event(job_id, event(level, message, **kw))

    def _fail(self, job_id: str, code: str, message: str, param: str | None = None) -> None:
        self.store.transition(job_id, UNFINISHED, "failed", event=event("error", message),
                              finished_at=int(time.time()), error={"code": code, "message": message, "param": param},
                              estimated_finish=None)

    def _fail_data(self, job_id: str, exc: TrainingDataError) -> None:
        # a base model that cannot load names the model, not the training file
        self._fail(job_id, getattr(exc, "code", "invalid_training_file"), str(exc),
                   getattr(exc, "param", "training_file"))

    def _check(self, job_id: str, last_renew: list[float]) -> None:
        """Between steps: honour cancel/pause and keep the lease alive."""
        status = self.store.status(job_id)
        if status != "running":
            raise JobStopped(status)
        now = time.monotonic()
        if now - last_renew[0] > self.lease / 3:
            if not self.leases.renew(job_id, self.owner, self.lease):
                raise JobStopped("lease lost")
            last_renew[0] = now
        if self._stop.is_set():
            raise JobStopped("shutting down")

    # -- the job --------------------------------------------------------------------------
    def run_job(self, job: dict) -> None:
        job_id = job["id"]
        if job["status"] == "validating_files":
            data = self._validate(job)
            if data is None:
                return
            self.store.transition(job_id, ("validating_files",), "queued",
                                  event=event("info", "Files validated, moving job to queued state"))
        else:
            data = self._load(job)
        resumed = job["status"] == "running"
        moved = self.store.transition(job_id, ("queued", "running"), "running")
        if moved is None:
            return
        job = moved
        train, valid = data
        last_renew = [time.monotonic()]
        # What the user asked for, kept apart from what the trainer resolved, so a resumed job decides
        # exactly as the first run did.
        requested = job.get("_requested") or job["method"]["supervised"]["hyperparameters"]
        decided = job.get("_decided") if resumed else None

        def note(message: str) -> None:
            if decided is None:
                self._emit(job_id, "info", message)

        try:
            trainer = make_trainer(job["model"], train, valid, requested, job["seed"])
            if hasattr(trainer, "devices"):   # a trainer that can train data-parallel
                trainer.devices = self.devices if self.devices is not None else env().startune_devices
            decided_now = trainer.setup(note, lambda: self._check(job_id, last_renew), decided)
        except TrainingDataError as exc:
            self._fail_data(job_id, exc)
            return
        hyper = trainer.hyperparameters()
        method = dict(job["method"], supervised={"hyperparameters": hyper})
        job = self.store.update_job(job_id, hyperparameters=hyper, method=method, _requested=requested,
                                    _decided=decided_now)
        trained_tokens = job.get("_tokens_per_epoch", 0) * hyper["n_epochs"]

        start_epoch, resume = 0, None
        checkpoints = self.store.list_checkpoints(job_id)
        if resumed and checkpoints:
            ckpt, path = checkpoints[0]
            resume = Path(path)
            start_epoch = ckpt["step_number"] // trainer.steps_per_epoch
            self._emit(job_id, "info", f"Job resumed from checkpoint at step {ckpt['step_number']} after a restart")
        elif resumed:
            self._emit(job_id, "info", "Job restarted from the beginning after a restart")
        else:
            self._emit(job_id, "info", "Fine-tuning job started")

        started = time.monotonic()
        first_step = start_epoch * trainer.steps_per_epoch + 1
        # After a restart, steps up to the last one reported are recomputed but not reported again:
        # their events exist already, and a follower must see each step once.
        self._results = [StepMetrics(**{k: v for k, v in d.items() if k in StepMetrics.__dataclass_fields__})
                         for d in self.store.metrics(job_id)] if resumed else []
        last_reported = self._results[-1].step if self._results else 0
        eta_written = [0.0]

        def on_step(m: StepMetrics | None, reported: bool) -> bool:
            self._check(job_id, last_renew)
            if reported and m is not None and m.step > last_reported:
                text = f"Step {m.step}/{m.total_steps}: training loss={m.train_loss:.4f}"
                if m.valid_loss is not None:
                    text += f", validation loss={m.valid_loss:.4f}"
                self._emit(job_id, "info", text, type_="metrics", data=m.to_dict())
                done = m.step - first_step + 1
                if done > 0 and time.monotonic() - eta_written[0] > 1.0:
                    eta_written[0] = time.monotonic()
                    rate = (time.monotonic() - started) / done
                    eta = int(time.time() + rate * (m.total_steps - m.step))
                    self.store.update_job(job_id, estimated_finish=eta)
                self._results.append(m)
            if self.pace:
                time.sleep(self.pace)
            return True

        def on_epoch_end(epoch: int, step: int, write: Callable[[Path], None]) -> None:
            self._checkpoint(job, step, write, self._results[-1] if self._results else None)

        try:
            model = trainer.train(start_epoch=start_epoch, resume=resume, on_step=on_step, on_epoch_end=on_epoch_end)
        except TrainingDataError as exc:   # e.g. out of memory: the job fails with the trainer's one line
            self._fail_data(job_id, exc)
            return
        self._check(job_id, last_renew)
        for message in getattr(trainer, "closing_notes", ()):
            self._emit(job_id, "info", message)
        self._finish(job, trainer, model, trained_tokens)

    def _validate(self, job: dict):
        from core.records.formats import read_examples
        from core.errors import DataError
        from core.validation.validate import validate_file

        job_id = job["id"]
        loaded: list[list] = []
        for param in ("training_file", "validation_file"):
            file_id = job.get(param)
            if not file_id:
                loaded.append([])
                continue
            # a fixed id: a restart during validation validates again but logs it once
            self.store.add_event(job_id, event("info", f"Validating {param.replace('_', ' ')}: {file_id}")
                                 | {"id": f"ftevent-{job_id.removeprefix('ftjob-')}-{param.split('_')[0]}"})
            path = self.store.file_path(file_id)
            if self.store.get_file(file_id) is None or not path.exists():
                self._fail(job_id, f"invalid_{param}", f"File {file_id} not found", param)
                return None
            try:
                report = validate_file(path, "startune-local")
            except DataError as exc:
                self._fail(job_id, f"invalid_{param}", str(exc).replace(str(path), file_id), param)
                return None
            if not report.ok:
                issue = report.first_error()
                where = f" on line {issue.line}" if issue and issue.line else ""
                kind = "Training" if param == "training_file" else "Validation"
                message = (f"{kind} file has {sum(report.error_counts.values())} format error(s); "
                           f"first{where}: {issue.message if issue else 'unknown'}")
                self._fail(job_id, f"invalid_{param}", message, param)
                return None
            try:
                loaded.append(list(read_examples(path)))
            except DataError as exc:
                self._fail(job_id, f"invalid_{param}", str(exc).replace(str(path), file_id), param)
                return None
            if param == "training_file":
                self.store.update_job(job_id, _tokens_per_epoch=report.billed_tokens_per_epoch)
        return loaded[0], loaded[1]

    def _load(self, job: dict):
        from core.records.formats import read_examples

        train = list(read_examples(self.store.file_path(job["training_file"])))
        valid = list(read_examples(self.store.file_path(job["validation_file"]))) if job.get("validation_file") else []
        return train, valid

    def _model_name(self, job: dict) -> str:
        return f"ft:{job['model']}:{LOCAL_ORG}:{job.get('suffix') or ''}:{job['id'].removeprefix('ftjob-')[:8]}"

    def _checkpoint(self, job: dict, step: int, write: Callable[[Path], None], metrics: StepMetrics | None) -> None:
        ckpt_id = new_id("ftckpt_")
        path = self.store.models_dir / ckpt_id
        write_dir(path, write)
        name = f"{self._model_name(job)}:ckpt-step-{step}"
        values = {"step": step}
        if metrics is not None:
            values.update({k: v for k, v in metrics.to_dict().items() if k != "total_steps"})
            values["step"] = step
        obj = {"object": "fine_tuning.job.checkpoint", "id": ckpt_id, "created_at": int(time.time()),
               "fine_tuned_model_checkpoint": name, "fine_tuning_job_id": job["id"], "step_number": step,
               "metrics": values}
        self.store.add_checkpoint(obj, path)
        self._emit(job["id"], "info", f"Checkpoint created at step {step}")

    def _finish(self, job: dict, trainer: Trainer[Any], model: TrainedModel, trained_tokens: int) -> None:
        job_id = job["id"]
        last = self._results[-1] if self._results else None
        full = trainer.valid_metrics(model)
        if full and last is not None:
            data = last.to_dict() | {"full_valid_loss": full[0], "full_valid_mean_token_accuracy": full[1]}
            self._emit(job_id, "info", f"Step {last.step}/{last.total_steps}: full validation loss={full[0]:.4f}",
                       type_="metrics", data=data)
        name = self._model_name(job)
        path = self.store.models_dir / job_id
        write_dir(path, model.save)
        self.store.add_model({"id": name, "object": "model", "created": int(time.time()), "owned_by": LOCAL_ORG},
                             job_id, path)
        self._emit(job_id, "info", f"New fine-tuned model created: {name}")
        result = self._result_file(job_id)
        self.store.transition(job_id, ("running",), "succeeded", event=event("info", "The job has successfully completed"),
                              fine_tuned_model=name, finished_at=int(time.time()), trained_tokens=trained_tokens,
                              result_files=[result], estimated_finish=None)

    def _result_file(self, job_id: str) -> str:
        """The CSV OpenAI produced, base64-encoded as its result files were."""
        from core.atomic import write_bytes

        buf = io.StringIO()
        buf.write("step,train_loss,train_accuracy,valid_loss,valid_mean_token_accuracy\n")
        for m in self._results:
            cells = [m.step, m.train_loss, m.train_mean_token_accuracy, m.valid_loss, m.valid_mean_token_accuracy]
            buf.write(",".join("" if v is None else (str(v) if isinstance(v, int) else f"{v:.6f}") for v in cells) + "\n")
        content = base64.b64encode(buf.getvalue().encode())
        file_id = new_id("file-")
        write_bytes(self.store.file_path(file_id), content)
        import hashlib

        self.store.add_file({"object": "file", "id": file_id, "purpose": "fine-tune-results",
                             "filename": "step_metrics.csv", "bytes": len(content), "created_at": int(time.time()),
                             "status": "processed"},
                            hashlib.sha256(content).hexdigest())
        return file_id
