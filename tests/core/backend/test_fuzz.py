"""Schemathesis, seeded and bounded, against the local backend over real HTTP on 127.0.0.1: every check,
with and without an API key, must find nothing. The long run is benchmarks/fuzz_backend.py."""

from __future__ import annotations

import re

import pytest

from tests.core.backend.fuzzing import IMPLEMENTED, run_schemathesis, write_spec
from tests.fixtures.backend import ServerThread

SEED = 20260101
EXAMPLES = 10  # per operation and phase; the coverage phase adds its own deterministic cases
KEY = "sk-fuzz-0123456789abcdef"


@pytest.mark.parametrize("api_key", [None, KEY], ids=["no-key", "api-key"])
def test_schemathesis_finds_no_failure(tmp_path, api_key):
    from tests.conftest import shared_data_file
    from tests.core.backend.openapi_check import SPEC

    shared_data_file(SPEC)  # OpenAI's spec lives in ../shared: skipped on a fresh clone, required in CI
    spec = write_spec(tmp_path / "fuzz", auth=api_key is not None)
    server = ServerThread(tmp_path / "served", api_key=api_key).start()
    try:
        run = run_schemathesis(spec, server.base_url, max_examples=EXAMPLES, seed=SEED, api_key=api_key,
                               timeout=150)
    finally:
        server.stop()
    out = run.stdout
    report = out[out.find("FAILURES"):] if "FAILURES" in out else out[-4000:]
    assert run.returncode == 0, f"schemathesis exit {run.returncode}:\n{report[:12000]}\n{run.stderr[-2000:]}"
    # a run that tested nothing would pass too: every implemented operation was exercised, thousands of times
    operations = sum(len(methods) for methods in IMPLEMENTED.values())
    assert re.search(rf"Tested: {operations}\b", out), out[-3000:]
    generated = int(re.search(r"(\d+) generated", out).group(1))
    assert generated > 1000, out[-3000:]
