"""Names a new user types (issue 25): too long for the OS, no extension, not a hub id."""

from __future__ import annotations

import subprocess
import sys

import pytest

from core.data.load import _looks_like_hf_name, load_dataset
from core.errors import DataError


def test_a_name_longer_than_the_os_allows_is_one_line_error(tmp_path):
    with pytest.raises(DataError, match="too long"):
        load_dataset(tmp_path / ("r" * 300 + ".csv"))


def test_a_local_file_without_its_extension_wins_over_the_hub(tmp_path, monkeypatch):
    (tmp_path / "reviews.csv").write_text("review,star\nfine,4\nbad,1\n")
    monkeypatch.chdir(tmp_path)
    assert load_dataset("reviews").frame.shape == (2, 2)
    (tmp_path / "reviews.jsonl").write_text('{"review": "ok", "star": 3}\n')
    with pytest.raises(DataError, match="several files match: reviews.csv, reviews.jsonl"):
        load_dataset("reviews")


def test_only_hub_shaped_ids_go_to_the_hub():
    assert _looks_like_hf_name("imdb") and _looks_like_hf_name("owner/name")
    assert not _looks_like_hf_name("a" * 300) and not _looks_like_hf_name("a/b/c")


def test_offline_the_hub_lookup_fails_fast(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens: refused at once
    with pytest.raises(DataError, match="cannot be reached"):
        load_dataset("nobody/such-dataset")


def test_the_cli_names_a_too_long_path_without_a_traceback(tmp_path):
    done = subprocess.run([sys.executable, "-m", "core", "inspect", "x" * 300], capture_output=True, text=True,
                          cwd=tmp_path, timeout=120)
    assert done.returncode != 0 and "too long" in done.stderr and "Traceback" not in done.stderr
