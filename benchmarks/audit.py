"""The data audit on real reviews: its time as a whole command, and what acting on it does to a model.

    nice -n 10 python benchmarks/audit.py [--data ../shared/data/threads_reviews.csv] [--seeds 42,7]

1. Time and peak RSS (from the OS) of ``startune audit DATA --json`` as a subprocess, against
   ``startune prepare DATA --no-tokens`` (the step every user runs) in the same run, as a ratio.
2. Effect: ``prepare`` at defaults (seed S); the train split alone is audited (out-of-fold scores of
   the default model's features and cleanlab, exactly as ``startune audit``: no val or test label is
   seen); the default model (the local backend's linear trainer, every setting auto) is trained on
   (a) all of train, (b) train without the flagged rows, (c) train with the flagged rows relabelled
   to the suggested star, (d) train without the flagged rows whose suggested star is 3 or more away
   from the given one, each time with the same val split, and scored on the untouched test split:
   accuracy, macro-F1 and MAE against the test split's own (noisy) stars.
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
sys.path.insert(0, str(REPO))


def whole_command(args: list[str]) -> tuple[float, float]:
    """(seconds, peak RSS in MB) of ``startune ARGS`` in its own process."""
    env = os.environ | {"PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-c", "from tui.cli import main; main()", *args]
    start = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        if os.waitstatus_to_exitcode(status):
            err.seek(0)
            sys.exit(f"{' '.join(args)} failed:\n{err.read().decode()[-3000:]}")
    return seconds, usage.ru_maxrss / 1024


def timing(data: Path) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        ref_s, ref_mb = whole_command(["prepare", str(data), "--out", f"{tmp}/b", "--no-tokens", "--json"])
        audit_s, audit_mb = whole_command(["audit", str(data), "--json", "--out", f"{tmp}/flagged.csv"])
    return {"audit_s": round(audit_s, 1), "audit_peak_mb": round(audit_mb), "prepare_s": round(ref_s, 1),
            "prepare_peak_mb": round(ref_mb), "time_ratio": round(audit_s / ref_s, 2)}


def effect(data: Path, seed: int) -> dict:
    import numpy as np

    from core.backend.linear import LinearTrainer
    from core.data.audit import _rank, _suggested, out_of_fold_proba
    from core.records.formats import read_examples
    from core.data.pipeline import PrepareOptions, prepare
    from core.evaluate.metrics import compute_metrics

    with tempfile.TemporaryDirectory() as tmp:
        build = prepare(data, Path(tmp) / "b", PrepareOptions(seed=seed)).out_dir
        train, val, test = (list(read_examples(build / f"{n}.jsonl")) for n in ("train", "val", "test"))
    classes = sorted({e.label for e in train}, key=int)
    index = {c: i for i, c in enumerate(classes)}
    y = np.array([index[e.label] for e in train])
    start = time.perf_counter()
    proba = out_of_fold_proba([e.text for e in train], y, len(classes), seed=seed)
    flagged, noisy = _rank(y, proba)
    audit_s = time.perf_counter() - start
    suggested = _suggested(proba, y)
    flagged_set = set(flagged.tolist())

    dropped = [e for i, e in enumerate(train) if i not in flagged_set]
    # the confident contradictions only: flagged where the suggested star is 3 or more away (praise at 1 star)
    polar = {i for i in flagged_set if abs(int(classes[suggested[i]]) - int(classes[y[i]])) >= 3}
    dropped_polar = [e for i, e in enumerate(train) if i not in polar]
    relabelled = [e if i not in flagged_set else type(e)(e.line, e.format, e.text, classes[suggested[i]],
                                                        e.system_prompt)
                  for i, e in enumerate(train)]
    out = {"seed": seed, "train": len(train), "flagged": len(flagged), "flagged_polar": len(polar),
           "noisy_share": round(noisy, 4),
           "audit_train_s": round(audit_s, 1), "test": len(test)}
    truth = [e.label for e in test]
    for name, rows in (("all", train), ("drop_flagged", dropped), ("relabel_flagged", relabelled),
                       ("drop_polar", dropped_polar)):
        trainer = LinearTrainer(rows, val, {}, seed)
        trainer.setup(lambda message: None, lambda: None)
        model = trainer.train(on_step=lambda metrics, reported: True)
        predicted = [model.classes[i] for i in model.predict_proba([e.text for e in test]).argmax(axis=1)]
        m = compute_metrics(truth, predicted, classes, bootstrap=0)
        out[name] = {"accuracy": round(m["accuracy"], 4), "macro_f1": round(m["macro_f1"], 4),
                     "mae": round(m["mae"], 4)}
        print(f"  seed {seed} {name}: {out[name]}", file=sys.stderr)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--seeds", default="42,7")
    parser.add_argument("--skip-timing", action="store_true")
    args = parser.parse_args()
    result = {"data": str(args.data), "cpus": os.cpu_count()}
    if not args.skip_timing:
        result["timing"] = timing(args.data)
        print(f"timing: {result['timing']}", file=sys.stderr)
    result["effect"] = [effect(args.data, int(s)) for s in args.seeds.split(",")]
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
