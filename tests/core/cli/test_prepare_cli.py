from __future__ import annotations

import orjson


def test_inspect_json(run_cli, sample_csv):
    result = run_cli("inspect", sample_csv, "--json", "--page", "2", "--page-size", "5")
    assert result.exit_code == 0
    data = orjson.loads(result.stdout)
    assert data["text_column"] == "review" and data["label_column"] == "star"
    assert data["rows"] == sum(data["label_histogram"].values()) + sum(data["invalid_labels"].values())
    assert [r["#"] for r in data["preview"]] == [6, 7, 8, 9, 10]


def test_prepare_then_validate(run_cli, sample_csv, tmp_path):
    out = tmp_path / "build"
    result = run_cli("prepare", sample_csv, "--out", out, "--samples", "train=200,val=50,test=50",
                     "--balance", "equal", "--order", "sorted", "--system-prompt", "Stars?", "--json")
    assert result.exit_code == 0, result.output
    data = orjson.loads(result.stdout)
    assert data["manifest"]["splits"]["train"]["labels"] == dict.fromkeys("12345", 40)
    assert data["validation"]["train"]["ok"] is True
    checked = run_cli("validate", out / "train.jsonl", "--model", "gpt-4.1-mini", "--json")
    assert checked.exit_code == 0
    assert orjson.loads(checked.stdout)["n_examples"] == 200


def test_validate_exit_code_on_errors(run_cli, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"messages": []}\n' * 12)
    result = run_cli("validate", bad)
    assert result.exit_code == 1
    assert "missing_messages_list" in result.stdout and "x12" in result.stdout


def test_completion_export_says_it_is_legacy(run_cli, sample_csv, tmp_path):
    result = run_cli("prepare", sample_csv, "--out", tmp_path / "b", "--format", "completion")
    assert result.exit_code == 0
    assert "no longer trains babbage-002" in result.output
    line = (tmp_path / "b" / "train.jsonl").read_text(encoding="utf-8").splitlines()[0]
    assert orjson.loads(line)["prompt"].endswith("\n\n###\n\n")
