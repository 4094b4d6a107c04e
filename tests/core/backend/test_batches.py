"""OpenAI's Batch API on the local backend, through the real openai client (responses checked against the spec)."""

from __future__ import annotations

import asyncio
import time

import openai
import orjson
import pytest

from core.backend import LOCAL_BASE_MODEL
from core.backend.embedded import EmbeddedBackend
from tests.core.backend.helpers import wait_for
from tests.fixtures.backend import write_chat_jsonl
from tests.fixtures.data import REVIEWS


def _chat(text: str, model: str, **extra) -> dict:
    return {"model": model, "messages": [{"role": "user", "content": text}], "temperature": 0, "max_tokens": 5,
            "logprobs": True, "top_logprobs": 5, **extra}


def _input(path, bodies: list[dict], url: str = "/v1/chat/completions"):
    lines = [orjson.dumps({"custom_id": f"r{i}", "method": "POST", "url": url, "body": b}) for i, b in enumerate(bodies)]
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


async def _wait(client, batch_id: str, statuses=("completed", "failed", "cancelled", "expired"), timeout=60.0):
    deadline = time.monotonic() + timeout
    while True:
        batch = await client.batches.retrieve(batch_id)
        if batch.status in statuses:
            return batch
        assert time.monotonic() < deadline, f"batch {batch_id} still {batch.status} after {timeout}s"
        await asyncio.sleep(0.05)


async def _lines(client, file_id: str | None) -> dict[str, dict]:
    if file_id is None:
        return {}
    raw = (await client.files.content(file_id)).content
    items = [orjson.loads(line) for line in raw.splitlines() if line.strip()]
    out = {item["custom_id"]: item for item in items}
    assert len(out) == len(items), "a custom_id answered twice"
    return out


def _same(a: dict, b: dict) -> None:
    """Two chat completions that answer alike (ids and times differ by nature)."""
    for key in ("choices", "usage", "model", "object"):
        assert a[key] == b[key], key


async def test_batch_lifecycle_matches_direct_answers(api, tmp_path):
    train = await api.files.create(file=write_chat_jsonl(tmp_path / "train.jsonl", 60), purpose="fine-tune")
    job = await api.fine_tuning.jobs.create(model="startune-local", training_file=train.id, seed=1)
    model = (await wait_for(api, job.id)).fine_tuned_model
    texts = [f"{text} (batch {i})" for i, (text, _) in enumerate(REVIEWS * 3)]
    bodies = [_chat(t, model) for t in texts] + [_chat("fine", model, temperature=7), _chat("fine", "ft:nope")]
    upload = await api.files.create(file=_input(tmp_path / "in.jsonl", bodies), purpose="batch")
    batch = await api.batches.create(input_file_id=upload.id, endpoint="/v1/chat/completions",
                                     completion_window="24h", metadata={"run": "test"})
    assert batch.status == "validating" and batch.metadata == {"run": "test"}
    done = await _wait(api, batch.id)
    assert done.status == "completed", done.errors
    assert done.request_counts.total == len(bodies)
    assert (done.request_counts.completed, done.request_counts.failed) == (len(texts), 2)
    assert done.completed_at and done.in_progress_at and done.finalizing_at and done.model == model
    outputs, errors = await _lines(api, done.output_file_id), await _lines(api, done.error_file_id)
    assert set(outputs) == {f"r{i}" for i in range(len(texts))}
    for i, text in enumerate(texts):
        direct = (await api.chat.completions.with_raw_response.create(**_chat(text, model))).http_response.json()
        line = outputs[f"r{i}"]
        assert line["response"]["status_code"] == 200 and line["error"] is None
        _same(line["response"]["body"], direct)
    bad = errors[f"r{len(texts)}"]["response"]
    assert bad["status_code"] == 400 and bad["body"]["error"]["param"] == "temperature"
    assert errors[f"r{len(texts) + 1}"]["response"]["status_code"] == 404
    assert done.usage.input_tokens > 0 and done.usage.total_tokens == done.usage.input_tokens + done.usage.output_tokens

    listed = await api.batches.list(limit=10)
    assert [b.id for b in listed.data] == [batch.id]
    with pytest.raises(openai.BadRequestError):
        await api.batches.cancel(batch.id)  # completed: nothing to cancel
    with pytest.raises(openai.NotFoundError):
        await api.batches.retrieve("batch_nope")
    with pytest.raises(openai.BadRequestError, match="purpose"):
        await api.batches.create(input_file_id=train.id, endpoint="/v1/chat/completions", completion_window="24h")
    with pytest.raises(openai.BadRequestError, match="local backend runs batches"):
        await api.batches.create(input_file_id=upload.id, endpoint="/v1/embeddings", completion_window="24h")
    with pytest.raises(openai.NotFoundError):
        await api.batches.create(input_file_id="file-nope", endpoint="/v1/chat/completions", completion_window="24h")


