"""A loop in a daemon thread of the process that holds the backend, woken early when there is work and
stopped on request: what the job runner and the batch worker each are."""

from __future__ import annotations

import threading


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
