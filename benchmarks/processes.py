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


def whole_command(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float, bytes]:
    """(seconds, peak RSS in MB, stdout) of ``cmd`` run from the repository with ``env`` added to this
    environment; a failing command ends the benchmark with the end of its stderr."""
    full_env = os.environ | {"PYTHONPATH": str(REPO)} | (env or {})
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=REPO, env=full_env, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        out.seek(0), err.seek(0)
        if os.waitstatus_to_exitcode(status):
            raise SystemExit(f"{' '.join(map(str, cmd))} failed:\n{err.read().decode()[-3000:]}")
        return seconds, usage.ru_maxrss / 1024, out.read()


def startune(*args: str) -> list[str]:
    """The command line of ``startune ARGS`` with this interpreter and this checkout."""
    return [sys.executable, "-m", "core", *args]
