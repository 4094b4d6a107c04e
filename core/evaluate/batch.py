"""Sending an evaluation's requests through OpenAI's Batch API (OpenAI at half price; the local backend
scores a chunk of texts per call), and collecting the answers.

Each batch's id is kept in the registry the moment it is created, so an interrupted evaluation,
rerun, collects the batches it already sent instead of paying for them twice.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import orjson

from core.errors import BackendError
from core.memory import collector_paused
from core.progress import ProgressFn

MAX_REQUESTS = 50_000                 # OpenAI's limits on one batch input file
MAX_BYTES = 190 * 1024 * 1024         # (200 MB), with room to spare
TERMINAL = ("completed", "failed", "expired", "cancelled")
ENDPOINTS = {"chat": "/v1/chat/completions", "completion": "/v1/completions"}


def _chunks(lines: list[tuple[int, bytes]]) -> list[list[tuple[int, bytes]]]:
    out: list[list[tuple[int, bytes]]] = []
    current: list[tuple[int, bytes]] = []
    size = 0
    for item in lines:
        if current and (len(current) >= MAX_REQUESTS or size + len(item[1]) > MAX_BYTES):
            out.append(current)
            current, size = [], 0
        current.append(item)
        size += len(item[1]) + 1
    if current:
        out.append(current)
    return out


async def send_and_collect(client, todo: list[int], build: Callable[[int], tuple[str, dict]],
                           answer_of: Callable[[str, dict], dict], *, registry=None, key: str, backend: str,
                           progress: ProgressFn, done_before: int, total: int, poll_max: float = 30.0) -> dict[int, dict]:
    """Answers for the ``todo`` indices: from batches this evaluation sent before (kept in the registry), then
    from new batches for the rest. Requests a batch did not answer (an error, a cancelled or expired batch)
    are left out: the caller asks them one by one."""
    import openai

    pending = registry.eval_batches(backend, key) if registry is not None else []
    covered = {i for b in pending for i in b["indices"]}
    wanted = set(todo)
    kinds: dict[int, str] = {}
    fresh: dict[str, list[tuple[int, bytes]]] = {}
    for i in todo:
        kind, body = build(i)
        kinds[i] = kind
        if i not in covered:
            line = orjson.dumps({"custom_id": str(i), "method": "POST", "url": ENDPOINTS[kind], "body": body})
            fresh.setdefault(kind, []).append((i, line))
    for b in pending:
        for i in b["indices"]:
            kinds.setdefault(i, build(i)[0])
    for kind, lines in fresh.items():
        for chunk in _chunks(lines):
            content = b"\n".join(line for _, line in chunk) + b"\n"
            upload = await client.files.create(file=("evaluation-batch.jsonl", content), purpose="batch")
            batch = await client.batches.create(input_file_id=upload.id, endpoint=ENDPOINTS[kind],
                                                completion_window="24h", metadata={"startune_evaluation": key})
            indices = [i for i, _ in chunk]
            if registry is not None:
                registry.add_eval_batch(backend, batch.id, key, indices)
            pending.append({"batch_id": batch.id, "indices": indices})

    answers: dict[int, dict] = {}
    counted: dict[str, int] = {}
    expected = sum(len(b["indices"]) for b in pending)
    started = time.monotonic()
    while pending:
        for item in list(pending):
            try:
                batch = await client.batches.retrieve(item["batch_id"])
            except openai.NotFoundError:
                batch = None  # gone (another key, a deleted backend): ask its requests again
            if batch is not None and batch.request_counts is not None:
                counted[item["batch_id"]] = batch.request_counts.completed + batch.request_counts.failed
            if batch is not None and batch.status not in TERMINAL:
                continue
            got = {}
            if batch is not None and batch.status == "failed" and not batch.output_file_id:
                first = (batch.errors.data or [None])[0] if batch.errors else None
                raise BackendError(f"batch {batch.id} failed: {getattr(first, 'message', None) or 'no reason given'}",
                                   hint="see it with the backend's batches API; rerun with --no-batch to ask one by one")
            if batch is not None and batch.output_file_id:
                raw = (await client.files.content(batch.output_file_id)).content
                with collector_paused():   # thousands of answers, no cycles (core.memory)
                    for line in raw.splitlines():
                        if not line.strip():
                            continue
                        item_out = orjson.loads(line)
                        response = item_out.get("response") or {}
                        custom = item_out.get("custom_id")
                        if (response.get("status_code") != 200 or not str(custom).isdigit()
                                or int(custom) not in wanted):
                            continue
                        idx = int(custom)
                        got[idx] = answer_of(kinds[idx], response["body"])
            if registry is not None:
                registry.collect_eval_batch(backend, item["batch_id"], got, key)
            answers.update(got)
            counted[item["batch_id"]] = len(item["indices"])
            pending.remove(item)
        progress("evaluate", min(total, done_before + sum(counted.values())), total)
        if pending:
            await asyncio.sleep(poll_delay(time.monotonic() - started, sum(counted.values()), expected, poll_max))
    return answers


def poll_delay(elapsed: float, done: int, total: int, poll_max: float) -> float:
    """How long to wait before the next look: a tenth of the time waited so far (a batch that ends just
    after a look is seen at most 10% late), and no longer than the pace so far says the rest will take."""
    delay = max(0.05, 0.1 * elapsed)
    if 0 < done < total:
        delay = min(delay, max(0.05, (total - done) * elapsed / done))
    return min(poll_max, delay)


def batch_price(usd: float | None, backend_kind: str) -> float | None:
    """What the evaluation costs through the Batch API: OpenAI and Azure bill half; the local backend nothing."""
    from core.jobs.backends import BACKENDS

    discount = BACKENDS[backend_kind].batch_discount
    return usd if usd is None or discount == 1.0 else round(usd * discount, 4)


__all__ = ["send_and_collect", "batch_price", "MAX_REQUESTS"]
