"""Tests that need ../shared/data skip on a fresh clone, unless CI requires the data."""

from __future__ import annotations

import pytest

from tests.conftest import REQUIRE_SHARED_DATA, shared_data_file


def test_missing_shared_data_skips_with_the_reason(tmp_path, monkeypatch):
    monkeypatch.delenv(REQUIRE_SHARED_DATA, raising=False)
    with pytest.raises(pytest.skip.Exception, match="shared test data .*missing.*STARTUNE_REQUIRE_SHARED_DATA=1"):
        shared_data_file(tmp_path / "threads_reviews.csv")


def test_missing_shared_data_fails_when_required(tmp_path, monkeypatch):
    monkeypatch.setenv(REQUIRE_SHARED_DATA, "1")
    with pytest.raises(pytest.fail.Exception, match="missing.*requires it"):
        shared_data_file(tmp_path / "threads_reviews.csv")


def test_present_shared_data_is_returned(tmp_path):
    path = tmp_path / "threads_reviews.csv"
    path.write_text("review,star\n")
    assert shared_data_file(path) == path


def test_ci_requires_the_shared_data():
    from tests.conftest import REPO

    script = (REPO / ".ci" / "run").read_text()
    assert f"export {REQUIRE_SHARED_DATA}=1" in script
    assert script.index(REQUIRE_SHARED_DATA) < script.index("pytest")
