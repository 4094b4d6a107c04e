"""Shared test set-up.

Every test gets its own ``STARTUNE_HOME`` so nothing touches the user's real
registry or backend, and no API key leaks in from the environment.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"
THREADS_CSV = SHARED_DATA / "threads_reviews.csv"
# CI sets this so the real-review tests can never be skipped there (.ci/run exports it).
REQUIRE_SHARED_DATA = "STARTUNE_REQUIRE_SHARED_DATA"

# Area fixtures live in their own modules so each part of the project owns its own.
pytest_plugins = [
    "tests.fixtures.data",
    "tests.fixtures.backend",
]

_KEY_VARS = (
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "OPENAI_ORG_ID",
    "OPENAI_PROJECT_ID",
    "AZURE_OPENAI_API_KEY",
    "AZURE_OPENAI_ENDPOINT",
    "OPENAI_API_VERSION",
    "STARTUNE_BACKEND",
)


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One STARTUNE_CACHE for the whole run, both xdist workers included: what it holds (an LLM base as
    float weights) is a pure function of its name, and each test making its own would write 540 MB."""
    base = tmp_path_factory.getbasetemp()
    return (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "startune-cache"


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch,
                  shared_cache: Path) -> Path:
    home = tmp_path_factory.mktemp("startune-home")
    monkeypatch.setenv("STARTUNE_HOME", str(home))
    monkeypatch.setenv("STARTUNE_CACHE", str(shared_cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    for var in _KEY_VARS:
        monkeypatch.delenv(var, raising=False)
    return home


def shared_data_file(path: Path) -> Path:
    """``path`` under ../shared/data; when it is missing the test is skipped with the reason (a fresh
    clone has no real reviews), or fails when STARTUNE_REQUIRE_SHARED_DATA=1 (CI must run them)."""
    if path.is_file():
        return path
    reason = f"shared test data {path} is missing (../shared beside the checkout)"
    if os.environ.get(REQUIRE_SHARED_DATA) == "1":
        pytest.fail(f"{reason}; {REQUIRE_SHARED_DATA}=1 requires it", pytrace=False)
    pytest.skip(f"skipped: {reason}; set {REQUIRE_SHARED_DATA}=1 to make this a failure")


@pytest.fixture(scope="session")
def threads_csv() -> Path:
    """The real reviews in ../shared/data: skipped with a reason when absent, unless required."""
    return shared_data_file(THREADS_CSV)


@pytest.fixture(scope="session")
def sample_csv() -> Path:
    path = REPO / "assets" / "sample_reviews.csv"
    assert path.is_file(), "assets/sample_reviews.csv is missing: run python scripts/make_sample.py"
    return path
