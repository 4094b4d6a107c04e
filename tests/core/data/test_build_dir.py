"""A build folder changes as a whole: kills, failures and two writers never leave a mixed folder."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

import core.data.build_dir as build_dir
from core.data.pipeline import PrepareOptions, prepare
from core.errors import ConfigError

REPO = Path(__file__).resolve().parents[3]


def assert_whole(out: Path) -> dict:
    """The folder holds exactly a manifest and the files it lists, each with its recorded sha256."""
    manifest = orjson.loads((out / "manifest.json").read_bytes())
    listed = {split["file"]: split for split in manifest["splits"].values()}
    assert sorted(p.name for p in out.iterdir()) == sorted([*listed, "manifest.json"])
    for name, split in listed.items():
        data = (out / name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == split["sha256"], name
        assert len(data) == split["bytes"]
    return manifest


def leftovers(out: Path) -> list[str]:
    return sorted(p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.") and p.suffix == ".tmp")


def _prepare_cmd(source: Path, out: Path, seed: int) -> list[str]:
    return [sys.executable, "-m", "core", "prepare", str(source), "--out", str(out), "--seed", str(seed), "--json"]


def _env() -> dict:
    return os.environ | {"PYTHONPATH": str(REPO)}


@pytest.mark.slow
def test_sigkill_while_rewriting_a_build_leaves_the_old_or_the_new_build_whole(threads_csv, tmp_path):
    out = tmp_path / "build"
    first = prepare(threads_csv, out, PrepareOptions(seed=1)).manifest
    started = time.perf_counter()
    subprocess.run(_prepare_cmd(threads_csv, tmp_path / "timing", 2), env=_env(), check=True,
                   stdout=subprocess.DEVNULL)
    full = time.perf_counter() - started
    seen = set()
    # kill at moments spread over a whole run: loading, cleaning, writing, validating, swapping
    for fraction in (0.3, 0.5, 0.65, 0.75, 0.85, 0.9, 0.95, 1.0):
        proc = subprocess.Popen(_prepare_cmd(threads_csv, out, 3), env=_env(), stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        time.sleep(full * fraction)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        manifest = assert_whole(out)
        seen.add(manifest["seed"])
        # what the killed run left aside is removed by the next writer, under the lock
        build_dir.recover_and_clean(out)
        assert leftovers(out) == []
        assert assert_whole(out) == manifest
    assert seen <= {1, 3}
    assert first["seed"] == 1


@pytest.mark.slow
def test_two_prepares_into_one_folder_at_once_give_one_whole_build(threads_csv, tmp_path):
    out = tmp_path / "build"
    for _ in range(2):
        procs = [subprocess.Popen(_prepare_cmd(threads_csv, out, seed), env=_env(), stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE) for seed in (11, 12)]
        for proc in procs:
            assert proc.wait() == 0, proc.stderr.read().decode()
            proc.stderr.close()
        assert assert_whole(out)["seed"] in (11, 12)
        assert leftovers(out) == []


def test_a_failure_mid_write_leaves_the_old_build_untouched(sample_csv, tmp_path, monkeypatch):
    import core.data.pipeline as pipeline

    out = tmp_path / "b"
    before = assert_whole(prepare(sample_csv, out, PrepareOptions(seed=1)).out_dir)
    real_write = pipeline.write_jsonl
    calls = []

    def failing_write(path, frame, fmt, **kw):
        calls.append(path)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_write(path, frame, fmt, **kw)

    monkeypatch.setattr(pipeline, "write_jsonl", failing_write)
    with pytest.raises(KeyboardInterrupt):
        prepare(sample_csv, out, PrepareOptions(seed=2))
    assert assert_whole(out) == before
    assert leftovers(out) == []


def test_stale_temporary_files_of_killed_runs_are_removed(sample_csv, tmp_path):
    out = tmp_path / "b"
    prepare(sample_csv, out, PrepareOptions())
    (tmp_path / ".b.build-dead.tmp").mkdir()
    (tmp_path / ".b.build-dead.tmp" / "train.jsonl").write_bytes(b"x" * 100)
    (out / ".train.jsonl.k1ll3d.tmp").write_bytes(b"half a file")
    prepare(sample_csv, out, PrepareOptions(seed=5))
    assert leftovers(out) == []
    assert assert_whole(out)["seed"] == 5


def test_a_build_set_aside_by_a_kill_between_two_renames_comes_back(sample_csv, tmp_path, monkeypatch):
    # where the system cannot swap two folders in one step, the old build is renamed aside first;
    # a kill right then leaves no folder under the final name, and the next writer restores it
    out = tmp_path / "b"
    before = assert_whole(prepare(sample_csv, out, PrepareOptions(seed=1)).out_dir)
    monkeypatch.setattr(build_dir, "_exchange", lambda a, b: False)
    real_rename = os.rename

    def rename_then_die(src, dst):
        real_rename(src, dst)
        if Path(dst).name.startswith(".b.old-"):
            raise KeyboardInterrupt  # stands for the kill between the two renames

    monkeypatch.setattr(build_dir.os, "rename", rename_then_die)
    with pytest.raises(KeyboardInterrupt):
        prepare(sample_csv, out, PrepareOptions(seed=2))
    assert not out.exists()
    monkeypatch.setattr(build_dir.os, "rename", real_rename)
    build_dir.recover_and_clean(out)
    assert assert_whole(out) == before
    prepare(sample_csv, out, PrepareOptions(seed=3))  # and the fallback swap itself works
    assert assert_whole(out)["seed"] == 3 and leftovers(out) == []


def test_a_folder_with_other_files_is_not_replaced(sample_csv, tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    with pytest.raises(ConfigError, match="not part of a startune build"):
        prepare(sample_csv, out, PrepareOptions())
    assert (out / "notes.txt").read_text() == "keep me"
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]


def test_a_build_cleans_what_killed_builds_of_other_folders_left(sample_csv, tmp_path):
    from filelock import FileLock

    killed = tmp_path / "killed"
    proc = subprocess.Popen(_prepare_cmd(sample_csv, killed, 1), env=_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not leftovers(killed):
        assert time.monotonic() < deadline and proc.poll() is None, "the build ended before it was seen"
        time.sleep(0.001)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    assert leftovers(killed)
    busy = tmp_path / "busy"
    (tmp_path / ".busy.build-0000.tmp").mkdir()
    with FileLock(build_dir._lock_path(busy)):   # a build of "busy" still running in another process
        prepare(sample_csv, tmp_path / "other", PrepareOptions(seed=1))
    assert leftovers(killed) == [], "a killed build of a sibling folder was left behind"
    assert leftovers(busy) == [".busy.build-0000.tmp"], "a running build's folder was removed"
    assert_whole(tmp_path / "other")
