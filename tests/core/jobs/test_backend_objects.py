"""Backends as objects: what sets each kind apart lives in core.jobs.backends, and nowhere else does code
test a backend's kind by its name."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from core.choices import BACKEND_KINDS
from core.jobs.backends import BACKENDS, BackendChoice, backend_of, resolve_backend

ROOT = Path(__file__).resolve().parents[3]
# `kind == "local"`, `backend != "azure"`, `kind in ("openai", "azure")` and the like
BY_NAME = re.compile(r'''(==|!=|\bin)\s*\(?\s*["'](local|openai|azure|compatible)["']''')


def test_every_kind_the_flags_offer_has_its_object():
    assert tuple(BACKENDS) == BACKEND_KINDS
    assert all(BACKENDS[kind].kind == kind for kind in BACKEND_KINDS)


def test_only_the_backends_module_tells_kinds_apart_by_name():
    found = []
    for path in sorted([*(ROOT / "core").rglob("*.py"), *(ROOT / "tui").rglob("*.py")]):
        if path == ROOT / "core" / "jobs" / "backends.py":
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if BY_NAME.search(line.split("#", 1)[0]):
                found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not found, "ask the backend object instead:\n" + "\n".join(found)


def test_the_local_backend_trains_here_for_nothing_and_is_followed_polled_fast_and_batched():
    local = BACKENDS["local"]
    assert local.trains_here and local.follows_by_default and local.batches_by_default
    assert not local.bills_by_token and not local.takes_url
    assert local.poll_intervals().running < BACKENDS["openai"].poll_intervals().running
    assert local.eval_poll_max < BACKENDS["openai"].eval_poll_max


@pytest.mark.parametrize("kind", ["openai", "azure", "compatible"])
def test_the_backends_elsewhere_train_there_and_take_a_url(kind):
    backend = BACKENDS[kind]
    assert not backend.trains_here and not backend.follows_by_default and not backend.batches_by_default
    assert backend.bills_by_token and backend.takes_url


def test_openai_and_azure_halve_a_batch_and_retire_their_fine_tunes_differently():
    assert BACKENDS["openai"].batch_discount == BACKENDS["azure"].batch_discount == 0.5
    assert BACKENDS["compatible"].batch_discount == BACKENDS["local"].batch_discount == 1.0
    assert BACKENDS["openai"].retires_by_table and not BACKENDS["azure"].retires_by_table


def test_a_registry_key_names_its_backend_and_an_unknown_one_none():
    assert backend_of("local") is BACKENDS["local"]
    assert backend_of("azure:https://x.openai.azure.com") is BACKENDS["azure"]
    assert backend_of("") is None and backend_of(None) is None and backend_of("mistral") is None


def test_the_local_backend_takes_no_url_so_its_key_stays_local():
    choice = resolve_backend("local", "http://127.0.0.1:9")
    assert choice == BackendChoice("local") and choice.key == "local"


def test_each_backend_says_what_it_lacks(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    assert BACKENDS["openai"].missing(None) == ["OPENAI_API_KEY"]
    assert BACKENDS["azure"].missing(None) == ["AZURE_OPENAI_API_KEY", "AZURE_OPENAI_ENDPOINT"]
    assert BACKENDS["compatible"].missing(None) == ["a base URL"]
    assert BACKENDS["local"].missing(None) == []
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-0123456789abcdef")
    assert BACKENDS["openai"].missing(None) == []
    assert "sk-test-0123456789abcdef" not in BACKENDS["openai"].describe(None)   # masked
