"""The o200k ranks kept as marshal under the cache: the same encoding from the copy, and a damaged or
unwritable copy costs speed only."""

from __future__ import annotations

from core.validation import tokens


def _fresh_encoding():
    # past the process's own memo: what the next process would build
    return tokens._build_encoding("o200k_base")


def _copies(cache):
    return sorted((cache / "tokenizers").glob("o200k_base-*.marshal"))


def test_the_first_build_writes_the_ranks_and_the_next_reads_the_same_encoding(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("STARTUNE_CACHE", str(cache))
    first = _fresh_encoding()
    assert len(_copies(cache)) == 1
    second = _fresh_encoding()
    text = "Ça marche 很好 — 5 stars!! 👍🏽 https://example.com/x?y=1"
    assert second.encode_ordinary(text) == first.encode_ordinary(text)
    assert second.n_vocab == first.n_vocab == 200_019
    assert second.encode("Hello world") == [13225, 2375]


def test_a_damaged_copy_is_rebuilt(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("STARTUNE_CACHE", str(cache))
    _fresh_encoding()
    (copy,) = _copies(cache)
    for damage in (b"", b"\x00not marshal", copy.read_bytes()[:1000]):
        copy.write_bytes(damage)
        assert _fresh_encoding().encode("Hello world") == [13225, 2375]
        assert copy.stat().st_size > 1_000_000   # written again, whole


def test_a_cache_that_cannot_be_written_costs_speed_only(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("STARTUNE_CACHE", str(blocker / "cache"))
    assert _fresh_encoding().encode("Hello world") == [13225, 2375]
