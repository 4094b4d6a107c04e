"""Hostile load on `startune serve` (run by hand, not in CI; issue 29).

Starts `python -m core serve` on a free loopback port with a fresh data folder, then, with the real openai
client over HTTP:
  first:     40 concurrent first requests: the server's RSS before and its peak after (one tokenizer built);
  idle:      a short chat request to startune-local, one at a time: its latency (median of --probes);
  oversize:  --flood concurrent requests over the 16,384-token limit (each ~110,000 tokens, 550 KB) sent
             again as each is refused, from a second process, while the short request is timed: its median
             against the idle one (target: within 2x);
  long:      the same with --flood concurrent requests under the limit (22.5 KB chat messages, the size that
             made a short request wait 271 s before the lexicon scored in windows);
  many:      --many concurrent short chat requests at once: p50 / p99 latency, and the server's peak RSS
             (VmHWM) from its start.

    python benchmarks/hostile.py [--flood 40] [--many 1000] [--probes 20]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHORT = [{"role": "user", "content": "Love it, works great"}]
OVERSIZE = [{"role": "user", "content": "word " * 110_000}]
LONG = [{"role": "user", "content": ("The app is okay but it crashes when I open the settings page. " * 360)[:22_500]}]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def timed(client, messages) -> float:
    import openai

    start = time.perf_counter()
    try:
        await client.chat.completions.create(model="startune-local", messages=messages)
    except openai.BadRequestError as exc:
        assert exc.code == "context_length_exceeded", exc.body
    return time.perf_counter() - start


async def probe(client, n: int) -> float:
    return statistics.median([await timed(client, SHORT) for _ in range(n)])


async def flood_forever(base_url: str, kind: str, flood: int) -> None:
    """The flood, in a process of its own (--flood-only): its client work must not slow the timed requests'
    own event loop, only the server (and the machine) it shares."""
    import openai

    client = openai.AsyncOpenAI(api_key="x", base_url=base_url, max_retries=0, timeout=600)
    messages = OVERSIZE if kind == "oversize" else LONG
    sent = 0

    async def hammer():
        nonlocal sent
        while True:
            await timed(client, messages)
            sent += 1
            if sent % 50 == 0:
                print(sent, flush=True)

    await asyncio.gather(*(hammer() for _ in range(flood)))


async def under_flood(client, base_url: str, kind: str, flood: int, probes: int) -> tuple[float, int]:
    flooder = subprocess.Popen([sys.executable, __file__, "--flood-only", kind, "--base-url", base_url,
                                "--flood", str(flood)], stdout=subprocess.PIPE, text=True,
                               env=os.environ | {"PYTHONPATH": str(REPO)})
    try:
        await asyncio.sleep(3.0)  # let the flood build up
        median = await probe(client, probes)
    finally:
        flooder.terminate()
        out, _ = flooder.communicate(timeout=30)
    sent = [int(line) for line in out.split() if line.isdigit()]
    return median, max(sent, default=0)


async def run(base_url: str, pid: int, flood: int, many: int, probes: int) -> None:
    import httpx2
    import openai

    limits = httpx2.Limits(max_connections=many + flood + 10, max_keepalive_connections=many + flood + 10)
    http = openai.DefaultAsyncHttpxClient(limits=limits, timeout=600)
    client = openai.AsyncOpenAI(api_key="x", base_url=base_url, http_client=http, max_retries=0)
    before = rss_mb(pid)
    # the first requests load the lexicon and the tokenizer: 40 at once must build each once
    await asyncio.gather(*(timed(client, SHORT) for _ in range(40)))
    print(f"40 concurrent first requests: server RSS {before:.0f} MB before, peak {peak_rss_mb(pid):.0f} MB")
    idle = await probe(client, probes)
    print(f"idle: short request median {idle * 1000:.1f} ms")
    for name in ("oversize", "long"):
        loaded, sent = await under_flood(client, base_url, name, flood, probes)
        print(f"{name}: {flood} concurrent from another process (at least {sent} answered meanwhile): short request "
              f"median {loaded * 1000:.1f} ms, {loaded / idle:.2f}x idle (target <= 2x)")
    start, cpu = time.perf_counter(), cpu_seconds(pid)
    latencies = await asyncio.gather(*(timed(client, SHORT) for _ in range(many)))
    wall, cpu = time.perf_counter() - start, cpu_seconds(pid) - cpu
    q = statistics.quantiles(latencies, n=100)
    print(f"many: {many} concurrent short requests in {wall:.2f} s (the server's CPU time {cpu:.2f} s; the rest is "
          f"this client): p50 {q[49] * 1000:.0f} ms, p99 {q[98] * 1000:.0f} ms; server peak RSS "
          f"{peak_rss_mb(pid):.0f} MB")
    await client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--flood", type=int, default=40)
    parser.add_argument("--many", type=int, default=1000)
    parser.add_argument("--probes", type=int, default=20)
    parser.add_argument("--flood-only", choices=("oversize", "long"), help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.flood_only:
        asyncio.run(flood_forever(args.base_url, args.flood_only, args.flood))
        return
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        server = subprocess.Popen([sys.executable, "-m", "core", "serve", "--port", str(port), "--data-dir",
                                   str(Path(tmp) / "backend")], cwd=REPO, stderr=subprocess.DEVNULL,
                                  env=os.environ | {"PYTHONPATH": str(REPO), "STARTUNE_HOME": tmp})
        try:
            import httpx2

            deadline = time.monotonic() + 30
            while True:
                try:
                    httpx2.get(f"http://127.0.0.1:{port}/v1/models", timeout=1)
                    break
                except httpx2.TransportError:
                    if time.monotonic() > deadline or server.poll() is not None:
                        raise SystemExit("startune serve did not start") from None
                    time.sleep(0.1)
            asyncio.run(run(f"http://127.0.0.1:{port}/v1", server.pid, args.flood, args.many, args.probes))
        finally:
            server.terminate()
            server.wait(10)


if __name__ == "__main__":
    main()
