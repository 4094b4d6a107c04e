"""Issue 12: warnings say what a build did that was not asked for, no warning for the default,
80-column output never cuts ids, numbers read the same everywhere."""

from __future__ import annotations

import csv
import io

import orjson
from rich.console import Console


def _console(width: int = 80) -> tuple[Console, io.StringIO]:
    buf = io.StringIO()
    return Console(file=buf, width=width, highlight=False, color_system=None), buf


def test_samples_above_what_is_available_are_warned_and_recorded(run_cli, sample_csv, tmp_path):
    result = run_cli("prepare", sample_csv, "--out", tmp_path / "b", "--samples", "train=50000,val=20,test=20",
                     "--json")
    assert result.exit_code == 0
    manifest = orjson.loads(result.stdout)["manifest"]
    train = manifest["splits"]["train"]["examples"]
    assert train < 50_000
    assert manifest["samples"] == {"train": {"requested": 50_000, "written": train},
                                   "val": {"requested": 20, "written": 20}, "test": {"requested": 20, "written": 20}}
    warning = f"--samples asked for train=50,000 but only {train:,} usable examples were available"
    assert f"warning: {warning}" in " ".join(result.stderr.split())
    assert manifest["warnings"][0].startswith(warning)
    on_disk = orjson.loads((tmp_path / "b" / "manifest.json").read_bytes())
    assert on_disk["samples"] == manifest["samples"]


def test_many_unusable_rows_are_warned_with_the_column_that_looks_like_the_label(run_cli, tmp_path):
    path = tmp_path / "reviews.csv"
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["review", "useful", "stars"])
        for i in range(100):
            writer.writerow([f"review number {i}", str(1 + i % 5) if i % 10 < 6 else "yes", str(1 + i % 5)])
    result = run_cli("prepare", path, "--out", tmp_path / "b", "--label-column", "useful")
    assert result.exit_code == 0
    err = " ".join(result.stderr.split())
    assert ("warning: 40 of 100 rows (40.0%) were dropped as unusable (non numeric label 40); label column 'useful', "
            "labels 1,2,3,4,5; column 'stars' looks like the label (100% of its values are valid): "
            "check --label-column and --labels") in err
    quiet = run_cli("prepare", path, "--out", tmp_path / "c")
    assert quiet.exit_code == 0 and "dropped as unusable" not in quiet.stderr


def test_no_system_message_warning_for_the_default(run_cli, sample_csv, tmp_path):
    plain = run_cli("prepare", sample_csv, "--out", tmp_path / "a", "--samples", "train=50,val=10,test=10")
    assert plain.exit_code == 0 and "no system message" not in plain.output
    data = orjson.loads(run_cli("prepare", sample_csv, "--out", tmp_path / "b", "--samples",
                                "train=50,val=10,test=10", "--json").stdout)
    assert not any("system message" in w for r in data["validation"].values() for w in r["warnings"])


def test_broken_separator_escape_is_one_line(run_cli, sample_csv, tmp_path):
    result = run_cli("prepare", sample_csv, "--out", tmp_path / "b", "--format", "completion", "--separator", "\\x")
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        "startune: error: --separator '\\\\x': invalid backslash escape (truncated \\xXX escape) "
        "(use \\n, \\t, \\xNN or \\\\ for a backslash)"]


def test_evaluation_table_fits_80_columns_with_whole_ids():
    from core.cli.reports import render_evaluations
    from core.evaluate.metrics import compute_metrics
    from core.evaluate.runner import EvalReport

    labels = ["1", "2", "3", "4", "5"]
    truth = labels * 20
    answers = [t if i % 3 else "3" for i, t in enumerate(truth)]
    metrics = compute_metrics(truth, answers, labels, bootstrap=200)
    models = ["ft:gpt-4o-mini-2024-07-18:personal-research-org:threads-stars:AbCdEf12",
              "ft:gpt-4o-mini-2024-07-18:personal-research-org:threads-stars:ckpt-step-1431"]
    console, buf = _console(80)
    render_evaluations(console, [EvalReport(m, "runs/build/test.jsonl", metrics) for m in models])
    out = buf.getvalue()
    assert all(len(line) <= 80 for line in out.splitlines()), out
    assert all(any(m in line for line in out.splitlines()) for m in models)
    ci = metrics["ci95"]["accuracy"]
    assert f"{100 * ci[0]:.1f}%-{100 * ci[1]:.1f}%" in out and "…" not in out


def test_live_status_line_stays_one_line_at_80_columns():
    from core.cli.job_common import status_text
    from core.jobs.series import MetricSeries

    series = MetricSeries()
    series.add({"type": "metrics", "data": {"step": 1200, "total_steps": 14310, "train_loss": 0.51234,
                                            "valid_loss": 0.61234, "valid_mean_token_accuracy": 0.59}})
    console, buf = _console(80)
    console.print(status_text({"status": "validating_files"}, series, 1234.0, console.width))
    lines = buf.getvalue().splitlines()
    assert len(lines) == 1 and len(lines[0]) <= 80
    assert lines[0].startswith("validating_files · step 1,200/14,310 · train loss 0.512")


def test_result_summary_counts_steps_and_ignores_a_leftover_batch():
    from core.cli.reports import render_results
    from core.jobs.results import parse_result_csv

    rows = ["step,train_loss,train_accuracy,valid_loss,valid_mean_token_accuracy"]
    rows += [f"{s},0.5,0.8,0.6,0.75" for s in range(2, 1431, 2)]
    rows.append("1431,2.5,0.0,0.6,0.75")  # an epoch's last batch of 2 examples
    table = parse_result_csv("\n".join(rows) + "\n")
    assert table.steps == 1431 and len(table.rows) == 716
    summary = table.summary()
    assert summary["train_accuracy"]["end"] > 0.7 and summary["train_loss"]["end"] < 0.7
    assert summary["valid_mean_token_accuracy"]["end"] == 0.75
    table.path = "results.csv"
    console, buf = _console(80)
    render_results(console, {"id": "ftjob-x", "status": "succeeded", "fine_tuned_model": "ft:m"}, table, [])
    out = " ".join(buf.getvalue().split())
    assert "(1,431 steps, 716 of them reported)" in out
    assert "│ train_accuracy │ 80.0% │ 80.0% │ 80.0% │" in out
