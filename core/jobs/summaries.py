"""What the Runs and Compare views show of each run: its curves and its newest test accuracy, read from the
registry in a fixed number of queries however many runs there are."""

from __future__ import annotations

from dataclasses import dataclass

from core.jobs.series import MetricSeries


@dataclass
class RunSummary:
    run: dict
    series: MetricSeries
    test_accuracy: float | None     # the newest full evaluation's (else a partial one's), None when never evaluated
    test_partial: int | None = None  # examples scored when that evaluation was partial (evaluate --limit)


def run_summaries(registry, run_ids: list[str] | None = None) -> list[RunSummary]:
    """Every run (newest first), or the runs named, in the order named (unknown ids are skipped)."""
    if run_ids is None:
        runs = registry.list_runs()
    else:
        runs = [run for run in map(registry.get_run, run_ids) if run is not None]
    ids = [run["id"] for run in runs]
    events = registry.events_of_runs(ids)
    reports = registry.latest_evaluations(ids)
    out = []
    for run in runs:
        report = reports.get(run["id"], {})
        out.append(RunSummary(run, MetricSeries.from_events(events[run["id"]]), report.get("accuracy"),
                              report.get("n") if report.get("partial") else None))
    return out
