"""Shared test set-up.

Every test gets its own ``STARTUNE_HOME`` so nothing touches the user's real
registry or backend, and no API key leaks in from the environment.
"""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"
THREADS_CSV = SHARED_DATA / "threads_reviews.csv"

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


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path_factory.mktemp("startune-home")
    monkeypatch.setenv("STARTUNE_HOME", str(home))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    for var in _KEY_VARS:
        monkeypatch.delenv(var, raising=False)
    return home


@pytest.fixture(scope="session")
def threads_csv() -> Path:
    """The real reviews in ../shared/data. Missing data is a failure, never a skip."""
    assert THREADS_CSV.is_file(), f"{THREADS_CSV} is missing: tests need ../shared/data beside the checkout"
    return THREADS_CSV


@pytest.fixture(scope="session")
def sample_csv() -> Path:
    path = REPO / "assets" / "sample_reviews.csv"
    assert path.is_file(), "assets/sample_reviews.csv is missing: run python scripts/make_sample.py"
    return path
