"""A loop in a daemon thread of the process that holds the backend, woken early when there is work and
stopped on request: what the job runner and the batch worker each are."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.backend.store import Leases, Store


class Background:
    """Subclasses set ``thread_name`` and write ``_loop``, which runs until ``_stop`` is set and waits on
    ``_wake`` between looks."""

    thread_name = "startune-local"

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def _loop(self) -> None:
        raise NotImplementedError

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, name=self.thread_name, daemon=True)
            self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None


class LeaseLoop(Background):
    """A Background that works leased rows (core.backend.store.Leases), one at a time: the oldest waiting row
    among ``statuses``, worked by ``work`` until it ends or ``stopped`` is raised (the row is let go as it
    is), then released for the next process. Subclasses set ``store``, ``leases``, ``statuses``, ``stopped``,
    ``owner``, ``lease`` and ``poll`` before ``super().__init__()``."""

    store: Store
    leases: Leases
    statuses: tuple[str, ...]
    stopped: type[Exception]
    owner: str
    lease: float
    poll: float

    def work(self, item: dict) -> None:
        raise NotImplementedError

    def crashed(self, item_id: str, exc: Exception) -> None:
        """Mark the row failed after ``work`` raised something unexpected."""
        raise NotImplementedError

    def _loop(self) -> None:
        try:
            while not self._stop.is_set():
                item = self.leases.claim(self.owner, self.lease, self.statuses)
                if item is None:
                    self._wake.wait(self.poll * 5)
                    self._wake.clear()
                    continue
                try:
                    self.work(item)
                except self.stopped:
                    pass
                except Exception as exc:  # a bug must fail the row, never leave it running forever
                    self.crashed(item["id"], exc)
                finally:
                    self.leases.release(item["id"], self.owner)
        finally:
            self.store.close()
