"""Atomic file output: write to a temporary file beside the target, then rename.

An interrupted run never leaves a half-written file under a final name.

Who may read the file is one explicit choice, ``private``: startune's own files under STARTUNE_HOME
(registry, uploads, models) stay 0600 as mkstemp makes them (the default, so a forgotten caller errs
on the side of keeping data private); a file in the user's own output folder (a build, an export, a
report) gets the mode any program the user runs would give it, 0666 less the umask.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO


def _umask() -> int:
    # /proc tells the umask without changing it; os.umask's set-and-restore would briefly change it
    # for every thread of the process (the backend and the app write files on threads).
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def user_mode() -> int:
    """The mode a plain ``open(path, "w")`` would give a new file now."""
    return 0o666 & ~_umask()


@contextlib.contextmanager
def atomic_open(path: str | Path, mode: str = "wb", *, private: bool = True) -> Iterator[IO]:
    """Open a temporary file in ``path``'s folder; on success rename it onto ``path``.

    On any exception the temporary file is removed and ``path`` is untouched. ``private=False``
    for a file in the user's own folder (module docstring).
    """
    if mode not in ("w", "wb"):
        raise ValueError("atomic_open writes only ('w' or 'wb')")
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        if not private:
            os.fchmod(fd, user_mode())
        with (os.fdopen(fd, "w", encoding="utf-8", newline="\n") if mode == "w" else os.fdopen(fd, "wb")) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_bytes(path: str | Path, data: bytes, *, private: bool = True) -> None:
    with atomic_open(path, "wb", private=private) as fh:
        fh.write(data)


def write_text(path: str | Path, text: str, *, private: bool = True) -> None:
    with atomic_open(path, "w", private=private) as fh:
        fh.write(text)
