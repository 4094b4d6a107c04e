"""A job's result files: downloaded, decoded (base64 or plain CSV), saved beside the run, parsed."""

from __future__ import annotations

import base64
import binascii
import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

from core.errors import BackendError


@dataclass
class ResultTable:
    columns: list[str]
    rows: list[dict[str, float | None]]
    path: Path | None = None
    file_ids: list[str] = field(default_factory=list)

    def column(self, name: str) -> tuple[list[float], list[float]]:
        pairs = [(r["step"], r[name]) for r in self.rows if r.get(name) is not None and r.get("step") is not None]
        return [p[0] for p in pairs], [p[1] for p in pairs]

    def to_dict(self) -> dict:
        return {"columns": self.columns, "rows": self.rows, "path": str(self.path) if self.path else None,
                "file_ids": self.file_ids}


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
