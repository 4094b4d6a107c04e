"""The house rules a tool can check, held by the test command (so by CI): ruff's small rule set on the
code and the tests, and mypy on core, both configured in pyproject.toml."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(args: list[str], timeout: int) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def test_ruff_finds_nothing():
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    if ruff is None:
        pytest.fail("ruff is not installed: pip install -e '.[test]'")
    out = _run([ruff, "check", "--no-cache", "core", "tui", "tests", "benchmarks", "scripts"], 120)
    assert out.returncode == 0, out.stdout + out.stderr


def test_ruff_sees_a_defect(tmp_path):
    """The rule set is live: an unused import and an undefined name are reported."""
    bad = tmp_path / "bad.py"
    bad.write_text("import os\n\n\ndef f():\n    return undefined_name\n")
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    out = _run([ruff, "check", "--no-cache", "--config", str(ROOT / "pyproject.toml"), str(bad)], 60)
    assert out.returncode == 1 and "F401" in out.stdout and "F821" in out.stdout


@pytest.mark.slow
def test_mypy_passes_on_core(tmp_path):
    out = _run([sys.executable, "-m", "mypy", "--cache-dir", str(tmp_path / "cache")], 600)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    assert "no issues found" in out.stdout
