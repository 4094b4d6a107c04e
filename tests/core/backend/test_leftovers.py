"""Issue 29 item 10: what a SIGKILL leaves in the backend's folder is removed by the next backend to open it,
and never while its writer may still be alive."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path


from core.backend import leftovers
from tests.fixtures.backend import ServerThread, free_port, wait_serving

REPO = Path(__file__).resolve().parents[3]
KILLED_IN_A_CHECKPOINT = """
import os, signal, sys
from pathlib import Path
from core.backend.model_files import write_dir

def write(folder):
    (folder / "weights.npy").write_bytes(b"x" * 4096)
    os.kill(os.getpid(), signal.SIGKILL)   # killed halfway through the checkpoint

write_dir(Path(sys.argv[1]) / "models" / "ftckpt_killed", write)
"""


def _age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    for p in [path, *(path.rglob("*") if path.is_dir() else [])]:
        os.utime(p, (then, then), follow_symlinks=False)


def _kill_during_checkpoint(data: Path) -> Path:
    (data / "models").mkdir(parents=True, exist_ok=True)
    done = subprocess.run([sys.executable, "-c", KILLED_IN_A_CHECKPOINT, str(data)], cwd=REPO, timeout=60,
                          env=os.environ | {"PYTHONPATH": str(REPO)}, capture_output=True)
    assert done.returncode == -signal.SIGKILL, done.stderr
    [left] = (data / "models").glob(".ftckpt_killed.*.tmp")
    return left


def _kill_during_upload(data: Path, tmp_path: Path) -> Path:
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "core", "serve", "--port", str(port), "--data-dir", str(data)],
                              cwd=REPO, env=os.environ | {"PYTHONPATH": str(REPO)}, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        wait_serving(port, server)
        big = tmp_path / "big.jsonl"
        with big.open("wb") as f:
            f.truncate(120 * 2**20)
        sender = subprocess.Popen([sys.executable, "-c", (
            "import sys, httpx2; httpx2.post(sys.argv[1], files={'file': open(sys.argv[2], 'rb')}, "
            "data={'purpose': 'fine-tune'}, timeout=60)"), f"http://127.0.0.1:{port}/v1/files", str(big)],
            cwd=REPO, env=os.environ | {"PYTHONPATH": str(REPO)}, stderr=subprocess.DEVNULL)
        files = data / "files"
        deadline = time.monotonic() + 60
        while not (parts := list(files.glob("file-*.part"))):
            assert time.monotonic() < deadline and sender.poll() is None, "the upload ended before it was seen"
            time.sleep(0.001)
        server.kill()  # mid-copy: the .part stays
        server.wait(10)
        sender.kill()
        sender.wait(10)
        return parts[0]
    finally:
        server.kill()
        server.wait(10)


def test_leftovers_of_killed_writers_are_removed_at_the_next_start(tmp_path):
    data = tmp_path / "backend"
    checkpoint = _kill_during_checkpoint(data)
    part = _kill_during_upload(data, tmp_path)
    assert part.exists() and checkpoint.exists()
    _age(checkpoint, 2 * leftovers.GRACE)
    _age(part, 2 * leftovers.GRACE)
    server = ServerThread(data).start()
    try:
        assert not checkpoint.exists() and not part.exists()
        assert (data / "backend.sqlite3").exists()
    finally:
        server.stop()


def test_a_live_or_recent_writer_keeps_its_temporary_files(tmp_path):
    data = tmp_path / "backend"
    checkpoint = _kill_during_checkpoint(data)
    (data / "files").mkdir()
    mine = leftovers.part_path(data / "files" / "file-live")
    mine.write_bytes(b"in progress")
    _age(mine, 2 * leftovers.GRACE)  # this process is alive: however old, it stays
    assert leftovers.remove_leftovers(data) == []
    assert checkpoint.exists() and mine.exists(), "a writer that may still be writing lost its file"
    _age(checkpoint, 2 * leftovers.GRACE)
    assert leftovers.remove_leftovers(data) == [checkpoint]
