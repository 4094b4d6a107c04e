"""Benchmark generative fine-tuning on the local backend (run by hand, not in CI).

From ../shared/data/threads_reviews.csv (the default prepare, with samples), in one run:
  quality: a smollm2-135m LoRA job and a linear-default job on the same train/val files, through the real
           openai client on the in-process backend, then `core.evaluate` on the same test file: accuracy,
           macro-F1 and MAE of the star each model answers (the LLM's generated answer, parsed).
  speed:   training examples/s of the whole job (loading, validation and checkpoints included) against a
           plain peft loop over the same training examples (same model, adapter, batch) timed in a
           subprocess, and each side's peak RSS from the kernel; the pre-launch duration estimate against
           the job. The cache starts empty (STARTUNE_CACHE in the temporary folder), as on a first run: the
           estimate's load converts the GGUF, the job's and the evaluation's read the cached copy.

    python benchmarks/llm.py --train 1000 --test 300 --epochs 1   # ~35 minutes on 2 cores
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

import orjson
from api_jobs import train_job, upload_build  # benchmarks/ is on the path
from processes import child_result

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
THREADS = REPO.parent / "shared" / "data" / "threads_reviews.csv"


def role_plain(train: Path, n: int, batch: int) -> dict:
    """A plain peft loop: the same GGUF base, the same LoRA, tokenizer(padding=True) per batch, loss on all tokens
    of the chat-formatted example (what a first script does)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from core.backend.llm import LORA_ALPHA, LORA_DROPOUT, LORA_RANK, LORA_TARGETS, smollm_file
    from core.records.formats import read_examples

    examples = list(read_examples(train))[:n]
    path = smollm_file()
    tok = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
    tok.pad_token = tok.pad_token or tok.eos_token
    model = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, dtype=torch.float32)
    model = get_peft_model(model, LoraConfig(r=LORA_RANK, lora_alpha=LORA_ALPHA, lora_dropout=LORA_DROPOUT,
                                             target_modules=list(LORA_TARGETS), task_type="CAUSAL_LM"))
    texts = [tok.apply_chat_template([{"role": "user", "content": e.text}, {"role": "assistant", "content": e.label}],
                                     tokenize=False) for e in examples]
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=2e-4)
    model.train()
    t0 = time.perf_counter()
    for start in range(0, len(texts), batch):
        enc = tok(texts[start:start + batch], padding=True, truncation=True, max_length=512, return_tensors="pt")
        labels = enc["input_ids"].masked_fill(enc["attention_mask"] == 0, -100)
        model(**enc, labels=labels).loss.backward()
        opt.step()
        opt.zero_grad()
    return {"train_s": time.perf_counter() - t0, "trained": len(texts)}


def run_plain(train: Path, n: int, batch: int) -> dict:
    cmd = [sys.executable, __file__, "--role", "plain", "--train-file", str(train), "--speed-examples", str(n)]
    return child_result(cmd, "the plain loop")


async def jobs(build, data_dir: Path, epochs: int) -> list[dict]:
    import resource

    from core.backend.embedded import EmbeddedBackend
    from core.evaluate.runner import EvalOptions, evaluate

    rows = []
    async with EmbeddedBackend(data_dir) as backend:
        client = backend.client()
        train_file, val_file = await upload_build(client, build)
        for model, hp in (("startune-local", {}), ("smollm2-135m", {"n_epochs": epochs} if epochs else {})):
            estimate = None
            if model != "startune-local":   # what `startune launch` would print before this job
                from core.backend.llm import estimate_duration
                from core.records.formats import read_examples

                estimate = estimate_duration(model, list(read_examples(build.files["train"])),
                                             list(read_examples(build.files["val"])), hp, seed=1).seconds
            job, trained = await train_job(client, model, train_file, val_file, hp, poll=1)
            steps = [e async for e in client.fine_tuning.jobs.list_events(job.id, limit=1000) if e.type == "metrics"]
            start = time.perf_counter()
            report = await evaluate(client, job.fine_tuned_model, build.files["test"], EvalOptions())
            rows.append({"model": model, "train_s": trained, "eval_s": time.perf_counter() - start,
                         "steps": len(steps), "hp": job.hyperparameters.model_dump(), "estimate_s": estimate, **{
                             k: report.metrics.get(k) for k in ("accuracy", "macro_f1", "mae", "n")}})
    rows.append({"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--train", type=int, default=1000)
    parser.add_argument("--test", type=int, default=300)
    parser.add_argument("--epochs", type=int, default=0, help="LLM epochs (0: auto)")
    parser.add_argument("--speed-examples", type=int, default=0, help="plain loop examples (0: all of train)")
    parser.add_argument("--role", choices=("plain",), help=argparse.SUPPRESS)
    parser.add_argument("--train-file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role:
        print(orjson.dumps(role_plain(args.train_file, args.speed_examples, 8)).decode())
        return
    from core.data.pipeline import PrepareOptions, prepare

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        os.environ["STARTUNE_CACHE"] = str(tmp / "cache")
        build = prepare(THREADS, tmp / "build", PrepareOptions(samples={"train": args.train, "val": 100,
                                                                        "test": args.test}))
        print(f"files: {args.train:,} train / 100 val / {args.test:,} test from {THREADS.name}", flush=True)
        plain = run_plain(build.files["train"], args.speed_examples or args.train, 8)
        print(f"plain peft loop: {plain['trained'] / plain['train_s']:.2f} train ex/s, peak RSS "
              f"{plain['peak_rss_mb']:.0f} MB", flush=True)
        rows = asyncio.run(jobs(build, tmp / "backend", args.epochs))
        rss = rows.pop()["peak_rss_mb"]
        for r in rows:
            print(f"{r['model']:15} accuracy {r['accuracy']:.3f}  macro-F1 {r['macro_f1']:.3f}  MAE "
                  f"{(r['mae'] or float('nan')):.3f}  job {r['train_s']:.0f} s  eval {r['eval_s']:.0f} s  {r['hp']}",
                  flush=True)
        llm = rows[-1]
        ours = args.train * llm["hp"]["n_epochs"] / llm["train_s"]
        print(f"smollm2-135m job: {ours:.2f} train ex/s (whole job, loading and validation included) vs plain "
              f"{plain['trained'] / plain['train_s']:.2f}: {ours / (plain['trained'] / plain['train_s']):.2f}x "
              f"(target >= 0.9x); benchmark process peak RSS {rss:.0f} MB")
        print(f"duration estimate before the job {llm['estimate_s']:.0f} s, job {llm['train_s']:.0f} s: error "
              f"{(llm['estimate_s'] - llm['train_s']) / llm['train_s']:+.0%}")


if __name__ == "__main__":
    main()
