"""Benchmark transformer fine-tuning on the local backend (run by hand, not in CI).

From ../shared/data/threads_reviews.csv, prepares train/val/test files, then in this same run:
  speed:    subprocesses fine-tune minilm-l6 for one epoch on the same examples and score the test
            file, timed whole (wall time, peak RSS) and inside (training and inference loops):
              plain        a plain transformers loop: tokenizer(padding=True) per batch, AutoModel...(labels=),
                           AdamW + get_linear_schedule_with_warmup, same batch size, learning rate, max length;
              ours         core.backend.transformer (the trainer the local backend runs: length-grouped
                           batches, inference sorted by length);
              ours-random  the same with batches as random as the plain loop's (the loop's own cost);
            prints examples/s and the ratios to the plain loop (target: at least 0.9x).
  accuracy: jobs for the default linear trainer and minilm-l6 (class weights none, then balanced)
            through the real openai client on the in-process backend, then core.evaluate on the test
            file: accuracy, macro-F1, and the evaluation's examples/s through the chat completions API.

    python benchmarks/transformer.py --skip-speed --train 3000 --test 1000   # quality at defaults (~20 min, 2 cores)
    python benchmarks/transformer.py --threads 1                  # ~15 minutes on 2 cores others are using
    python benchmarks/transformer.py --threads 1 --skip-accuracy  # the speed part alone, ~4 minutes
    python benchmarks/transformer.py --big      # 20,000 training examples, 3 epochs (hours on a CPU; for a GPU)
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
BATCH, LR_MULTIPLIER = 16, 1.0


# -- the two subprocesses ------------------------------------------------------------------------
def role_ours(train: Path, test: Path, n: int, epochs: int, grouped: bool = True) -> dict:
    from core.backend import batching
    from core.backend.transformer import MINILM, TransformerTrainer
    from core.records.formats import read_examples

    if not grouped:   # batches as random as the plain loop's: what the loop itself costs, padding aside
        batching.GROUP_BATCHES = 1

    examples = list(read_examples(train))[:n]
    texts = [e.text for e in read_examples(test)]
    t0 = time.perf_counter()
    hp = {"n_epochs": epochs, "batch_size": BATCH, "learning_rate_multiplier": LR_MULTIPLIER}
    trainer = TransformerTrainer(MINILM, examples, (), hp, seed=1)
    trainer.setup(lambda message: print(message, file=sys.stderr), lambda: None)
    t1 = time.perf_counter()
    model = trainer.train(on_step=lambda metrics, reported: True)
    t2 = time.perf_counter()
    model.predict_proba(texts)
    t3 = time.perf_counter()
    return {"load_s": t1 - t0, "train_s": t2 - t1, "trained": len(examples) * epochs, "infer_s": t3 - t2,
            "inferred": len(texts)}


def role_plain(train: Path, test: Path, n: int, epochs: int) -> dict:
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, get_linear_schedule_with_warmup
    from transformers.utils import logging

    from core.backend.transformer import BASE_LEARNING_RATE, MAX_LENGTH, minilm_folder
    from core.records.formats import read_examples

    logging.set_verbosity_error()
    logging.disable_progress_bar()
    examples = list(read_examples(train))[:n]
    texts = [e.text for e in read_examples(test)]
    labels = sorted({e.label for e in examples})
    y = torch.tensor([labels.index(e.label) for e in examples])
    t0 = time.perf_counter()
    folder = minilm_folder()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    torch.manual_seed(1)
    model = AutoModelForSequenceClassification.from_pretrained(folder, num_labels=len(labels))
    t1 = time.perf_counter()
    steps = epochs * -(-len(examples) // BATCH)
    optimizer = torch.optim.AdamW(model.parameters(), lr=BASE_LEARNING_RATE * LR_MULTIPLIER, weight_decay=0.01)
    schedule = get_linear_schedule_with_warmup(optimizer, int(0.1 * steps), steps)
    model.train()
    for epoch in range(epochs):
        order = torch.randperm(len(examples), generator=torch.Generator().manual_seed(epoch)).tolist()
        for start in range(0, len(order), BATCH):
            idx = order[start : start + BATCH]
            batch = tokenizer([examples[i].text for i in idx], padding=True, truncation=True,
                              max_length=MAX_LENGTH, return_tensors="pt")
            loss = model(**batch, labels=y[idx]).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad()
    t2 = time.perf_counter()
    model.eval()
    with torch.no_grad():
        for start in range(0, len(texts), 64):
            batch = tokenizer(texts[start : start + 64], padding=True, truncation=True, max_length=MAX_LENGTH,
                              return_tensors="pt")
            model(**batch).logits.softmax(-1).numpy()
    t3 = time.perf_counter()
    return {"load_s": t1 - t0, "train_s": t2 - t1, "trained": len(examples) * epochs, "infer_s": t3 - t2,
            "inferred": len(texts)}


def run_role(role: str, train: Path, test: Path, n: int, epochs: int) -> dict:
    """The role as a whole command: wall time and peak RSS from the kernel, loop times from the child."""
    cmd = [sys.executable, __file__, "--role", role, *([f"--threads={os.environ['OMP_NUM_THREADS']}"]
                                                       if "OMP_NUM_THREADS" in os.environ else []), "--train-file", str(train), "--test-file", str(test),
           "--speed-examples", str(n), "--speed-epochs", str(epochs)]
    return child_result(cmd, role)


# -- accuracy through the API ---------------------------------------------------------------------
async def accuracy(build, epochs: int, data_dir: Path) -> list[dict]:
    from core.backend.embedded import EmbeddedBackend
    from core.evaluate.runner import EvalOptions, evaluate

    rows = []
    async with EmbeddedBackend(data_dir) as backend:
        client = backend.client()
        train_file, val_file = await upload_build(client, build)
        from core.backend.transformer import estimate_duration
        from core.records.formats import read_examples

        runs = [("startune-local", {}), ("minilm-l6", {})]     # both at defaults: "auto" decides
        if epochs:
            runs.append(("minilm-l6", {"n_epochs": epochs, "batch_size": BATCH}))
        for model, hp in runs:
            estimated = None
            if model != "startune-local":
                # what launch/run/the Launch screen show before the job: a calibration on this machine
                estimated = estimate_duration(model, list(read_examples(build.files["train"])),
                                              list(read_examples(build.files["val"])), hp, seed=1)
                print(f"{model} {hp or 'defaults'}: estimate {estimated.describe()}", flush=True)
            job, trained = await train_job(client, model, train_file, val_file, hp, poll=0.5)
            start = time.perf_counter()
            report = await evaluate(client, job.fine_tuned_model, build.files["test"], EvalOptions())
            scored = time.perf_counter() - start
            shown = job.hyperparameters.model_dump() | {k: v for k, v in hp.items() if k == "class_weight"}
            events = [e async for e in client.fine_tuning.jobs.list_events(job.id, limit=100)]
            stopped = any(e.message.startswith("Early stopping") for e in events)
            ran = max(((e.data or {}).get("step", 0) for e in events if e.type == "metrics"), default=0)
            rows.append({"model": model, "hyperparameters": shown, "train_s": trained,
                         "eval_s": scored, "accuracy": report.metrics["accuracy"],
                         "macro_f1": report.metrics["macro_f1"], "mae": report.metrics.get("mae"),
                         "n": report.metrics.get("n"), "estimate_s": estimated.seconds if estimated else None,
                         # the estimate of the steps the job ran: apart from early stopping, how right it was
                         "estimate_ran_s": estimated.seconds_for(ran) if estimated else None,
                         "early_stopped": stopped, "steps": ran})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--train", type=int, default=1500, help="training examples for the accuracy jobs")
    parser.add_argument("--test", type=int, default=500)
    parser.add_argument("--epochs", type=int, default=0, help="also a minilm-l6 job with this many epochs "
                        "(0: only the defaults)")
    parser.add_argument("--val", type=int, default=600, help="validation examples (auto decides on them)")
    parser.add_argument("--speed-examples", type=int, default=480, help="examples trained in the speed runs")
    parser.add_argument("--speed-epochs", type=int, default=1)
    parser.add_argument("--big", action="store_true", help="20,000 / 5,000 examples, 3 epochs")
    parser.add_argument("--skip-accuracy", action="store_true")
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--threads", type=int, help="torch threads in every run (default: torch's choice); on a "
                        "machine others are using, 1 avoids spinning OpenMP threads that slow every run")
    parser.add_argument("--role", choices=("ours", "ours-random", "plain"), help=argparse.SUPPRESS)
    parser.add_argument("--train-file", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--test-file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.threads:
        os.environ["OMP_NUM_THREADS"] = str(args.threads)   # the subprocesses and this process alike
        import torch

        torch.set_num_threads(args.threads)
    if args.role:
        fn = {"ours": role_ours, "ours-random": lambda *a: role_ours(*a, grouped=False), "plain": role_plain}[args.role]
        print(orjson.dumps(fn(args.train_file, args.test_file, args.speed_examples, args.speed_epochs)).decode())
        return
    if args.big:
        args.train, args.test, args.epochs, args.speed_examples = 20_000, 5_000, 3, 4_000

    from core.data.pipeline import PrepareOptions, prepare

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        build = prepare(THREADS, tmp / "build", PrepareOptions(
            samples={"train": args.train, "val": args.val, "test": args.test}))
        print(f"files: {args.train:,} train / {args.val:,} val / {args.test:,} test examples from {THREADS.name}")
        import torch

        print(f"device: cpu x {torch.get_num_threads()} threads" if not torch.cuda.is_available()
              else f"device: {torch.cuda.get_device_name(0)}")

        if not args.skip_speed:
            runs = {role: run_role(role, build.files["train"], build.files["test"], args.speed_examples,
                                   args.speed_epochs) for role in ("plain", "ours", "ours-random")}
            print(f"\nspeed: one epoch of {args.speed_examples:,} examples (batch {BATCH}), then {args.test:,} predictions")
            print(f"{'':11} {'train ex/s':>10} {'infer ex/s':>10} {'load s':>7} {'wall s':>7} {'peak RSS':>9}")
            for role, r in runs.items():
                print(f"{role:11} {r['trained'] / r['train_s']:10.1f} {r['inferred'] / r['infer_s']:10.1f} "
                      f"{r['load_s']:7.1f} {r['wall_s']:7.1f} {r['peak_rss_mb']:7.0f} MB")
            ours, plain = runs["ours"], runs["plain"]
            train_ratio = (ours["trained"] / ours["train_s"]) / (plain["trained"] / plain["train_s"])
            infer_ratio = (ours["inferred"] / ours["infer_s"]) / (plain["inferred"] / plain["infer_s"])
            print(f"ours / plain: training {train_ratio:.2f}x, inference {infer_ratio:.2f}x, whole command "
                  f"{plain['wall_s'] / ours['wall_s']:.2f}x (target >= 0.9x)")
            same = runs["ours-random"]
            print(f"ours with random batches / plain (the loop alone, same padding): training "
                  f"{(same['trained'] / same['train_s']) / (plain['trained'] / plain['train_s']):.2f}x")

        if not args.skip_accuracy:
            rows = asyncio.run(accuracy(build, args.epochs, tmp / "backend"))
            print(f"\naccuracy on {args.test:,} test examples (jobs and evaluation through the API):")
            for r in rows:
                estimate = ""
                if r["estimate_s"]:
                    estimate = (f"  estimate {r['estimate_s']:6.1f} s ({r['estimate_s'] / r['train_s'] - 1:+.0%} of the "
                                f"job{', which stopped early' if r['early_stopped'] else ''}; for the "
                                f"{r['steps']:,} steps it ran {r['estimate_ran_s']:6.1f} s, "
                                f"{r['estimate_ran_s'] / r['train_s'] - 1:+.0%})")
                mae = f"  MAE {r['mae']:.3f}" if r["mae"] is not None else ""
                print(f"{r['model']:15} accuracy {r['accuracy']:.3f}  macro-F1 {r['macro_f1']:.3f}{mae}  "
                      f"job {r['train_s']:6.1f} s{estimate}  eval {args.test / r['eval_s']:6.1f} ex/s  "
                      f"{r['hyperparameters']}", flush=True)


if __name__ == "__main__":
    main()
