"""The import-linter contracts in pyproject.toml (core headless, the backend at the bottom, rich only in
the command line) hold, checked on every test run as CI runs the tests."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ("import sys; from importlinter.cli import lint_imports; "
          "sys.exit(lint_imports(config_filename=sys.argv[1], no_cache=True, no_logo=True))")


def _lint(config: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", SCRIPT, str(config)], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)


def test_import_contracts_are_kept():
    out = _lint(ROOT / "pyproject.toml")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "0 broken" in out.stdout


def test_a_broken_contract_fails(tmp_path):
    """The linter sees the real graph: rich is imported by the command line, so forbidding it there breaks."""
    config = tmp_path / "contracts.toml"
    config.write_text('[tool.importlinter]\nroot_packages = ["core"]\ninclude_external_packages = true\n\n'
                      '[[tool.importlinter.contracts]]\nname = "no rich anywhere"\ntype = "forbidden"\n'
                      'source_modules = ["core.cli"]\nforbidden_modules = ["rich"]\n')
    out = _lint(config)
    assert out.returncode == 1
    assert "core.cli.console -> rich" in out.stdout
