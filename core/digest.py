"""The sha256 of a file, read in chunks: what builds, uploads, evaluations and shipped weights are
recognised by. One loop, so a file is never read whole into memory to be hashed."""

from __future__ import annotations

from pathlib import Path

from core.progress import ProgressFn, null_progress

CHUNK = 1 << 22


def sha256_file(path: Path, progress: ProgressFn = null_progress, stage: str = "fingerprint") -> str:
    import hashlib

    digest = hashlib.sha256()
    path = Path(path)
    total, done = path.stat().st_size, 0
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
            done += len(chunk)
            progress(stage, done, total)
    return digest.hexdigest()


_checked: dict[tuple[str, int, int, str], bool] = {}


def has_sha256(path: Path, expected: str) -> bool:
    """Whether ``path`` holds the bytes ``expected`` names. Remembered per size and mtime, because the
    shipped weights are hundreds of MB and are checked on every job."""
    stat = Path(path).stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns, expected)
    if key not in _checked:
        _checked[key] = sha256_file(path) == expected
    return _checked[key]