async def test_completions_batch_and_an_invalid_file(tmp_path, conformance):
    async with EmbeddedBackend(tmp_path / "b", lease=2.0) as backend:
        client = backend.client()
        client._client.event_hooks["response"].append(conformance.hook)
        bodies = [{"model": LOCAL_BASE_MODEL, "prompt": [text, text + " again"], "max_tokens": 1, "logprobs": 2}
                  for text, _ in REVIEWS[:4]]
        upload = await client.files.create(file=_input(tmp_path / "in.jsonl", bodies, "/v1/completions"),
                                           purpose="batch")
        done = await _wait(client, (await client.batches.create(
            input_file_id=upload.id, endpoint="/v1/completions", completion_window="24h")).id)
        assert done.status == "completed" and done.request_counts.completed == 4
        outputs = await _lines(client, done.output_file_id)
        direct = (await client.completions.with_raw_response.create(**bodies[2])).http_response.json()
        assert outputs["r2"]["response"]["body"]["choices"] == direct["choices"]

        # a file that is not a batch of this endpoint fails the batch at validation, naming the lines
        raw = _input(tmp_path / "bad.jsonl", [_chat("a", LOCAL_BASE_MODEL)] * 2).read_bytes()
        raw += b"not json\n"
        (tmp_path / "bad.jsonl").write_bytes(raw.replace(b'"r1"', b'"r0"'))
        upload = await client.files.create(file=tmp_path / "bad.jsonl", purpose="batch")
        failed = await _wait(client, (await client.batches.create(
            input_file_id=upload.id, endpoint="/v1/chat/completions", completion_window="24h")).id)
        assert failed.status == "failed" and failed.failed_at
        assert [(e.code, e.line) for e in failed.errors.data] == [("duplicate_custom_id", 2), ("invalid_json_line", 3)]


async def test_cancelled_batch_ends_with_its_partial_output(tmp_path):
    async with EmbeddedBackend(tmp_path / "b", lease=2.0) as backend:
        backend.app.state.backend.batch_worker.chunk, backend.app.state.backend.batch_worker.pace = 4, 0.05
        client = backend.client()
        bodies = [_chat(f"{text} {i}", LOCAL_BASE_MODEL) for i, (text, _) in enumerate(REVIEWS * 20)]
        upload = await client.files.create(file=_input(tmp_path / "in.jsonl", bodies), purpose="batch")
        batch = await client.batches.create(input_file_id=upload.id, endpoint="/v1/chat/completions",
                                            completion_window="24h")
        deadline = time.monotonic() + 60
        while (await client.batches.retrieve(batch.id)).request_counts.completed == 0:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.02)
        cancelling = await client.batches.cancel(batch.id)
        assert cancelling.status == "cancelling" and cancelling.cancelling_at
        done = await _wait(client, batch.id)
        assert done.status == "cancelled" and done.cancelled_at
        outputs = await _lines(client, done.output_file_id)
        assert 0 < len(outputs) == done.request_counts.completed < len(bodies)
        assert set(outputs) == {f"r{i}" for i in range(len(outputs))}  # the first requests, in order
        assert (await client.batches.cancel(batch.id)).status == "cancelled"  # cancelling again changes nothing


async def test_batch_survives_a_restart_of_the_backend(tmp_path):
    data = tmp_path / "b"
    bodies = [_chat(f"{text} {i}", LOCAL_BASE_MODEL) for i, (text, _) in enumerate(REVIEWS * 10)]
    first = EmbeddedBackend(data, lease=1.0)
    worker = first.app.state.backend.batch_worker
    worker.chunk, worker.pace = 3, 0.05
    client = first.client()
    upload = await client.files.create(file=_input(tmp_path / "in.jsonl", bodies), purpose="batch")
    batch = await client.batches.create(input_file_id=upload.id, endpoint="/v1/chat/completions",
                                        completion_window="24h")
    deadline = time.monotonic() + 60
    while (await client.batches.retrieve(batch.id)).request_counts.completed < 6:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.02)
    await first.aclose()  # the process goes away mid-batch
    second = EmbeddedBackend(data, lease=1.0)
    # paced as the first was: unpaced, the new worker can finish the rest before the first look below
    second.app.state.backend.batch_worker.chunk, second.app.state.backend.batch_worker.pace = 3, 0.05
    async with second:
        client = second.client()
        partial = await client.batches.retrieve(batch.id)
        assert partial.status == "in_progress" and 0 < partial.request_counts.completed < len(bodies)
        done = await _wait(client, batch.id)
        assert done.status == "completed" and done.request_counts.completed == len(bodies)
        outputs = await _lines(client, done.output_file_id)  # each request answered exactly once
        assert set(outputs) == {f"r{i}" for i in range(len(bodies))}


def test_a_model_is_loaded_once_however_many_first_requests_arrive_together(tmp_path, monkeypatch):
    """The batch worker and request threads ask for a model at the same moment; loading it in several threads
    at once imported transformers concurrently, which fails (ImportError from its lazy module)."""
    import threading

    import core.backend.inference as inference
    from core.backend.store import Store

    store = Store(tmp_path / "b")
    store.add_model({"id": "ft:x", "object": "model", "created": 0, "owned_by": "local"}, None, tmp_path / "m")
    loads, inside = [], []

    def slow_load(path):
        inside.append(1)
        assert len(inside) == 1, "two loads at once"
        time.sleep(0.05)
        loads.append(path)
        inside.pop()
        return object()

    monkeypatch.setattr(inference, "load_model", slow_load)
    cache = inference.ModelCache(store)
    got = []
    threads = [threading.Thread(target=lambda: got.append(cache.get("ft:x"))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(loads) == 1 and len(got) == 8 and len({id(m) for m in got}) == 1
