"""A build folder that changes as a whole: written aside, swapped in, one writer at a time.

Each file being atomic is not enough: a kill between two renames would leave a new train.jsonl beside
an old manifest.json. So a build is written into a fresh hidden sibling folder and swapped with the
old one in a single rename (Linux renameat2 RENAME_EXCHANGE; elsewhere two renames, and the next run
puts the old folder back if a kill fell between them). A lock file beside the folder serialises
writers, and whoever holds it removes what killed runs left behind.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import os
import secrets
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

from core.errors import ConfigError

BUILD_FILES = frozenset({"manifest.json", "train.jsonl", "val.jsonl", "test.jsonl"})
LOCK_WAIT_SECONDS = 600.0
_RENAME_EXCHANGE = 2
IN_PLACE = ".startune-build-"   # the build folder inside an output folder that is a mount point
IN_PLACE_LOCK = ".startune.lock"


def _names(out: Path) -> tuple[str, str, str]:
    return f".{out.name}.build-", f".{out.name}.old-", ".tmp"


def _lock_path(out: Path) -> Path:
    return out.parent / f".{out.name}.lock"


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one step; False where the system cannot (then the caller falls back)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd = -100
    rc = renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), _RENAME_EXCHANGE)
    if rc != 0:
        code = ctypes.get_errno()
        if code in (22, 38, 95):  # EINVAL, ENOSYS, EOPNOTSUPP: this filesystem cannot exchange
            return False
        raise OSError(code, os.strerror(code), str(b))
    return True


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):  # not every platform can open a folder
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def recover_and_clean(out: Path) -> None:
    """Call with the lock held: put back an old build a kill left aside, remove temporary leftovers."""
    build, old, tmp = _names(out)
    leftovers = sorted(p for p in out.parent.glob(f"{old}*{tmp}") if p.is_dir())
    if leftovers and not out.exists():
        os.rename(leftovers.pop(), out)
    for path in [*leftovers, *(p for p in out.parent.glob(f"{build}*{tmp}"))]:
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
    if out.is_dir():
        # from per-file atomic writes of killed runs, and killed builds written in place
        for stale in out.glob(".*.tmp"):
            if stale.is_dir() and not stale.is_symlink():
                shutil.rmtree(stale, ignore_errors=True)
            else:
                with contextlib.suppress(FileNotFoundError):
                    stale.unlink()


def _clean_siblings(out: Path) -> None:
    """What killed builds of other folders beside ``out`` left (``.OTHER.build-*.tmp``, a build set aside):
    each cleaned under its own lock, taken only when free, so a build still running is never touched."""
    from filelock import FileLock, Timeout

    others = set()
    for path in out.parent.glob(".*.tmp"):
        for marker in (".build-", ".old-"):
            name, found, _ = path.name[1:].rpartition(marker)
            if found and name and name != out.name:
                others.add(name)
    for name in sorted(others):
        other = out.parent / name
        lock = FileLock(_lock_path(other))
        try:
            lock.acquire(timeout=0)
        except (Timeout, OSError):
            continue
        try:
            recover_and_clean(other)
        finally:
            lock.release()


def _check_replaceable(out: Path, in_place: bool = False) -> None:
    if not out.exists():
        return
    if not out.is_dir():
        raise ConfigError("output path exists and is not a folder", path=out)
    allowed = BUILD_FILES | ({"lost+found", IN_PLACE_LOCK} if in_place else set())  # an ext4 volume has lost+found
    others = sorted(p.name for p in out.iterdir() if p.name not in allowed)
    if others:
        shown = ", ".join(others[:3]) + (", ..." if len(others) > 3 else "")
        raise ConfigError(f"folder holds files that are not part of a startune build ({shown})", path=out,
                          hint="choose a new or empty folder for --out")


@contextlib.contextmanager
def build_folder(out_dir: str | Path) -> Iterator[Path]:
    """Yield an empty temporary folder beside ``out_dir``; when the block succeeds, it becomes
    ``out_dir`` in one step (the old build, if any, is removed). On failure ``out_dir`` is untouched."""
    from filelock import FileLock, Timeout

    out = Path(out_dir).expanduser().absolute()
    if out.exists() and not out.is_dir():
        raise ConfigError("output path exists and is not a folder", path=out_dir)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create the output folder: {exc.strerror}", path=out.parent) from None
    # a mount point (a Docker volume's root) cannot be renamed, and the folder above it may not be
    # writable: the lock and the build are inside it, and its files are replaced one by one, the manifest last
    in_place = out.is_dir() and os.path.ismount(out)
    try:
        with _storage_errors(out):
            lock = FileLock(out / IN_PLACE_LOCK if in_place else _lock_path(out))
            lock.acquire(timeout=LOCK_WAIT_SECONDS)
    except Timeout:
        raise ConfigError("another startune prepare is still writing this folder", path=out_dir) from None
    try:
        with _storage_errors(out):
            recover_and_clean(out)
            if not in_place:
                _clean_siblings(out)
            _check_replaceable(out, in_place)
            build, old, tmp = _names(out)
            while True:
                work = (out / f"{IN_PLACE}{secrets.token_hex(4)}{tmp}" if in_place
                        else out.parent / f"{build}{secrets.token_hex(4)}{tmp}")
                try:
                    work.mkdir()  # honours the umask, unlike mkdtemp's 0700
                    break
                except FileExistsError:
                    continue
        try:
            with _storage_errors(out):
                yield work
                _fsync_dir(work)
                if in_place:
                    _fill_in_place(work, out)
                else:
                    _swap_in(work, out, out.parent / f"{old}{secrets.token_hex(4)}{tmp}")
        finally:
            shutil.rmtree(work, ignore_errors=True)  # after a swap: the old build
    finally:
        lock.release()


@contextlib.contextmanager
def _storage_errors(out: Path) -> Iterator[None]:
    """A full, read-only or forbidden disk as one line naming the output folder."""
    from core.errors import storage_error

    try:
        yield
    except OSError as exc:
        found = storage_error(exc, out)
        if found is None:
            raise
        raise found from None


def _fill_in_place(work: Path, out: Path) -> None:
    """Move the new build's files into ``out`` itself, each in one rename (a copy first where ``work`` is on
    another file system), the manifest last, so ``out`` is never without a whole manifest for long; files of
    the old build that the new one lacks go last."""
    names = sorted(p.name for p in work.iterdir())
    names.sort(key=lambda name: name == "manifest.json")
    for name in names:
        target = out / name
        try:
            os.replace(work / name, target)
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise
            staged = out / f".{name}.{secrets.token_hex(4)}.tmp"
            shutil.copyfile(work / name, staged)
            with open(staged, "rb") as fh:
                os.fsync(fh.fileno())
            os.replace(staged, target)
    for stale in BUILD_FILES - set(names):
        with contextlib.suppress(FileNotFoundError):
            (out / stale).unlink()
    _fsync_dir(out)


def _swap_in(work: Path, out: Path, aside: Path) -> None:
    try:
        if not out.exists():
            os.rename(work, out)
        elif not _exchange(work, out):
            os.rename(out, aside)
            os.rename(work, out)
            shutil.rmtree(aside, ignore_errors=True)
    except OSError as exc:
        if exc.errno != errno.EBUSY:
            raise
        # a mount point that os.path.ismount cannot see (a bind mount from the same file system)
        _fill_in_place(work, out)
    _fsync_dir(out.parent)
