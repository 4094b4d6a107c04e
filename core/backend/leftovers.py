"""What a killed backend leaves in its data folder, and removing it when the next one opens the folder.

A kill during a checkpoint or model write leaves ``models/.NAME.PID.XXXX.tmp`` (core.backend.model_files
.write_dir), one during an upload ``files/file-ID.PID.part``, one during a result file
``files/.file-ID.XXXX.tmp`` (core.atomic). Several processes may hold one data folder at once, so a
leftover is removed only when nobody can still be writing it: the process named in it is gone (or none
is named) and nothing in it changed for ``GRACE`` seconds, which also covers a writer in another PID
namespace (a container sharing the folder), whose PIDs mean nothing here.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

GRACE = 60.0
_PID = re.compile(r"\.(\d+)\.(?:[^.]+\.tmp|part)$")


def temp_name(target: Path) -> str:
    """The prefix of a temporary sibling of ``target`` this process writes (names its PID)."""
    return f".{target.name}.{os.getpid()}."


def part_path(target: Path) -> Path:
    return target.with_name(f"{target.name}.{os.getpid()}.part")


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


def _last_change(path: Path) -> float:
    newest = path.lstat().st_mtime
    if path.is_dir():
        for child in path.rglob("*"):
            newest = max(newest, child.lstat().st_mtime)
    return newest


def stale(path: Path, now: float | None = None) -> bool:
    match = _PID.search(path.name)
    if match and _alive(int(match.group(1))):
        return False
    try:
        return (now or time.time()) - _last_change(path) > GRACE
    except FileNotFoundError:
        return False  # its writer just finished with it


def candidates(data_dir: Path) -> list[Path]:
    models, files = data_dir / "models", data_dir / "files"
    found = [*models.glob(".*.tmp"), *files.glob("file-*.part"), *files.glob(".file-*.tmp")]
    return sorted(found)


def remove_leftovers(data_dir: Path) -> list[Path]:
    """Remove the stale temporary files and folders of killed writers; return what was removed."""
    removed = []
    for path in candidates(Path(data_dir)):
        if not stale(path):
            continue
        try:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
        except FileNotFoundError:
            continue
        except OSError:
            continue  # a read-only folder: nothing to do about it here
        removed.append(path)
    return removed
