"""Benchmark evaluation (run by hand, not in CI).

Whole commands (the default), each `python -m core evaluate` its own process, timed from outside with its
peak RSS from the OS, in this same run, on the threads reviews' test split (prepared at defaults):
  requests: `startune evaluate MODEL --data test.jsonl --no-batch` (today's path: one request per example);
  batch:    `startune evaluate MODEL --data test.jsonl --batch` (the Batch API: the local backend scores
            a chunk of texts per call);
for the linear model and for minilm-l6 (trained on --minilm-train examples, 1 epoch; --minilm-limit caps its
test examples to fit a slow machine), the registry emptied before each, so neither reuses stored answers.
Prints both times, their ratio (targets: >= 10x linear, >= 3x minilm-l6) and whether the metrics are equal.
Then a --batch-requests (10,000) request batch through /v1/batches on the local backend, compared line by
line with the same requests answered directly.

`--overhead` runs the older in-process checks instead: evaluate against a bare request loop (target >= 0.8x)
and evaluation under 15% injected 429s (target: none reach the caller).

    python benchmarks/evaluate.py [--models linear,minilm-l6] [--minilm-limit N] [--batch-requests 10000] [--previous DIR]
    python benchmarks/evaluate.py --models linear --batch-requests 0 --table-rows 288065
    python benchmarks/evaluate.py --overhead [--examples 2000] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from processes import whole_command  # noqa: E402  (benchmarks/ is on the path)

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
    from core.records.formats import read_examples
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


# --- whole commands ------------------------------------------------------------------------------

def timed(cmd: list[str], home: Path, repo: Path = REPO) -> tuple[float, float, bytes]:
    """(seconds, peak RSS in MB as the OS counted it, stdout) of one command run as its own process, from
    ``repo`` (this checkout, or --previous)."""
    return whole_command(cmd, {"STARTUNE_HOME": str(home), "STARTUNE_BACKEND": "local"}, repo)


def train_in_child(home: Path, build: Path, base: str, train_n: int | None, epochs: int | None) -> str:
    code = f"""
import asyncio, sys
sys.path.insert(0, {str(REPO)!r})
from pathlib import Path
from core.backend.embedded import EmbeddedBackend
from core.paths import local_backend_dir
async def main():
    train = Path({str(build / "train.jsonl")!r})
    n = {train_n!r}
    if n:
        lines = train.read_bytes().splitlines()[:n]
        train = train.with_name("train-small.jsonl")
        train.write_bytes(b"\\n".join(lines) + b"\\n")
    async with EmbeddedBackend(local_backend_dir()) as backend:
        client = backend.client()
        file = await client.files.create(file=train, purpose="fine-tune")
        hp = {{"n_epochs": {epochs!r}}} if {epochs!r} else {{}}
        job = await client.fine_tuning.jobs.create(model={base!r}, training_file=file.id, seed=1,
            method={{"type": "supervised", "supervised": {{"hyperparameters": hp}}}})
        while job.status not in ("succeeded", "failed", "cancelled"):
            await asyncio.sleep(0.5)
            job = await client.fine_tuning.jobs.retrieve(job.id)
        assert job.status == "succeeded", job.error
        print(job.fine_tuned_model)
asyncio.run(main())
"""
    env = os.environ | {"PYTHONPATH": str(REPO), "STARTUNE_HOME": str(home)}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, check=False)
    if done.returncode:
        raise SystemExit(f"training {base} failed: {done.stderr.decode()[-2000:]}")
    return done.stdout.decode().split()[-1]


def compare_commands(home: Path, model: str, test: Path, limit: int | None, label: str,
                     previous: Path | None = None) -> None:
    import orjson

    cmd = [sys.executable, "-m", "core", "evaluate", model, "--data", str(test), "--json"]
    if limit:
        cmd += ["--limit", str(limit)]
    ways = [("--no-batch", REPO), ("--batch", REPO)] + ([("--no-batch", previous)] if previous else [])
    results = {}
    for way, repo in ways:
        for name in ("registry.sqlite3", "registry.sqlite3-wal", "registry.sqlite3-shm"):
            (home / name).unlink(missing_ok=True)  # no stored answers: each command asks for all of them
        # a version from before the Batch API has no --no-batch: its requests path is all it has
        known = "--no-batch" in (repo / "core" / "cli" / "evaluate_cmd.py").read_text()
        seconds, rss, out = timed([*cmd, way] if known else cmd, home, repo)
        results[way, repo] = (seconds, rss, orjson.loads(out))
    (req_s, req_rss, req), (bat_s, bat_rss, bat) = results["--no-batch", REPO], results["--batch", REPO]
    keys = ("n", "accuracy", "macro_f1", "mae", "unparseable")
    same = all(req.get(k) == bat.get(k) for k in keys)
    print(f"{label}: {req['n']:,} test examples; by requests {req_s:.1f} s ({req['n'] / req_s:,.0f}/s, "
          f"peak RSS {req_rss:.0f} MB); batch {bat_s:.1f} s ({bat['n'] / bat_s:,.0f}/s, "
          f"peak RSS {bat_rss:.0f} MB); "
          f"speed-up {req_s / bat_s:.1f}x; metrics {'equal' if same else 'DIFFER'} "
          f"(accuracy {bat['accuracy']:.4f}, macro-F1 {bat['macro_f1']:.4f}, MAE {bat.get('mae')})")
    if previous:
        old_s, old_rss, old = results["--no-batch", previous]
        same = all(old.get(k) == bat.get(k) for k in keys)
        print(f"{label}: {previous}'s requests path {old_s:.1f} s ({old['n'] / old_s:,.0f}/s, peak RSS {old_rss:.0f} "
              f"MB): this batch path is {old_s / bat_s:.1f}x it; metrics {'equal' if same else 'DIFFER'}")


def big_batch_in_child(home: Path, build: Path, model: str, n: int) -> None:
    code = f"""
