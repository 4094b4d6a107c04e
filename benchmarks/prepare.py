"""Benchmark the preparation pipeline against the seed notebook's way (run by hand, not in CI).

Builds an app_reviews-shaped table (package_name, review, date, star; 288,065 rows) by seeded
resampling of ../shared/data/threads_reviews.csv, then times, in this same run:
  reference: pandas read_csv, row-wise ``apply`` building the dicts, ``drop_duplicates``,
             a seeded 60/20/20 split, ``to_json(lines=True)`` per split;
  startune:  core.data.pipeline.prepare with its defaults (clean, dedup, split, order, write, manifest).
Each runs in a fresh child process so that peak memory (max RSS above the post-import baseline)
is its own.

    python benchmarks/prepare.py [--rows 288065] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
THREADS = REPO.parent / "shared" / "data" / "threads_reviews.csv"


def make_table(rows: int, path: Path) -> None:
    import numpy as np
    import pandas as pd

    src = pd.read_csv(THREADS, dtype=str, keep_default_na=False)
    rng = np.random.default_rng(288_065)
    pick = rng.integers(0, len(src), size=rows)
    apps = np.array([f"com.example.app{i:03d}" for i in range(395)])
    frame = pd.DataFrame({
        "package_name": apps[rng.integers(0, len(apps), size=rows)],
        "review": src["review_description"].to_numpy()[pick],
        "date": src["review_date"].to_numpy()[pick],
        "star": src["rating"].to_numpy()[pick],
    })
    # resampling repeats texts; vary a share of them so dedup keeps a realistic number of rows
    suffix = rng.integers(0, 50, size=rows)
    vary = rng.random(rows) < 0.8
    frame.loc[vary, "review"] = frame.loc[vary, "review"] + " #" + suffix[vary].astype(str) + "-" + pick[vary].astype(str)
    frame.to_csv(path, index=False)


def reference(csv: Path, out: Path) -> None:
    import pandas as pd

    df = pd.read_csv(csv)
    df = df.dropna(subset=["review", "star"])
    df["messages"] = df.apply(
        lambda r: [{"role": "user", "content": r["review"]}, {"role": "assistant", "content": str(r["star"])}],
        axis=1)
    df = df.drop_duplicates(subset=["review"])
    train = df.sample(frac=0.6, random_state=42)
    rest = df.drop(train.index)
    val = rest.sample(frac=0.5, random_state=42)
    test = rest.drop(val.index)
    for name, part in (("train", train), ("val", val), ("test", test)):
        part[["messages"]].to_json(out / f"{name}.jsonl", orient="records", lines=True, force_ascii=False)


def ours(csv: Path, out: Path) -> None:
    from core.data.pipeline import prepare

    prepare(csv, out)


def child(which: str, csv: Path) -> None:
    import pandas  # noqa: F401  both sides pay the same imports before the baseline

    import core.data.pipeline  # noqa: F401

    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        (reference if which == "reference" else ours)(csv, Path(out))
        seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"seconds": seconds, "peak_mb": (peak - base) / 1024}))


def run(which: str, csv: Path) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--child", which, "--csv", str(csv)],
                          capture_output=True, text=True, check=True, cwd=REPO)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=288_065)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child")
    parser.add_argument("--csv", type=Path)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.csv)
        return
    sys.path.insert(0, str(REPO))
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "app_reviews_like.csv"
        make_table(args.rows, csv)
        size_mb = csv.stat().st_size / 2**20
        print(f"table: {args.rows:,} rows, {size_mb:.1f} MB CSV")
        best = {}
        for which in ("reference", "startune"):
            runs = [run(which, csv) for _ in range(args.repeat)]
            best[which] = min(runs, key=lambda r: r["seconds"])
            print(f"{which:>9}: best of {args.repeat} {best[which]['seconds']:.2f} s, "
                  f"peak +{best[which]['peak_mb']:.0f} MB ({best[which]['peak_mb'] / size_mb:.2f}x CSV)")
        ratio = best["reference"]["seconds"] / best["startune"]["seconds"]
        print(f"speed-up: {ratio:.1f}x (target >= 10x); "
              f"startune peak memory {best['startune']['peak_mb'] / size_mb:.2f}x CSV (target < 3x)")


if __name__ == "__main__":
    main()
