"""Benchmark evaluation throughput (run by hand, not in CI).

Against the in-process local backend, in this same run:
  bare:     an async loop sending the same chat requests with the same concurrency, nothing else;
  evaluate: core.evaluate.evaluate (prompt building, parsing, logprobs, rate limiter, registry writes).
Prints requests per second of both and their ratio (target at least 0.8x). Then evaluates with 15%
injected 429s and a client-side rate limit, and reports how many 429s reached the caller (target 0).

    python benchmarks/evaluate.py [--examples 2000] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
THREADS = REPO.parent / "shared" / "data" / "threads_reviews.csv"


async def bare(client, model: str, examples, concurrency: int) -> float:
    semaphore = asyncio.Semaphore(concurrency)

    async def one(example) -> None:
        async with semaphore:
            await client.chat.completions.create(model=model, messages=[{"role": "user", "content": example.text}],
                                                 temperature=0, max_tokens=5, logprobs=True, top_logprobs=5)

    start = time.perf_counter()
    await asyncio.gather(*(one(e) for e in examples))
    return len(examples) / (time.perf_counter() - start)


async def main_async(n: int, concurrency: int) -> None:
    from core.backend.embedded import EmbeddedBackend
    from core.backend.faults import FaultConfig
    from core.data.formats import read_examples
    from core.data.pipeline import PrepareOptions, prepare
    from core.evaluate.runner import EvalOptions, evaluate
    from core.registry.db import Registry

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        build = prepare(THREADS, tmp / "build", PrepareOptions(samples={"train": 4000, "val": 200, "test": n}))
        test = build.files["test"]
        examples = list(read_examples(test))
        async with EmbeddedBackend(tmp / "backend") as backend:
            client = backend.client()
            train = await client.files.create(file=build.files["train"], purpose="fine-tune")
            job = await client.fine_tuning.jobs.create(model="startune-local", training_file=train.id)
            while job.status not in ("succeeded", "failed"):
                await asyncio.sleep(0.2)
                job = await client.fine_tuning.jobs.retrieve(job.id)
            model = job.fine_tuned_model
            await bare(client, model, examples[:50], concurrency)  # warm the model cache
            bare_rps = await bare(client, model, examples, concurrency)
            start = time.perf_counter()
            report = await evaluate(client, model, test, EvalOptions(), concurrency=concurrency,
                                    registry=Registry(tmp / "registry.sqlite3"))
            eval_rps = len(examples) / (time.perf_counter() - start)
            clean = await evaluate(client, model, test, EvalOptions(limit=300), concurrency=concurrency)
        print(f"{len(examples):,} requests, concurrency {concurrency}")
        print(f"bare loop: {bare_rps:,.0f} req/s; evaluate: {eval_rps:,.0f} req/s; ratio {eval_rps / bare_rps:.2f} "
              f"(target >= 0.8); accuracy {report.metrics['accuracy']:.3f}")

        faults = FaultConfig(rate_429=0.15, seed=1)
        async with EmbeddedBackend(tmp / "backend", faults=faults) as backend:
            client = backend.client(max_retries=0)
            retries = 0
            original = client.chat.completions.create

            async def counted(**kw):
                nonlocal retries
                try:
                    return await original(**kw)
                except Exception:
                    retries += 1
                    raise

            client.chat.completions.create = counted
            start = time.perf_counter()
            try:
                limited = await evaluate(client, model, test, EvalOptions(limit=300), concurrency=concurrency, rpm=6000)
                unhandled = 0
            except Exception as exc:  # a 429 that escaped the retry loop
                unhandled, limited = 1, None
                print(f"unhandled: {exc!r}")
            seconds = time.perf_counter() - start
        print(f"with 15% injected 429s and rpm=6000: {retries} 429s retried, {unhandled} unhandled, "
              f"{300 / seconds:,.0f} req/s" + (f", accuracy {limited.metrics['accuracy']:.3f} "
                                                   f"(without faults: {clean.metrics['accuracy']:.3f})" if limited else ""))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--examples", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    asyncio.run(main_async(args.examples, args.concurrency))


if __name__ == "__main__":
    main()
