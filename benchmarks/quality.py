"""Quality of the local backend's default model against a tuned scikit-learn baseline, on real reviews.

    python benchmarks/quality.py [--data ../shared/data/threads_reviews.csv]

What a user gets, each step a whole command in its own process (time and peak RSS from the OS):
1. ``startune run DATA --json``: prepare with the defaults, train on the local backend at its defaults;
2. ``startune evaluate MODEL --data test.jsonl --json`` for the fine-tuned model and the untrained base;
3. the baseline, on the very same train/val/test files: TF-IDF (word 1-2 + char_wb 2-5, sublinear)
   + LogisticRegression with C chosen by validation macro-F1 (``--baseline BUILD_DIR``, its own process).
Prints both with the gap. The target: the default model's macro-F1 >= the baseline's minus 1 point.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATA = REPO.parent / "shared" / "data" / "threads_reviews.csv"
C_GRID = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0)


def run_with_rusage(cmd: list[str], env: dict) -> tuple[str, float, float]:
    start = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        out.seek(0)
        err.seek(0)
        if os.waitstatus_to_exitcode(status):
            sys.exit(f"{' '.join(cmd)} failed:\n{err.read()[-3000:]}")
        return out.read(), seconds, usage.ru_maxrss / 1024


def baseline(build: Path) -> None:
    """The plain baseline, printed as JSON: fitted on train.jsonl, C chosen on val.jsonl, scored on test.jsonl."""
    import numpy as np
    from scipy.sparse import hstack
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, f1_score

    from core.records.formats import read_examples

    def load(name):
        examples = list(read_examples(build / f"{name}.jsonl"))
        return [e.text for e in examples], np.array([e.label for e in examples])

    (train, y_train), (val, y_val), (test, y_test) = load("train"), load("val"), load("test")
    word = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
    char = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True)
    X_train = hstack([word.fit_transform(train), char.fit_transform(train)]).tocsr()
    X_val = hstack([word.transform(val), char.transform(val)]).tocsr()
    X_test = hstack([word.transform(test), char.transform(test)]).tocsr()
    best = None
    for C in C_GRID:
        model = LogisticRegression(C=C, max_iter=1000).fit(X_train, y_train)
        score = f1_score(y_val, model.predict(X_val), average="macro")
        print(f"  baseline C={C}: validation macro-F1 {score:.4f}", file=sys.stderr, flush=True)
        if best is None or score > best[0]:
            best = (score, C, model)
    predicted = best[2].predict(X_test)
    print(json.dumps({"accuracy": accuracy_score(y_test, predicted),
                      "macro_f1": f1_score(y_test, predicted, average="macro"), "C": best[1]}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--baseline", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.baseline:
        return baseline(args.baseline)
    if not args.data.is_file():
        sys.exit(f"{args.data}: not found (the real reviews live in ../shared/data)")
    with tempfile.TemporaryDirectory() as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "AZURE_OPENAI_"))}
        env.update(STARTUNE_HOME=str(Path(tmp) / "home"), PYTHONPATH=str(REPO))
        build = Path(tmp) / "build"
        startune = [sys.executable, "-c", "from core.cli import main; main()"]
        print(f"data: {args.data}", flush=True)
        out, run_s, run_rss = run_with_rusage([*startune, "run", str(args.data), "--out", str(build), "--json"], env)
        model = json.loads(out)["job"]["fine_tuned_model"]
        print(f"startune run (prepare + train at defaults): {run_s:.1f} s, peak RSS {run_rss:.0f} MB -> {model}",
              flush=True)
        scores = {}
        for name in (model, "startune-local"):
            out, eval_s, _ = run_with_rusage([*startune, "evaluate", name, "--data", str(build / "test.jsonl"),
                                             "--json"], env)
            scores[name] = json.loads(out)
            print(f"startune evaluate {name}: {eval_s:.1f} s", flush=True)
        out, base_s, base_rss = run_with_rusage([sys.executable, __file__, "--baseline", str(build)], env)
        base = json.loads(out)
        print(f"baseline (TF-IDF + LogisticRegression, C={base['C']} chosen on val): {base_s:.1f} s, "
              f"peak RSS {base_rss:.0f} MB\n")
        rows = [("startune default (fine-tuned)", scores[model]), ("baseline TF-IDF + LR", base),
                ("startune-local untrained (zero-shot lexicon)", scores["startune-local"])]
        print(f"{'model':46} {'accuracy':>9} {'macro-F1':>9}")
        for label, metrics in rows:
            print(f"{label:46} {metrics['accuracy']:9.4f} {metrics['macro_f1']:9.4f}")
        gap = 100 * (scores[model]["macro_f1"] - base["macro_f1"])
        verdict = "meets" if gap >= -1 else "misses"
        print(f"\nmacro-F1 gap, default - baseline: {gap:+.1f} points ({verdict} the target of >= -1.0)")
        print(f"training time, startune run / baseline process: {run_s / base_s:.2f}x")


if __name__ == "__main__":
    main()
