"""Several devices, by hand: the same transformer job on 1 device and on N (torch DDP), compared and timed.

On a machine with 2 or more NVIDIA GPUs (benchmarks/gpu_check.sh runs it there): nccl, one process per GPU.
With --cpu: gloo processes on this CPU (what CI proves; here it checks this script).
  equivalence  a tiny BERT without dropout (the CI test's), 1 device vs N: the largest difference in step
               losses and in answer probabilities (CI's bound on a CPU is 2e-5; on GPUs bf16 autocast and
               nccl's summation order make it larger, so this prints it rather than asserting it);
  speed        minilm-l6 for one epoch on real reviews: training examples/s on 1 device at batch B and on N
               at batch N x B (each GPU then has B examples a step, as on one).

    python benchmarks/ddp_check.py                      # every CUDA device
    python benchmarks/ddp_check.py --cpu --devices 2 --examples 256 --batch 16
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
THREADS = REPO.parent / "shared" / "data" / "threads_reviews.csv"


def train(model_id: str, examples, valid, hp: dict, devices: int, probes) -> tuple[list[float], np.ndarray, float]:
    from core.backend.transformer import TransformerTrainer

    trainer = TransformerTrainer(model_id, examples, valid, hp, 11)
    trainer.devices = devices
    trainer.setup(lambda message: print(f"  {message}") if message.startswith("Training on") else None,
                  lambda: None)
    losses: list[float] = []
    started = time.perf_counter()
    model = trainer.train(on_step=lambda m, reported: losses.append(m.train_loss) if m else None)
    seconds = time.perf_counter() - started
    return losses, model.predict_proba(probes), seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpu", action="store_true", help="gloo processes on the CPU instead of GPUs")
    parser.add_argument("--devices", type=int, default=0, help="N (default: every CUDA device)")
    parser.add_argument("--examples", type=int, default=4000, help="real reviews for the speed part")
    parser.add_argument("--batch", type=int, default=32, help="per-device batch B for the speed part")
    args = parser.parse_args()

    import torch

    from core.records.formats import Example
    from tests.core.backend.test_transformer import toy_examples, write_tiny_bert
    from tests.core.backend.test_transformer_jobs import real_reviews

    os.environ["STARTUNE_DEVICE"] = "cpu" if args.cpu else "cuda"
    n = args.devices or (1 if args.cpu else torch.cuda.device_count())
    if n < 2:
        sys.exit(f"ddp_check: needs 2 or more devices, torch sees {torch.cuda.device_count()} GPU(s) (or use --cpu)")
    print(f"torch {torch.__version__}, {n} {'cpu processes' if args.cpu else 'GPUs'}")

    with tempfile.TemporaryDirectory() as tmp:
        tiny = f"hf:{write_tiny_bert(Path(tmp) / 'tiny', dropout=0.0)}"
        hp = {"n_epochs": 4, "batch_size": 8, "learning_rate_multiplier": 100}
        probes = [e.text for e in toy_examples(40, 3000)]
        one = train(tiny, toy_examples(61), toy_examples(24, 1000), hp, 1, probes)
        many = train(tiny, toy_examples(61), toy_examples(24, 1000), hp, n, probes)
        print(f"equivalence (tiny BERT, {len(one[0])} steps): step losses differ by at most "
              f"{np.max(np.abs(np.subtract(one[0], many[0]))):.2e}, answer probabilities by "
              f"{np.max(np.abs(one[1] - many[1])):.2e}")

    pairs = real_reviews(THREADS, args.examples)
    reviews = [Example(i + 1, "chat", text, star) for i, (text, star) in enumerate(pairs)]
    rates = []
    for devices, batch in ((1, args.batch), (n, args.batch * n)):
        hp = {"n_epochs": 1, "batch_size": batch, "learning_rate_multiplier": 1, "class_weight": "none"}
        _, _, seconds = train("minilm-l6", reviews, (), hp, devices, [])
        rates.append(len(reviews) / seconds)
        print(f"speed: minilm-l6, {len(reviews)} reviews, {devices} device(s) at batch {batch}: "
              f"{rates[-1]:.0f} training examples/s ({seconds:.1f} s"
              + (", starting the device processes included)" if devices > 1 else ")"))
    print(f"speed-up on {n} devices: {rates[1] / rates[0]:.2f}x")


if __name__ == "__main__":   # the device processes are spawned: they import this file without running it
    main()
