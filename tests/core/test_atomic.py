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
