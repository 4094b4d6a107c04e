"""Issue 29 item 4: concurrent first calls build one tokenizer (a fresh process, as a server starts)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
RACE = """
import threading
from core.validation.tokens import get_encoding
start, got = threading.Barrier(16), []
def first():
    start.wait()
    got.append(id(get_encoding("o200k_base")))
threads = [threading.Thread(target=first) for _ in range(16)]
[t.start() for t in threads]
[t.join() for t in threads]
print(len(set(got)))
"""


def test_concurrent_first_calls_share_one_encoding():
    done = subprocess.run([sys.executable, "-c", RACE], cwd=REPO, capture_output=True, text=True, timeout=60,
                          env=os.environ | {"PYTHONPATH": str(REPO)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "1", f"{done.stdout.strip()} encodings built by 16 concurrent first calls"
