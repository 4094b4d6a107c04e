import pytest

from core.atomic import atomic_open, write_bytes


def test_crash_mid_write_keeps_the_old_file_and_leaves_no_temp(tmp_path):
    target = tmp_path / "train.jsonl"
    write_bytes(target, b"old\n")
    with pytest.raises(RuntimeError), atomic_open(target, "wb") as fh:
        fh.write(b"half a li")
        raise RuntimeError("power cut")
    assert target.read_bytes() == b"old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["train.jsonl"]


def _mode(path) -> int:
    return path.stat().st_mode & 0o777


def test_a_file_in_the_users_folder_gets_the_umask_mode_and_startune_home_stays_private(tmp_path):
    import os

    old = os.umask(0o027)
    try:
        write_bytes(tmp_path / "shared.json", b"{}", private=False)
        write_bytes(tmp_path / "private.json", b"{}")
    finally:
        os.umask(old)
    assert _mode(tmp_path / "shared.json") == 0o640
    assert _mode(tmp_path / "private.json") == 0o600


def test_a_build_gets_the_umask_mode_like_any_file_the_user_writes(tmp_path, sample_csv):
    import os

    from core.data.pipeline import PrepareOptions, prepare

    old = os.umask(0o022)
    try:
        prepare(sample_csv, tmp_path / "build", PrepareOptions())
    finally:
        os.umask(old)
    for name in ("train.jsonl", "val.jsonl", "test.jsonl", "manifest.json"):
        assert _mode(tmp_path / "build" / name) == 0o644, name
