"""A transformer job trained data-parallel on several devices, by torch.distributed.

Rank 0 is the job runner's own thread: it calls back the runner exactly as a one-device job does, so
events, checkpoints, the result file, cancel and the lease stay where they were and are written once.
Ranks 1..N-1 are processes started by torch.multiprocessing (spawn); each rebuilds the same trainer
from the job's examples and the choices rank 0 made, then trains its share of every batch. The
engine is torch's: DistributedDataParallel averages the gradients (nccl between GPUs, gloo on a CPU).

Sharding keeps the job the job: every optimiser step takes the same global batch a one-device job
takes (the seeded, length-grouped batches of ``TransformerTrainer.batches``) and rank r computes its
r-th interleaved slice. DistributedSampler would instead give each rank a batch of its own (N times the
batch, 1/N of the steps): another job, with other events and other results. Here step counts, events
and checkpoints are the one-device job's, a job checkpointed on 2 devices resumes on 1 or 4, and
without dropout the numbers agree up to float rounding (tests/core/backend/test_distributed.py).

Validation is scored on rank 0 only (the model is the same on every rank after each step), and its
decisions (early stopping, a cancel) reach the other ranks in one broadcast per step.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from pathlib import Path

from core.backend.training import TrainingDataError

READY_TIMEOUT = 20 * 60          # a rank's setup (load the model, tokenise) may take this long
GRACE = 5.0                      # seconds a rank gets to leave on its own before it is terminated
KEY = "startune/ready/{}"
# one distributed job per process at a time: torch.distributed has one default group per process
_one_job = threading.Lock()


class Solo:
    """One device: the collectives are identities."""

    rank, world, main = 0, 1, True

    def wrap(self, model):
        return model

    def shard(self, batch: Sequence[int]):
        return batch, 1.0

    def all_sum(self, tensor):
        return tensor

    def agree(self, stop: bool) -> bool:
        return stop


SOLO = Solo()


@dataclass
class Rank:
    """This process's place in the group, and the few collectives the training loop makes."""

    rank: int
    world: int
    backend: str                    # "nccl" | "gloo"
    device: object                  # torch.device

    @property
    def main(self) -> bool:
        return self.rank == 0

    def wrap(self, model):
        from torch.nn.parallel import DistributedDataParallel

        ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(model, device_ids=ids)

    def shard(self, batch: Sequence[int]):
        """This rank's slice of the global batch, and 1.0 (or 0.0 when the batch has fewer examples than
        ranks: the rank still runs forward and backward, as DDP needs every rank to, on one example
        weighted 0)."""
        mine = batch[self.rank :: self.world]
        return (mine, 1.0) if len(mine) else (batch[:1], 0.0)

    def all_sum(self, tensor):
        import torch.distributed as dist

        tensor = tensor.clone()
        dist.all_reduce(tensor)
        return tensor

    def agree(self, stop: bool) -> bool:
        """Rank 0's word on stopping after this step, the same on every rank."""
        import torch
        import torch.distributed as dist

        flag = torch.tensor([1 if stop else 0], dtype=torch.int32, device=self.device)
        dist.broadcast(flag, src=0)
        return bool(flag.item())


@dataclass
class Recipe:
    """What a rank needs to rebuild rank 0's trainer: the job's inputs and the choices already made."""

    trainer: type              # the trainer class (pickled by name): given, so this module needs no trainer
    model_id: str
    train_examples: list
    valid_examples: list
    requested: dict
    seed: int
    decided: dict
    device_type: str
    threads: int
    start_epoch: int = 0
    resume: str | None = None


def backend_for(device_type: str) -> str:
    return "nccl" if device_type == "cuda" else "gloo"


def rank_device(device_type: str, rank: int):
    import torch

    if device_type == "cuda":
        torch.cuda.set_device(rank)   # one process per GPU: rank r owns cuda:r
        return torch.device("cuda", rank)
    return torch.device(device_type)


