"""Ids, names and paths printed as plain text (issue 25, item 4): a suffix `ok` made the model name
`ft:startune-local:local🆗...`, so the `next: startune evaluate ...` line a user copies failed."""

from __future__ import annotations

import re

import pytest


@pytest.mark.parametrize("suffix", ["ok", "[bold]x", "smile:"], ids=["emoji-code", "markup", "colon"])
def test_run_prints_the_model_name_as_the_backend_gave_it(run_cli, sample_csv, tmp_path, suffix):
    result = run_cli("run", sample_csv, "--backend", "local", "--out", tmp_path / f"b-{suffix}", "--suffix", suffix,
                     "--samples", "train=60,val=20,test=20", "--epochs", "1")
    assert result.exit_code == 0, result.output
    found = re.search(r"next: startune evaluate (\S+) --data (\S+)", result.stdout)
    assert found, result.stdout
    model = found[1]
    assert model.startswith(f"ft:startune-local:local:{suffix}:"), model
    assert "🆗" not in result.output and "😄" not in result.output
    assert found[2].endswith("test.jsonl")
    assert model in run_cli("models", "--json").stdout  # the name a user copies is the backend's
