"""The long schemathesis run against `startune serve` (by hand, not in CI; tests/core/backend/test_fuzz.py is
the short seeded one).

Starts `startune serve` as a subprocess on a free 127.0.0.1 port with a fresh data folder, writes OpenAI's
spec with the documented patches (tests/core/backend/openapi_check.py), cut down to the operations the
backend implements, and runs schemathesis with every check. Prints schemathesis' report, the run time and
the server's peak RSS; exits with schemathesis' code (0: no failure).

    python benchmarks/fuzz_backend.py [--examples 1000] [--seed N] [--api-key KEY] [--workers 2] [--max-time S]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def wait_listening(port: int, proc: subprocess.Popen, timeout: float = 30.0) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"startune serve exited with {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise SystemExit("startune serve did not start listening")


def peak_rss_mb(pid: int) -> float | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    found = re.search(r"VmHWM:\s+(\d+) kB", status)
    return int(found.group(1)) / 1024 if found else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=1000, help="examples per operation and phase")
    parser.add_argument("--seed", type=int, default=int(time.time()) % 100_000)
    parser.add_argument("--api-key", default=None, help="run the server with this key (and send it)")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--max-time", type=int, default=None, help="seconds; fuzzing repeats until spent")
    args = parser.parse_args()

    from tests.core.backend.fuzzing import run_schemathesis, write_spec
    from tests.fixtures.backend import free_port

    with tempfile.TemporaryDirectory(prefix="startune-fuzz-") as tmp:
        tmp = Path(tmp)
        spec = write_spec(tmp / "spec", auth=args.api_key is not None)
        port = free_port()
        cmd = [sys.executable, "-c", "import sys; from core.cli import main; main(sys.argv[1:])",
               "serve", "--port", str(port), "--data-dir", str(tmp / "data")]
        env = {**os.environ, "PYTHONPATH": str(REPO), "STARTUNE_HOME": str(tmp / "home")}
        if args.api_key:
            env["STARTUNE_SERVE_API_KEY"] = args.api_key
        server = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, text=True)
        try:
            wait_listening(port, server)
            extra = ("--max-time", str(args.max_time)) if args.max_time else ()
            start = time.perf_counter()
            run = run_schemathesis(spec, f"http://127.0.0.1:{port}/v1", max_examples=args.examples, seed=args.seed,
                                   api_key=args.api_key, workers=args.workers, extra=extra)
            elapsed = time.perf_counter() - start
            rss = peak_rss_mb(server.pid)
        finally:
            server.terminate()
            try:
                _, server_log = server.communicate(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
                _, server_log = server.communicate()
    print(run.stdout)
    if run.stderr.strip():
        print(run.stderr[-4000:], file=sys.stderr)
    tracebacks = server_log.count("Traceback")
    generated = re.search(r"(\d+) generated", run.stdout)
    print(f"seed {args.seed}, {args.examples} examples per operation, auth {'on' if args.api_key else 'off'}: "
          f"{generated.group(1) if generated else '?'} requests in {elapsed:.0f} s; "
          f"server peak RSS {rss:.0f} MB; {tracebacks} tracebacks in the server log; exit {run.returncode}"
          if rss is not None else f"exit {run.returncode}")
    return run.returncode or (1 if tracebacks else 0)


if __name__ == "__main__":
    sys.exit(main())