class Group:
    """Rank 0 here, ranks 1..N-1 spawned; ``with`` it around the training loop."""

    def __init__(self, recipe: Recipe, world: int, check: Callable[[], None] = lambda: None) -> None:
        self.recipe, self.world, self.check = recipe, world, check
        self.context: Any = None   # torch.multiprocessing's ProcessContext once started
        self.rank: Rank | None = None
        self._threads: int | None = None

    def __enter__(self) -> Rank:
        import datetime

        import torch
        import torch.distributed as dist
        import torch.multiprocessing as mp

        while not _one_job.acquire(timeout=0.5):   # another backend in this process trains on several devices
            self.check()
        try:
            backend = backend_for(self.recipe.device_type)
            store = dist.TCPStore("127.0.0.1", 0, self.world, is_master=True, wait_for_workers=False,
                                  timeout=datetime.timedelta(seconds=READY_TIMEOUT))
            if self.recipe.device_type == "cpu":
                # N processes share the cores: each takes its part, or they fight over them
                self._threads = torch.get_num_threads()
                torch.set_num_threads(self.recipe.threads)
            self.context = mp.start_processes(_worker, args=(store.port, self.world, self.recipe),
                                              nprocs=self.world - 1, join=False, start_method="spawn")
            self._wait_ready(store)
            device = rank_device(self.recipe.device_type, 0)
            dist.init_process_group(backend, store=store, rank=0, world_size=self.world,
                                    **({"device_id": device} if device.type == "cuda" else {}))
            self.rank = Rank(0, self.world, backend, device)
            return self.rank
        except BaseException:
            self._close(failed=True)
            raise

    def _wait_ready(self, store) -> None:
        """Until every rank has set up: a rank that fails on the way fails the job with its own error,
        rather than leaving rank 0 waiting in a collective."""
        keys = [KEY.format(r) for r in range(1, self.world)]
        deadline = time.monotonic() + READY_TIMEOUT
        while not store.check(keys):
            self._raise_if_failed(0.2)
            self.check()
            if time.monotonic() > deadline:
                raise RuntimeError(f"the other {self.world - 1} device process(es) did not start in "
                                   f"{READY_TIMEOUT // 60} min")

    def _raise_if_failed(self, timeout: float) -> None:
        from torch.multiprocessing import ProcessExitedException, ProcessRaisedException

        try:
            self.context.join(timeout=timeout, grace_period=GRACE)
        except ProcessRaisedException as exc:
            last = [line for line in str(exc).strip().splitlines() if line.strip()][-1].strip()
            kind, _, message = last.partition(": ")
            if kind.endswith("TrainingDataError"):   # out of memory on that GPU: the line one device gives
                raise TrainingDataError(f"device process {exc.error_index + 1}: {message}") from None
            raise RuntimeError(f"device process {exc.error_index + 1} failed: {last}") from None
        except ProcessExitedException as exc:
            raise RuntimeError(f"device process {exc.error_index + 1} {str(exc).split(' ', 2)[-1]}") from None

    def __exit__(self, kind, exc, tb) -> None:
        if kind is None:
            self._close(failed=False)
            return
        try:
            # a collective that failed because a rank died says less than that rank's own error
            if isinstance(exc, RuntimeError) and self.context is not None:
                self._raise_if_failed(GRACE)
        finally:
            self._close(failed=True)

    def _close(self, failed: bool) -> None:
        import torch
        import torch.distributed as dist

        try:
            if self.context is not None:
                if not failed:
                    deadline = time.monotonic() + 60
                    while not self.context.join(timeout=1.0, grace_period=GRACE):
                        if time.monotonic() > deadline:
                            failed = True
                            break
                if failed:
                    for process in self.context.processes:
                        if process.is_alive():
                            process.terminate()
                    for process in self.context.processes:
                        process.join(GRACE)
                        if process.is_alive():
                            process.kill()
                            process.join()
        finally:
            if dist.is_initialized():
                dist.destroy_process_group()
            if self._threads is not None:
                torch.set_num_threads(self._threads)
            self.context = None
            _one_job.release()


def _worker(index: int, port: int, world: int, recipe: Recipe) -> None:
    """Rank index + 1, in a process of its own: the same trainer, its share of each batch, no callbacks."""
    import datetime

    import torch
    import torch.distributed as dist

    rank = index + 1
    torch.set_num_threads(recipe.threads)
    store = dist.TCPStore("127.0.0.1", port, world, is_master=False,
                          timeout=datetime.timedelta(seconds=READY_TIMEOUT))
    device = rank_device(recipe.device_type, rank)
    trainer = recipe.trainer(recipe.model_id, recipe.train_examples, recipe.valid_examples,
                                 recipe.requested, recipe.seed)
    trainer.parallel = Rank(rank, world, backend_for(recipe.device_type), device)
    trainer.setup(lambda message: None, lambda: None, recipe.decided)
    store.set(KEY.format(rank), "1")
    dist.init_process_group(trainer.parallel.backend, store=store, rank=rank, world_size=world,
                            **({"device_id": device} if device.type == "cuda" else {}))
    try:
        trainer.train(start_epoch=recipe.start_epoch, resume=Path(recipe.resume) if recipe.resume else None)
    finally:
        dist.destroy_process_group()
