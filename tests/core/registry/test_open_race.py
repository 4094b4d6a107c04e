"""Two processes creating the same fresh database at once both open it (issue 18)."""

from __future__ import annotations

import multiprocessing

ROUNDS = 50


def _opener(kind: str, folder: str, barrier, worker: int, errors) -> None:
    from pathlib import Path

    for i in range(ROUNDS):
        barrier.wait(30)  # both processes start each round together, on a database nobody created yet
        try:
            if kind == "registry":
                from core.registry.db import Registry

                Registry(Path(folder) / f"r{i}.sqlite3").close()
            else:
                from core.backend.store import Store

                Store(Path(folder) / f"b{i}").close()
        except Exception as exc:  # noqa: BLE001 - the test reports any failure to open
            errors.put(f"worker {worker}, round {i}: {exc.__class__.__name__}: {exc}")


def _race(kind: str, folder) -> list[str]:
    ctx = multiprocessing.get_context("fork")
    barrier, errors = ctx.Barrier(2), ctx.Queue()
    workers = [ctx.Process(target=_opener, args=(kind, str(folder), barrier, w, errors)) for w in (1, 2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(120)
    found = []
    while not errors.empty():
        found.append(errors.get())
    assert [w.exitcode for w in workers] == [0, 0]
    return found


def test_two_processes_create_one_registry_at_once(tmp_path):
    assert _race("registry", tmp_path) == []


def test_two_processes_create_one_backend_database_at_once(tmp_path):
    assert _race("store", tmp_path) == []
