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


def test_rich_is_forbidden_everywhere_in_core_but_the_command_line():
    """A new core package or shared module is covered the day it is added, not when someone remembers."""
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    plain = next(set(c["source_modules"]) for c in config if c.get("forbidden_modules") == ["rich"])
    core = ROOT / "core"
    expected = {f"core.{p.name}" for p in core.iterdir() if (p / "__init__.py").is_file()}
    expected |= {f"core.{p.stem}" for p in core.glob("*.py") if p.stem not in ("__init__", "__main__")}
    assert plain == expected - {"core.cli"}
