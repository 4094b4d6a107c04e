"""Benchmark: a model exported as ONNX scoring reviews, against the local backend scoring them (by hand).

On the threads reviews (prepared with samples train/val/test), per model: `startune run` trains it,
`startune export RUN --out DIR --onnx` writes it out, then two whole commands, each its own process,
timed from outside with its peak RSS from the OS, in this same run:
  backend: `startune evaluate RUN --batch` (the local backend scores the test split; the registry
           restored before each run, so no stored answer is reused);
  onnx:    a plain Python script that reads the test split, opens onnx/model.onnx in onnxruntime
           (the transformer's tokenizer beside it) and scores it in batches of 64.
Prints both, their ratio (target: onnx at least as fast) and both accuracies (the same answers).

    python benchmarks/onnx.py [--models linear,minilm-l6] [--train 3000] [--test 1000] [--minilm-train 500]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import orjson
from processes import startune, whole_command

REPO = Path(__file__).resolve().parent.parent
THREADS = REPO.parent / "shared" / "data" / "threads_reviews.csv"
BASES = {"linear": "startune-local", "minilm-l6": "minilm-l6"}

SCORE = """
import sys, time, orjson, numpy as np
sys.path.insert(0, {repo!r})
from core.export.onnx_export import score
rows = [orjson.loads(line) for line in open({test!r}, "rb")]
texts = [r["messages"][-2]["content"] for r in rows]
truth = [r["messages"][-1]["content"] for r in rows]
labels = orjson.loads(open({labels!r}, "rb").read())["labels"]
p = score(__import__("pathlib").Path({folder!r}), texts, batch=64)
print(orjson.dumps({{"accuracy": float(np.mean([labels[i] == t for i, t in zip(p.argmax(1), truth)]))}}).decode())
"""


def timed(cmd: list[str], home: Path) -> tuple[float, float, bytes]:
    return whole_command(cmd, {"STARTUNE_HOME": str(home), "STARTUNE_BACKEND": "local"})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="linear")
    parser.add_argument("--train", type=int, default=3000)
    parser.add_argument("--test", type=int, default=1000)
    parser.add_argument("--minilm-train", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for name in args.models.split(","):
            home, work = root / f"{name}-home", root / name
            train = args.minilm_train if name == "minilm-l6" else args.train
            extra = ["--model", BASES[name], "--epochs", "1"] if name == "minilm-l6" else []
            seconds, rss, out = timed(startune("run", str(THREADS), "--out", str(work / "b"), "--samples",
                                               f"train={train},val={max(50, train // 5)},test={args.test}",
                                               *extra, "--json"), home)
            run_id = orjson.loads(out)["run_id"]
            print(f"{name}: trained on {train} in {seconds:.1f} s")
            seconds, rss, _ = timed(startune("export", run_id, "--out", str(work / "e"), "--onnx", "--json"), home)
            print(f"{name}: export --onnx {seconds:.1f} s, peak RSS {rss:.0f} MB, "
                  f"model.onnx {(work / 'e' / 'onnx' / 'model.onnx').stat().st_size / 2**20:.1f} MB")
            kept = root / f"{name}-home.kept"
            shutil.copytree(home, kept)
            script = SCORE.format(repo=str(REPO), test=str(work / "b" / "test.jsonl"),
                                  labels=str(work / "e" / "onnx" / "labels.json"), folder=str(work / "e" / "onnx"))
            best: dict[str, tuple[float, float, float]] = {}
            for _ in range(args.repeat):
                shutil.rmtree(home)
                shutil.copytree(kept, home)
                s, r, out = timed(startune("evaluate", run_id, "--batch", "--json"), home)
                acc = orjson.loads(out)["accuracy"]
                best["backend"] = min(best.get("backend", (s, r, acc)), (s, r, acc))
                s, r, out = timed([sys.executable, "-c", script], home)
                acc = orjson.loads(out)["accuracy"]
                best["onnx"] = min(best.get("onnx", (s, r, acc)), (s, r, acc))
            (bs, br, ba), (os_, or_, oa) = best["backend"], best["onnx"]
            print(f"{name}: {args.test} test reviews, best of {args.repeat}: startune evaluate --batch {bs:.1f} s "
                  f"({args.test / bs:.0f}/s, peak RSS {br:.0f} MB, accuracy {ba:.4f}) vs onnxruntime {os_:.1f} s "
                  f"({args.test / os_:.0f}/s, {or_:.0f} MB, accuracy {oa:.4f}): onnx {bs / os_:.2f}x as fast")


if __name__ == "__main__":
    main()
