"""What a loaded dataset holds: counts, label histogram, text lengths, and a page-by-page preview."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

from core.data.labels import LabelSet
from core.data.sizes import shown

if TYPE_CHECKING:
    from core.data.load import LoadedDataset


@dataclass
class DatasetSummary:
    source: str
    format: str
    rows: int
    columns: list[str]
    text_column: str
    label_column: str
    label_histogram: dict[str, int]            # every label of the set, in order, then problems
    invalid_labels: dict[str, int]             # reason -> rows
    empty_texts: int
    text_length: dict[str, float] = field(default_factory=dict)  # min, median, mean, p90, p99, max
    long_texts: list[tuple[int, int]] = field(default_factory=list)  # (row, characters) over MAX_TEXT_CHARS

    def to_dict(self) -> dict:
        return asdict(self)


def summarise(ds: LoadedDataset, labels: LabelSet | None = None) -> DatasetSummary:
    labels = labels or LabelSet()
    frame = ds.frame
    norm, reason = labels.normalise_series(frame[ds.label_column])
    counts = norm.value_counts()
    histogram = {v: int(counts.get(v, 0)) for v in labels.values}
    invalid = {str(k): int(v) for k, v in reason.value_counts().items()}
    text = frame[ds.text_column]
    lengths = text.str.len().fillna(0).astype("int64")
    empty = int((text.fillna("").str.strip() == "").sum())
    stats = {}
    if len(lengths):
        q = lengths.quantile([0.5, 0.9, 0.99])
        stats = {
            "min": int(lengths.min()), "median": float(q[0.5]), "mean": round(float(lengths.mean()), 1),
            "p90": float(q[0.9]), "p99": float(q[0.99]), "max": int(lengths.max()),
        }
    from core.data.sizes import long_texts

    return DatasetSummary(
        ds.source, ds.format, len(frame), list(frame.columns), ds.text_column, ds.label_column,
        histogram, invalid, empty, stats, long_texts(text),
    )


class PreviewPager:
    """Pages of rows as dicts, sliced on demand: a page never copies more than its own rows."""

    def __init__(self, ds: LoadedDataset, page_size: int = 50, columns: list[str] | None = None) -> None:
        if page_size < 1:
            raise ValueError("page_size must be positive")
        self.ds = ds
        self.page_size = page_size
        self.columns = columns or [ds.text_column, ds.label_column]

    @property
    def rows(self) -> int:
        return len(self.ds.frame)

    @property
    def n_pages(self) -> int:
        return max(1, -(-self.rows // self.page_size))

    def page(self, n: int) -> list[dict]:
        """Rows of page n (0-based, clamped), each with its 1-based row number under '#'."""
        n = min(max(n, 0), self.n_pages - 1)
        start = n * self.page_size
        part = self.ds.frame.iloc[start : start + self.page_size][self.columns]
        out = []
        for offset, values in enumerate(part.itertuples(index=False, name=None)):
            row: dict[str, object] = {"#": start + offset + 1}
            # a page shows the start of a long text: rendering a 50 MB cell would take minutes
            row.update(zip(self.columns, ("" if v is None else shown(v) for v in values)))
            out.append(row)
        return out
