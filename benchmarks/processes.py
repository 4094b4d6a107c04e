"""A benchmark's unit of measure: one whole command in its own process, timed from outside, with the
peak RSS the OS counted for it (os.wait4), as a user running it would see it."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def whole_command(cmd: list[str], env: dict[str, str] | None = None, repo: Path = REPO) -> tuple[float, float, bytes]:
    """(seconds, peak RSS in MB, stdout) of ``cmd`` run from ``repo`` (this checkout, or another version's)
    with ``env`` added to this environment; a failing command ends the benchmark with the end of its stderr."""
    full_env = os.environ | {"PYTHONPATH": str(repo)} | (env or {})
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=repo, env=full_env, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        out.seek(0), err.seek(0)
        if os.waitstatus_to_exitcode(status):
            raise SystemExit(f"{' '.join(map(str, cmd))} failed:\n{err.read().decode()[-3000:]}")
        return seconds, usage.ru_maxrss / 1024, out.read()


def child_result(cmd: list[str], what: str) -> dict:
    """What a benchmark's own role run in a child (``what``) printed last, as JSON, with the child's wall
    time (``wall_s``) and peak RSS (``peak_rss_mb``) as the OS counted them. Its stderr shows here as it
    runs: a role's loading and training take minutes."""
    import orjson

    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, env=os.environ | {"PYTHONPATH": str(REPO)})
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    if code:
        raise SystemExit(f"{what} failed with exit code {code}")
    return orjson.loads(out.strip().splitlines()[-1]) | {"wall_s": wall, "peak_rss_mb": usage.ru_maxrss / 1024}


def startune(*args: str) -> list[str]:
    """The command line of ``startune ARGS`` with this interpreter and this checkout."""
    return [sys.executable, "-m", "core", *args]
