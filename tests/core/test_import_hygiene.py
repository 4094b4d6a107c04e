"""core/ stays headless: importing every core module loads no UI library."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import core

FORBIDDEN = ("textual", "plotext", "tui", "textual_plotext")


def _core_modules() -> list[str]:
    root = Path(core.__file__).parent
    names = ["core"]
    for info in pkgutil.walk_packages([str(root)], prefix="core."):
        names.append(info.name)
    return names


def test_core_modules_are_found():
    names = _core_modules()
    assert "core.errors" in names and "core.cli" in names


def test_every_core_file_is_a_module_the_walk_finds():
    """A folder without __init__.py is skipped by the walk (and by packaging): every .py file counts."""
    root = Path(core.__file__).parent
    files = {".".join(("core", *p.relative_to(root).with_suffix("").parts)).removesuffix(".__init__")
             for p in root.rglob("*.py")}
    assert files - set(_core_modules()) == set()


def test_importing_all_of_core_loads_no_ui():
    script = (
        "import importlib, json, sys\n"
        f"names = {_core_modules()!r}\n"
        "for n in names:\n"
        "    if n.endswith('__main__'): continue\n"
        "    importlib.import_module(n)\n"
        f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r})\n"
        "print(json.dumps(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
