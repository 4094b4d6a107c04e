"""The environment is read in one place (core.settings), and a key read there never shows itself."""

from __future__ import annotations

import re
from pathlib import Path

CORE = Path(__file__).resolve().parents[2] / "core"


def test_only_the_settings_module_reads_the_environment():
    readers = []
    for path in CORE.rglob("*.py"):
        if path.name == "settings.py" and path.parent == CORE:
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            # setting a library's own variable before it is imported is not reading one of ours
            if re.search(r"os\.environ(?!\.setdefault)|os\.getenv|environ\.get", line):
                readers.append(f"{path.relative_to(CORE)}:{number}: {line.strip()}")
    assert readers == []


def test_keys_are_masked_when_the_settings_are_shown(monkeypatch):
    from core.settings import env

    monkeypatch.setenv("OPENAI_API_KEY", "sk-proj-abcdefghijklmnop1234")
    monkeypatch.setenv("HF_HUB_OFFLINE", "TRUE")
    monkeypatch.setenv("STARTUNE_BACKEND", "")
    settings = env()
    assert "abcdefghijklmnop" not in repr(settings) and "sk-...1234" in repr(settings)
    assert str(settings.openai_api_key) == "sk-proj-abcdefghijklmnop1234"   # the client gets the key itself
    assert settings.hf_hub_offline and settings.startune_backend is None   # empty is unset, as the SDKs read it
    assert settings.keys == ["sk-proj-abcdefghijklmnop1234"]