import asyncio, sys, time
sys.path.insert(0, {str(REPO)!r})
from pathlib import Path
import orjson
from core.backend.embedded import EmbeddedBackend
from core.records.formats import read_examples
from core.paths import local_backend_dir
async def main():
    texts = [e.text for e in read_examples(Path({str(build / "train.jsonl")!r}))][:{n}]
    bodies = [{{"model": {model!r}, "messages": [{{"role": "user", "content": t}}], "temperature": 0,
               "max_tokens": 5, "logprobs": True, "top_logprobs": 5}} for t in texts]
    lines = [orjson.dumps({{"custom_id": str(i), "method": "POST", "url": "/v1/chat/completions", "body": b}})
             for i, b in enumerate(bodies)]
    async with EmbeddedBackend(local_backend_dir(), start_runner=False, start_batches=True) as backend:
        client = backend.client()
        start = time.perf_counter()
        file = await client.files.create(file=("big.jsonl", b"\\n".join(lines) + b"\\n"), purpose="batch")
        batch = await client.batches.create(input_file_id=file.id, endpoint="/v1/chat/completions",
                                            completion_window="24h")
        while batch.status not in ("completed", "failed", "cancelled", "expired"):
            await asyncio.sleep(0.2)
            batch = await client.batches.retrieve(batch.id)
        out = (await client.files.content(batch.output_file_id)).content if batch.output_file_id else b""
        took = time.perf_counter() - start
        got = {{(item := orjson.loads(line))["custom_id"]: item["response"]["body"] for line in out.splitlines()}}
        sem = asyncio.Semaphore(8)
        async def direct(i, body):
            async with sem:
                return i, (await client.chat.completions.with_raw_response.create(**body)).http_response.json()
        start = time.perf_counter()
        answers = await asyncio.gather(*(direct(i, b) for i, b in enumerate(bodies)))
        direct_s = time.perf_counter() - start
        same = sum(1 for i, a in answers if got.get(str(i), {{}}).get("choices") == a["choices"]
                   and got[str(i)]["usage"] == a["usage"])
        print(f"{{len(bodies):,}}-request batch: {{batch.status}}, {{batch.request_counts.completed:,}} completed, "
              f"{{batch.request_counts.failed}} failed, {{took:.1f}} s; the same requests directly: {{direct_s:.1f}} s; "
              f"{{same:,}} of {{len(bodies):,}} answers identical (choices, logprobs, usage)")
asyncio.run(main())
"""
    env = os.environ | {"PYTHONPATH": str(REPO), "STARTUNE_HOME": str(home)}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, check=False)
    print(done.stdout.decode().strip() or done.stderr.decode()[-2000:])


def whole(args) -> None:
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        build = Path(tmp) / "build"
        source, what = THREADS, "threads reviews"
        if args.table_rows:
            # the app_reviews-shaped table benchmarks/prepare.py makes (the seed's 288,065 rows by default)
            source, what = Path(tmp) / "table.csv", f"an app_reviews-like table of {args.table_rows:,} rows"
            subprocess.run([sys.executable, str(REPO / "benchmarks" / "prepare.py"), "--child", "table",
                            str(args.table_rows), str(source), "1"], check=True)
        timed([sys.executable, "-m", "core", "prepare", str(source), "--out", str(build), "--json"], home)
        test = build / "test.jsonl"
        n_test = sum(1 for line in test.read_bytes().splitlines() if line.strip())
        print(f"{what}, prepared at defaults: test split {n_test:,} examples "
              f"(measured on a shared, loaded machine: ratios are of runs made side by side)")
        models = args.models.split(",")
        linear = None
        for base in models:
            if base == "linear":
                linear = model = train_in_child(home, build, "startune-local", None, None)
                compare_commands(home, model, test, None, "linear", args.previous)
            else:
                model = train_in_child(home, build, base, args.minilm_train, 1)
                limit = args.minilm_limit if args.minilm_limit and args.minilm_limit < n_test else None
                compare_commands(home, model, test, limit, f"{base} (trained on {args.minilm_train} examples, 1 epoch"
                                 + (f"; first {limit:,} test examples)" if limit else ")"), args.previous)
        if args.batch_requests:
            model = linear or train_in_child(home, build, "startune-local", None, None)
            big_batch_in_child(home, build, model, args.batch_requests)
        shutil.rmtree(home, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--overhead", action="store_true", help="the in-process overhead and 429 checks")
    parser.add_argument("--examples", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--models", default="linear,minilm-l6")
    parser.add_argument("--minilm-train", type=int, default=1000)
    parser.add_argument("--minilm-limit", type=int, default=None)
    parser.add_argument("--batch-requests", type=int, default=10_000)
    parser.add_argument("--tmp", type=Path, default=None)
    parser.add_argument("--previous", type=Path, default=None,
                        help="a checkout of an earlier version (git worktree add DIR REV): its `evaluate --no-batch` "
                             "is timed in the same run, the path this one is measured against")
    parser.add_argument("--table-rows", type=int, default=None,
                        help="evaluate on the test split of benchmarks/prepare.py's app_reviews-like table of this "
                             "many rows (288065: the seed's 57,613-review test split) instead of the threads reviews")
    args = parser.parse_args()
    if args.overhead:
        asyncio.run(main_async(args.examples, args.concurrency))
    else:
        whole(args)


if __name__ == "__main__":
    main()
