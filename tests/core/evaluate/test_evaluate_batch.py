"""Evaluation through the Batch API on the local backend: the same answers as request by request, and a
batch sent before an interruption collected on the rerun."""

from __future__ import annotations

import asyncio

import pytest

from core.backend.embedded import EmbeddedBackend
from core.data.pipeline import PrepareOptions, prepare
from core.evaluate.runner import EvalOptions, eval_key, evaluate, _sha
from core.registry.db import Registry
from tests.core.backend.helpers import wait_for


@pytest.fixture(scope="module")
def build(tmp_path_factory, threads_csv):
    out = tmp_path_factory.mktemp("threads-batch-build")
    prepare(threads_csv, out, PrepareOptions(samples={"train": 1500, "val": 100, "test": 400}, seed=3))
    return out


async def test_batch_evaluation_equals_evaluation_by_requests(build, tmp_path):
    test = build / "test.jsonl"
    registry = Registry(tmp_path / "r.sqlite3")
    async with EmbeddedBackend(tmp_path / "b") as backend:
        client = backend.client()
        train = await client.files.create(file=build / "train.jsonl", purpose="fine-tune")
        job = await wait_for(client, (await client.fine_tuning.jobs.create(
            model="startune-local", training_file=train.id, seed=1)).id, timeout=120)
        model = job.fine_tuned_model
        seen = []
        by_requests = await evaluate(client, model, test, registry=registry, concurrency=8)
        by_batch = await evaluate(client, model, test, EvalOptions(limit=399), batch=True, poll_max=0.2,
                                  progress=lambda stage, done, total=None: seen.append((done, total)))
        batches = (await client.batches.list()).data
    assert len(batches) == 1 and batches[0].request_counts.completed == 399
    assert by_batch.answered_now == 399
    assert by_batch.answers == by_requests.answers[:399]  # text, label, label probabilities and tokens
    full = dict(by_requests.metrics)
    assert by_batch.metrics["with_label_probabilities"] == 399 and full["n"] == 400
    assert seen[-1] == (399, 399) and all(a <= b for (a, _), (b, _) in zip(seen, seen[1:]))


async def test_a_batch_sent_before_an_interruption_is_collected_after_a_restart(build, tmp_path):
    test = build / "test.jsonl"
    options = EvalOptions(limit=150)
    # the first process sends the batch, then goes away before any worker answers it
    async with EmbeddedBackend(tmp_path / "b", start_runner=False, start_batches=False) as backend:
        client = backend.client()
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(evaluate(client, "startune-local", test, options, batch=True, poll_max=0.2,
                                            registry=Registry(tmp_path / "r.sqlite3")), timeout=3)
        sent = (await client.batches.list()).data
    assert len(sent) == 1 and sent[0].status == "validating"
    key = eval_key("startune-local", _sha(test), options)
    assert [b["batch_id"] for b in Registry(tmp_path / "r.sqlite3").eval_batches("local", key)] == [sent[0].id]

    registry = Registry(tmp_path / "r.sqlite3")  # a new process: registry and backend opened afresh
    async with EmbeddedBackend(tmp_path / "b", start_runner=False, start_batches=True) as backend:
        client = backend.client()
        report = await evaluate(client, "startune-local", test, options, batch=True, poll_max=0.2, registry=registry)
        batches = (await client.batches.list()).data
        direct = await evaluate(client, "startune-local", test, options)
    assert [b.id for b in batches] == [sent[0].id]  # collected, not sent again
    assert batches[0].status == "completed" and report.answered_now == 150
    assert report.answers == direct.answers
    assert registry.eval_batches("local", key) == []  # collected once and for all


def test_the_command_batches_local_evaluations_and_prices_openai_batches_at_half(run_cli, tmp_path):
    import orjson

    from core.evaluate.batch import batch_price
    from tests.fixtures.backend import write_chat_jsonl

    data = write_chat_jsonl(tmp_path / "test.jsonl", 30)
    batched = run_cli("evaluate", "startune-local", "--data", data, "--json")
    assert batched.exit_code == 0, batched.output
    assert "30 examples through the Batch API" in batched.stderr
    direct = run_cli("evaluate", "startune-local", "--data", data, "--limit", "29", "--no-batch", "--json")
    assert direct.exit_code == 0, direct.output
    assert "29 examples by requests" in direct.stderr
    assert orjson.loads(batched.stdout)["answered_now"] == 30 and orjson.loads(direct.stdout)["answered_now"] == 29
    assert batch_price(0.0246, "openai") == 0.0123 and batch_price(0.0246, "compatible") == 0.0246
    assert batch_price(None, "azure") is None


def test_a_batch_is_looked_at_often_enough_to_be_seen_soon_after_it_ends():
    """At most a tenth of the time waited so far late (the doubling wait it replaced could be 50% late:
    a 6 s local batch seen at 8.5 s), never sooner than 50 ms, and no later than the pace says it ends."""
    from core.evaluate.batch import poll_delay

    assert poll_delay(0.0, 0, 100, 30.0) == 0.05
    assert poll_delay(6.0, 0, 100, 30.0) == pytest.approx(0.6)
    assert poll_delay(6.0, 95, 100, 30.0) == pytest.approx(6.0 * 5 / 95)    # the pace: 5 more at ~16/s
    assert poll_delay(3600.0, 0, 100, 30.0) == 30.0                          # OpenAI's hours-long batches
