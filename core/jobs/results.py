"""A job's result files: downloaded, decoded (base64 or plain CSV), saved beside the run, parsed."""

from __future__ import annotations

import base64
import binascii
import csv
import io
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from core.errors import BackendError

METRICS = ("train_loss", "valid_loss", "train_accuracy", "valid_mean_token_accuracy")
END_WINDOW = 10  # reported steps averaged for a train metric's end value


@dataclass
class ResultTable:
    columns: list[str]
    rows: list[dict[str, float | None]]
    path: Path | None = None
    file_ids: list[str] = field(default_factory=list)

    def column(self, name: str) -> tuple[list[float], list[float]]:
        pairs = [(step, value) for r in self.rows
                 if (value := r.get(name)) is not None and (step := r.get("step")) is not None]
        return [p[0] for p in pairs], [p[1] for p in pairs]

    @property
    def steps(self) -> int:
        """The job's step count: its last step (the last step is always reported, others may be
        thinned out), not the number of rows."""
        return int(max((step for r in self.rows if (step := r.get("step")) is not None), default=0))

    @property
    def end_window(self) -> int:
        """How many of the last reported steps the train metrics' end value is the median of."""
        return max(1, min(END_WINDOW, len(self.rows) // 4))

    def summary(self) -> dict[str, dict[str, float]]:
        """first, end and best of each metric. A train value is one batch's, and an epoch's last
        batch may hold 2 examples (accuracy 0 or 1): its end value is the median of the last
        ``end_window`` reported steps. Validation values are already means over many examples."""
        out = {}
        for name in METRICS:
            if name not in self.columns:
                continue
            _, values = self.column(name)
            if not values:
                continue
            tail = values[-self.end_window:] if name.startswith("train") else values[-1:]
            out[name] = {"first": values[0], "end": statistics.median(tail),
                         "best": max(values) if "accuracy" in name else min(values)}
        return out

    def to_dict(self) -> dict:
        return {"columns": self.columns, "rows": self.rows, "path": str(self.path) if self.path else None,
                "file_ids": self.file_ids, "steps": self.steps, "reported_steps": len(self.rows),
                "end_window": self.end_window, "summary": self.summary()}


def decode_result(content: bytes) -> str:
    """OpenAI served result CSVs base64-encoded for a while, plain before and since: take both."""
    stripped = content.strip()
    if stripped[:4].lower() == b"step":
        return stripped.decode("utf-8")
    try:
        decoded = base64.b64decode(stripped, validate=True)
    except (binascii.Error, ValueError):
        raise BackendError("the result file is neither CSV nor base64-encoded CSV") from None
    text = decoded.decode("utf-8", errors="replace")
    if not text.lstrip().lower().startswith("step"):
        raise BackendError("the result file decoded from base64 is not a metrics CSV")
    return text


def parse_result_csv(text: str) -> ResultTable:
    reader = csv.DictReader(io.StringIO(text))
    columns = list(reader.fieldnames or [])
    rows = []
    for raw in reader:
        row: dict[str, float | None] = {}
        for key, value in raw.items():
            value = (value or "").strip()
            try:
                row[key] = float(value) if value else None
            except ValueError:
                row[key] = None
        rows.append(row)
    return ResultTable(columns, rows)


async def download_results(client, job: dict, save_to: Path | None = None) -> ResultTable:
    from core.atomic import write_text

    file_ids = list(job.get("result_files") or [])
    if not file_ids:
        raise BackendError(f"job {job['id']} has no result file yet (status {job.get('status')})")
    texts = []
    for file_id in file_ids:
        response = await client.files.content(file_id)
        texts.append(decode_result(response.content))
    text = texts[0]  # OpenAI lists one result file per job
    table = parse_result_csv(text)
    table.file_ids = file_ids
    if save_to is not None:
        write_text(save_to, text)
        table.path = save_to
    return table


async def download_and_record(client, registry, run_id: str, job: dict, save_to: Path | None = None) -> ResultTable:
    """The one way a front end gets a run's results: the CSV saved beside the run (or at ``save_to``),
    and the registry told where it is (and the job as it was when fetched, when given)."""
    from core.paths import runs_dir

    target = save_to or runs_dir() / run_id / "results.csv"
    table = await download_results(client, job, save_to=target)
    registry.update_run(run_id, job, results_csv=str(target))
    return table
